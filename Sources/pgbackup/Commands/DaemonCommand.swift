import ArgumentParser
import Dispatch
import Foundation
import PGBackupServices
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

struct DaemonCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "daemon",
        abstract: "Run the sidecar: stream WAL from the primary into the repository.",
        discussion: """
            Connects to the primary over the replication protocol (PGBACKUP_CONNINFO), creates the \
            physical replication slot (PGBACKUP_SLOT, default pgbackup) when missing, and streams \
            WAL into the local spool (PGBACKUP_SPOOL), then into the repository, segment by \
            segment, compressed and checksummed. The segment being written is stored too, every \
            --partial-interval seconds and whenever the stream goes quiet (at most once a second).

            The slot advances only past WAL that the repository holds: standby status updates \
            report *write* for WAL fsync'd in the spool and *flush* for WAL stored in the \
            repository. For RPO 0, list the daemon's application_name (default pgbackup) in the \
            primary's synchronous_standby_names with synchronous_commit = remote_write, and pass \
            --synchronous.

            Streams only from a primary: every server of a multi-host PGBACKUP_CONNINFO is asked, \
            standbys and other clusters are skipped, of two primaries the newer timeline wins (a \
            split brain is logged as an ALERT), and a primary on a newer timeline found while \
            streaming is followed at once. A recorded WAL gap starts a base backup at once. \
            Lost connections are retried with capped backoff; timeline switches are followed. \
            SIGTERM or SIGINT: the partial segment is stored, a final status is sent, exit 0.
            """
    )

    @OptionGroup var global: GlobalOptions

    @Option(help: ArgumentHelp("Local spool directory (default: $PGBACKUP_SPOOL, then /var/lib/pgbackup/spool).", valueName: "dir"))
    var spool: String?

    @Option(help: ArgumentHelp("Seconds between standby status updates.", valueName: "seconds"))
    var statusInterval: Double = 10

    @Option(help: ArgumentHelp("Seconds between uploads of the segment being written while WAL keeps coming (it is also stored once the stream goes quiet); 0: only on a graceful stop.", valueName: "seconds"))
    var partialInterval: Double = 10

    @Option(help: ArgumentHelp("Seconds between surveys of the conninfo's other servers while streaming (a primary on a newer timeline is followed at once).", valueName: "seconds"))
    var resurveyInterval: Double = 10

    @Flag(help: "Report each fsync of the spool at once (for synchronous_standby_names).")
    var synchronous = false

    func validate() throws {
        guard statusInterval > 0, partialInterval >= 0, resurveyInterval > 0 else {
            throw ValidationError("--status-interval and --resurvey-interval must be positive and --partial-interval not negative")
        }
    }

    func run() async throws {
        var settings = try global.settings()
        try settings.refuseUnimplementedSchedule()
        if let spool { settings.spoolDirectory = spool }
        let logger = global.logger(for: settings, label: "daemon")
        var options = WALStreamerOptions(spoolDirectory: settings.spoolDirectory)
        options.statusInterval = .milliseconds(Int(statusInterval * 1000))
        options.partialUploadInterval = partialInterval > 0 ? .milliseconds(Int(partialInterval * 1000)) : nil
        options.synchronous = synchronous
        options.resurveyInterval = .milliseconds(Int(resurveyInterval * 1000))
        // A recorded WAL gap: a base backup at once, from the primary the streamer chose.
        let server = Mutex<WALStreamer?>(nil)
        let backupAfterGap = BackupAfterGap(settings: settings, logger: logger) { server.withLock { $0?.streamingServer } }
        options.onGapRecorded = { backupAfterGap.request(after: $0) }
        let streamer = WALStreamer(settings: settings, options: options, logger: logger)
        server.withLock { $0 = streamer }

        // SIGTERM/SIGINT ask for a graceful stop instead of killing the process.
        let signals = onTerminationSignals { number in
            logger.info("stopping: signal \(number) received")
            streamer.requestStop()
            backupAfterGap.stop()
        }
        defer { signals.forEach { $0.cancel() } }
        logger.info("pgbackup daemon starting", metadata: ["server": "\(settings.server)", "repository": "\(settings.repository?.description ?? "-")"])
        async let swept: Void = TemporaryFileSweep.run(settings, logger: logger)
        do {
            try await streamer.run()
        } catch {
            backupAfterGap.stop()
            await backupAfterGap.waitUntilIdle()
            throw error
        }
        await backupAfterGap.waitUntilIdle()
        await swept
    }
}
