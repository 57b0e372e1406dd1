import PGBackupFoundations

/// How a chunk's content digest becomes the name it is stored under (`BackupLayout.chunkKey`).
///
/// - `.contentDigest` (plaintext repositories): the name is the content's SHA-256.
/// - `.keyed` (encrypted repositories): the name is HMAC-SHA-256 of the content's SHA-256 under a
///   key derived from the repository's data key (`Repository.chunkNameKeyPurpose`): a keyed PRF of
///   the content, so names reveal nothing about the data (no "is this known file in the
///   backup?" by hashing it) while equal content still gets equal names (deduplication).
///
/// Manifests keep each chunk's SHA-256 (they are encrypted themselves); the name is computed on
/// use, never stored.
public enum ChunkNaming: Sendable, CustomStringConvertible {
    case contentDigest
    case keyed(EncryptionKey)

    /// The name of the chunk whose content has this SHA-256.
    public func name(of sha256: SHA256Digest) -> SHA256Digest {
        switch self {
        case .contentDigest: sha256
        case .keyed(let key): key.authenticationCode(of: sha256.bytes)
        }
    }

    public var description: String {
        switch self {
        case .contentDigest: "content digest (SHA-256)"
        case .keyed: "keyed (HMAC-SHA-256)"
        }
    }
}
