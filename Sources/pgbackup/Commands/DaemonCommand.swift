import ArgumentParser
import Foundation
import PGBackupDaemon
import PGBackupServices

#if canImport(Glibc)
import Glibc
#endif

struct DaemonCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "daemon",
        abstract: "Run the sidecar: stream WAL from the primary into the repository, take scheduled backups, apply retention, verify restores.",
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

            The policy's schedule (PGBACKUP_POLICY; `schedule: {backup, verify_restore}`, 5-field \
            cron in UTC or `every <duration>`) drives base backups from the primary the daemon \
            streams from, retention after each successful scheduled backup, and verify-restore of \
            the latest point (as root, PostgreSQL runs as verify_run_as / PGBACKUP_VERIFY_RUN_AS). \
            A job never overlaps with itself: a slot that comes while its previous run still goes \
            is skipped (logged); a failed job is logged, counted, and runs at its next slot. Each \
            job logs one event when it starts and one when it ends (event=job_start|job_end, job, \
            outcome, duration_seconds, stored_bytes, backup_id, next_run). On SIGTERM no new job \
            starts and a running one gets --shutdown-grace seconds to finish before it is \
            abandoned (an abandoned backup is never listed; the next backup removes its leftovers).

            SIGHUP reloads the configuration file, the environment's settings and the policy: a \
            bad one is refused (logged) and the previous one stays in force; a good one replaces \
            the schedules, the retention rules and the verification settings. The repository, \
            server, conninfo, slot, compression, S3, spool and HTTP settings take effect only \
            after a restart.

            With PGBACKUP_HTTP (`http:`, host:port) it serves /live, /ready (WAL streams from a \
            primary), /health (check --json's body from the last round of checks, every \
            --check-interval seconds, plus the daemon's live state; 200 or 503), /status (JSON) and \
            /metrics (Prometheus). Past the policy's alerts.slot_retained_max the log says what to \
            do, and with alerts.slot_retained_drop: true the daemon drops its slot.
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

    @Option(help: ArgumentHelp("Seconds a running scheduled job (a backup) may take to finish after SIGTERM before it is abandoned.", valueName: "seconds"))
    var shutdownGrace: Double = 5

    @Option(help: ArgumentHelp("Limit the server's sending rate during scheduled backups, in kB/s (32 to 1048576), to spare its disks.", valueName: "kB/s"))
    var backupMaxRate: Int?
    @Option(help: ArgumentHelp("Seconds between the daemon's health rounds: the slot's retained WAL (alerts.slot_retained_max) and, with the HTTP endpoint, the checks /health serves (at most this plus one round old).", valueName: "seconds"))
    var checkInterval: Double = 15

    @Flag(help: "Report each fsync of the spool at once (for synchronous_standby_names).")
    var synchronous = false

    func validate() throws {
        guard statusInterval > 0, partialInterval >= 0, resurveyInterval > 0, checkInterval > 0 else {
            throw ValidationError("--status-interval, --resurvey-interval and --check-interval must be positive and --partial-interval not negative")
        }
        guard shutdownGrace >= 0 && shutdownGrace <= 3600 else { throw ValidationError("--shutdown-grace must be between 0 and 3600 seconds") }
        if let backupMaxRate, !BackupOptions.maxRateRange.contains(backupMaxRate) {
            throw ValidationError("--backup-max-rate must be between \(BackupOptions.maxRateRange.lowerBound) and \(BackupOptions.maxRateRange.upperBound) kB/s, not \(backupMaxRate)")
        }
    }

    func run() async throws {
        var settings = try global.settings()
        if let spool { settings.spoolDirectory = spool }
        let logger = global.logger(for: settings, label: "daemon")
        var options = WALStreamerOptions(spoolDirectory: settings.spoolDirectory)
        options.statusInterval = .milliseconds(Int(statusInterval * 1000))
        options.partialUploadInterval = partialInterval > 0 ? .milliseconds(Int(partialInterval * 1000)) : nil
        options.synchronous = synchronous
        options.resurveyInterval = .milliseconds(Int(resurveyInterval * 1000))
        var daemon = Daemon(
            settings: settings, streamerOptions: options, logger: logger, checkInterval: .milliseconds(Int(checkInterval * 1000)))
        // SIGHUP reads the same sources again: the configuration file and the environment.
        daemon.reload = { [global, spool] in
            var settings = try global.settings()
            if let spool { settings.spoolDirectory = spool }
            return settings
        }
        daemon.shutdownGrace = .milliseconds(Int(shutdownGrace * 1000))
        daemon.backupOptions.maxRateKilobytesPerSecond = backupMaxRate
        daemon.executable = RestoreCommand.executable
        try await daemon.run()
    }
}
