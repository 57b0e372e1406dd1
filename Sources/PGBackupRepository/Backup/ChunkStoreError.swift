import PGBackupFoundations

/// Why a chunk could not be stored or fetched. Damaged objects are `SealError`s naming the key.
public enum ChunkStoreError: Error, Sendable, Hashable, CustomStringConvertible {
    /// No stored object holds the chunk, in any compression.
    case missing(sha256: SHA256Digest, location: String)
    /// The object verifies against its own seal, but its content is not the chunk its key names
    /// (a chunk stored under the wrong key, or an object swapped for another).
    case contentMismatch(key: String, content: SHA256Digest)
    /// The object holds the chunk's content with another length than the manifest records.
    case sizeMismatch(key: String, expected: Int64, actual: Int64)
    /// A chunk larger than the store accepts (`ChunkStore.maximumChunkSize`).
    case tooLarge(size: Int, limit: Int)

    public var description: String {
        let hint = "\nHINT: `pgbackup verify` checks every object of the repository; a backup that needs this chunk cannot be restored from this repository"
        switch self {
        case let .missing(sha256, location):
            return "unable to fetch chunk '\(sha256)' from \(location): no stored object holds it" + hint
        case let .contentMismatch(key, content):
            return "unable to verify '\(key)': its content hashes to \(content), not to the SHA-256 its key names" + hint
        case let .sizeMismatch(key, expected, actual):
            return "unable to verify '\(key)': it holds \(actual) bytes, the backup records \(expected)" + hint
        case let .tooLarge(size, limit):
            return "unable to store a chunk of \(size) bytes: chunks are at most \(limit) bytes"
        }
    }
}
