import PGBackupFoundations

/// A chunk in the chunk store, as `ChunkStore.store` reports it.
public struct ChunkRef: Sendable, Hashable, Codable {
    /// SHA-256 of the uncompressed content: the chunk's key.
    public var sha256: SHA256Digest
    /// Length of the uncompressed content in bytes.
    public var size: Int64
    /// Bytes the stored object takes (compressed, with its seal), whether written now or before.
    public var storedSize: Int64
    /// How the stored object is compressed (its key's extension).
    public var algorithm: CompressionAlgorithm
    /// Whether this call uploaded it; false when the chunk was stored already (deduplicated).
    public var new: Bool

    public init(sha256: SHA256Digest, size: Int64, storedSize: Int64, algorithm: CompressionAlgorithm, new: Bool) {
        self.sha256 = sha256
        self.size = size
        self.storedSize = storedSize
        self.algorithm = algorithm
        self.new = new
    }
}
