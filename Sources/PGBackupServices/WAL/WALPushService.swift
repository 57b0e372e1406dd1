import Foundation
import Logging
import PGBackupRepository

#if canImport(Glibc)
import Glibc
#endif

/// `pgbackup wal-push PATH`: archives one file of `pg_wal` (`archive_command = 'pgbackup wal-push %p'`).
///
/// Succeeds when the file is stored, or when the identical file was archived before (PostgreSQL
/// retries an archive_command whose success it did not see). A file that conflicts with the
/// archive's history (different content under an archived name, or a segment past its
/// timeline's switch point: a former primary archiving after a failover) is kept apart under
/// `wal/diverged/` with a record naming this host and data directory, one error line goes to the
/// server's log, and the push succeeds: the WAL is preserved, and the former primary's `pg_wal`
/// does not fill its disk with files PostgreSQL would retry forever.
public struct WALPushService: Sendable {
    public let settings: Settings
    public let logger: Logger

    public init(settings: Settings, logger: Logger) {
        self.settings = settings
        self.logger = logger
    }

    /// Archives the file at `path` (absolute, or relative to the working directory, which for
    /// `archive_command` is the data directory) under its file name. `source`: who offers it, as
    /// a diverged file's record says (default: this host and working directory).
    public func run(path: String, source: String = WALPushService.source()) async throws -> WALStoreOutcome {
        let archive = try await WALArchiveAccess.open(settings)
        let name = String(path.split(separator: "/", omittingEmptySubsequences: true).last ?? Substring(path))
        let outcome = try await archive.storeFile(named: name, contentsOf: path, source: source)
        switch outcome {
        case let .stored(key, size, storedSize, sha256):
            logger.debug("archived", metadata: [
                "file": "\(name)", "key": "\(key)", "size": "\(size)", "stored_size": "\(storedSize)", "sha256": "\(sha256)",
            ])
        case .alreadyArchived(let key):
            logger.info("already archived with identical content", metadata: ["file": "\(name)", "key": "\(key)"])
        case let .diverged(key, record):
            logger.error("\(Self.divergedLine(name: name, key: key, record: record))")
        }
        return outcome
    }

    /// The one line the server's log gets for a file kept apart.
    static func divergedLine(name: String, key: String, record: DivergedWAL) -> String {
        "'\(name)' conflicts with the repository's WAL history and was kept apart as '\(key)', "
            + "not archived under its name: \(record.reason); the file is preserved there. "
            + "HINT: a former primary archived WAL after a failover: fence it, then rejoin it with `pgbackup follow`"
    }

    /// "wal-push on host H from data directory D" (the working directory: `archive_command` runs
    /// in the data directory).
    public static func source() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        let host = gethostname(&buffer, buffer.count - 1) == 0
            ? String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) : "unknown"
        return "wal-push on host \(host) from data directory \(FileManager.default.currentDirectoryPath)"
    }
}
