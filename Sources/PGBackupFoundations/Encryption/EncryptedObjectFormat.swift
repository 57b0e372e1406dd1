/// How pgbackup encrypts one stored object (DESIGN.md, "Encryption"): after compression and
/// sealing, the stored bytes are AES-256-GCM in authenticated frames.
///
/// ## Format (version 1)
///
/// A 52-byte **header**, then the **frames**:
///
/// | offset | size | content |
/// | --- | --- | --- |
/// | 0 | 6 | the tag `50 47 42 45 4E 43`: ASCII `PGBENC` |
/// | 6 | 1 | the format version, 1 |
/// | 7 | 1 | log2 of the frame size: 16 (64 KiB) |
/// | 8 | 32 | salt: random per object |
/// | 40 | 12 | nonce base: random per object |
///
/// Each frame is the AES-256-GCM ciphertext of `frameSize` plaintext bytes (the last frame:
/// 0 to `frameSize`) followed by its 16-byte tag. Frame `i` is encrypted
/// - under the object key HKDF-SHA-256(data key, salt, "pgbackup object v1"): one key per object,
/// - with the nonce: nonce base XOR (`i` as 8 bytes big-endian at offset 3 ‖ `01` at offset 11
///   when it is the last frame, else `00`),
/// - authenticating the header and the object's key (its name in the store) as associated data.
///
/// So a changed byte, a frame moved or dropped, an object cut short (even at a frame boundary:
/// its new last frame was not sealed as last), and an object stored under another object's name
/// all fail to open. An empty object is the header and one empty last frame (68 bytes).
public enum EncryptedObjectFormat {
    /// `PGBENC`.
    public static let tag: [UInt8] = Array("PGBENC".utf8)
    public static let version: UInt8 = 1
    public static let frameSizeLog2: UInt8 = 16
    /// Plaintext bytes per frame (64 KiB).
    public static let frameSize = 1 << Int(frameSizeLog2)
    public static let saltSize = 32
    public static let nonceSize = 12
    public static let tagSize = 16
    public static let headerSize = tag.count + 2 + saltSize + nonceSize
    /// HKDF's info for the per-object key.
    static let objectKeyPurpose = "pgbackup object v1"

    /// The stored size of an object whose plaintext (the sealed, compressed bytes) has `length` bytes.
    public static func storedSize(plaintextLength length: Int64) -> Int64 {
        let frames = max(1, (length + Int64(frameSize) - 1) / Int64(frameSize))
        return Int64(headerSize) + length + frames * Int64(tagSize)
    }

    /// Frame `index`'s nonce from the object's nonce base.
    static func nonce(base: ArraySlice<UInt8>, index: UInt64, last: Bool) -> [UInt8] {
        var nonce = Array(base)
        for byte in 0..<8 { nonce[3 + byte] ^= UInt8(truncatingIfNeeded: index >> (8 * (7 - UInt64(byte)))) }
        if last { nonce[11] ^= 1 }
        return nonce
    }
}

/// Why an encrypted object did not open. Every case means the stored bytes are not what
/// pgbackup wrote under that name with this repository's key.
public enum DecryptionFailure: Sendable, Hashable, CustomStringConvertible {
    /// The object does not start with a pgbackup encryption header.
    case notEncrypted
    /// A header of a format version this build does not read.
    case unsupportedVersion(UInt8)
    /// The object ends inside its header or in less than a frame's tag.
    case truncated
    /// Frame `index` does not authenticate.
    case frameRejected(index: UInt64)

    public var description: String {
        switch self {
        case .notEncrypted:
            "it is not encrypted (no pgbackup encryption header), in a repository where every object is"
        case .unsupportedVersion(let version):
            "it is encrypted in format version \(version), which this pgbackup does not read"
        case .truncated:
            "the encrypted object is cut short"
        case .frameRejected(let index):
            "encrypted frame \(index) does not authenticate: the object was changed, cut short, reordered, "
                + "or stored under another object's name"
        }
    }
}
