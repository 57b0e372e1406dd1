import Logging
import PGBackupRepository

/// `pgbackup wal-push PATH`: archives one file of `pg_wal` (`archive_command = 'pgbackup wal-push %p'`).
///
/// Succeeds when the file is stored, or when the identical file was archived before (PostgreSQL
/// retries an archive_command whose success it did not see). Fails when a different file of
/// that name is archived (`WALArchiveError.conflict`): PostgreSQL then keeps the file and retries,
/// and the operator sees the message in the server log.
public struct WALPushService: Sendable {
    public let settings: Settings
    public let logger: Logger

    public init(settings: Settings, logger: Logger) {
        self.settings = settings
        self.logger = logger
    }

    /// Archives the file at `path` (absolute, or relative to the working directory, which for
    /// `archive_command` is the data directory) under its file name.
    public func run(path: String) async throws -> WALStoreOutcome {
        let archive = try await WALArchiveAccess.open(settings)
        let name = String(path.split(separator: "/", omittingEmptySubsequences: true).last ?? Substring(path))
        let outcome = try await archive.storeFile(named: name, contentsOf: path)
        switch outcome {
        case let .stored(key, size, storedSize, sha256):
            logger.debug("archived", metadata: [
                "file": "\(name)", "key": "\(key)", "size": "\(size)", "stored_size": "\(storedSize)", "sha256": "\(sha256)",
            ])
        case .alreadyArchived(let key):
            logger.info("already archived with identical content", metadata: ["file": "\(name)", "key": "\(key)"])
        }
        return outcome
    }
}
