import Logging
import PGBackupFoundations
import PGBackupRepository

/// `pgbackup wal-fetch NAME DEST`: restores one WAL-directory file from the archive
/// (`restore_command = 'pgbackup wal-fetch %f %p'`).
///
/// The file arrives verified and atomically (see `WALArchive.fetch`): a damaged object fails
/// and leaves DEST untouched. A file the archive does not hold throws
/// `WALArchiveError.notFound`, which PostgreSQL expects all the time: the command reports it
/// quietly.
public struct WALFetchService: Sendable {
    public let settings: Settings
    public let logger: Logger

    public init(settings: Settings, logger: Logger) {
        self.settings = settings
        self.logger = logger
    }

    /// `systemIdentifier`: fetch from that cluster's history (`WALArchiveAccess.open`).
    public func run(name: String, destination: String, systemIdentifier: SystemIdentifier? = nil) async throws {
        let archive = try await WALArchiveAccess.open(settings, systemIdentifier: systemIdentifier)
        try await archive.fetch(name, to: destination)
        logger.debug("fetched", metadata: ["file": "\(name)", "destination": "\(destination)"])
    }
}
