import ArgumentParser
import Foundation
import PGBackupFoundations
import PGBackupRepository
import PGBackupServices

struct RestoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: "Restore a backup into a data directory, ready to recover to a target.",
        discussion: """
            Chooses the newest backup that can reach the target (for --target-time: the newest \
            that ended before it) and checks that the repository holds every WAL segment from the \
            backup's start to the target along the timeline's history, all before writing \
            anything; a target outside the restorable window is refused with the window named.

            Then writes the backup's files (chunks fetched, verified and written --jobs at a \
            time; global/pg_control last, so a failed restore never starts), and configures \
            recovery in postgresql.auto.conf with restore_command = 'pgbackup wal-fetch …' and the \
            target, plus recovery.signal (standby.signal with --standby). Start the server with \
            pg_ctl start: it replays the archived WAL to the target. The restored server does not \
            archive (archive_mode = off) unless --archive-mode preserve or --standby: a copy must \
            not push its own timeline into the production repository.

            Targets (at most one): --target-time, --target-lsn, --target-xid, --target-name, \
            --target-immediate; none means the end of the archived WAL. Times need a zone \
            ('2026-11-22 10:15:00+00', ISO 8601 'Z' or an offset).
            """
    )

    @OptionGroup var global: GlobalOptions

    @Option(help: ArgumentHelp("The data directory to restore into (absent or empty, unless --delta or --force).", valueName: "dir"))
    var pgdata: String

    @OptionGroup var targetOptions: RestoreTargetOptions

    @Option(help: ArgumentHelp("What the server does at the target: promote (default), pause, shutdown.", valueName: "action"))
    var targetAction: String = "promote"

    @Flag(help: "Make the restored node a standby that streams from the primary after replaying the archive.")
    var standby = false
    @Option(help: ArgumentHelp("The primary for --standby (default: PGBACKUP_CONNINFO without its password; the standby then authenticates with ~/.pgpass, a passfile or a certificate).", valueName: "conninfo"))
    var primaryConninfo: String?

    @Option(help: ArgumentHelp("""
        off: the restored server does not archive (archive_mode = off: a copy must not run the backed-up archive_command into the \
        production repository); preserve: keep the backed-up archive settings (a server that replaces the lost primary and \
        archives with wal-push). Default: off, or preserve with --standby.
        """, valueName: "mode"))
    var archiveMode: String?

    @Option(help: ArgumentHelp("Restore tablespace OID into DIR instead of its original location (repeatable).", valueName: "OID=DIR"))
    var tablespaceMap: [String] = []
    @Option(help: ArgumentHelp("Chunks fetched and written at once (default: the number of cores).", valueName: "n"))
    var jobs: Int?
    @Flag(help: "Update an existing data directory of the same cluster in place, rewriting only what differs (any other directory is refused).")
    var delta = false
    @Flag(help: "Replace the contents of a non-empty target directory (once everything else was checked; never under a running server).")
    var force = false
    @Option(help: ArgumentHelp("Configuration file for the restored server's restore_command (default: the repository settings in effect are written to <pgdata>.pgbackup.yaml, mode 0600).", valueName: "file"))
    var restoreConfig: String?
    @Flag(help: "Show bytes written, rate and time left on standard error (when it is a terminal).")
    var progress = false
    @Flag(help: "Print the result as JSON.")
    var json = false

    func validate() throws {
        guard !(delta && force) else { throw ValidationError("--delta and --force exclude each other") }
        if let jobs, !(1...256).contains(jobs) { throw ValidationError("--jobs must be between 1 and 256, not \(jobs)") }
        guard RestoreTargetAction(rawValue: targetAction) != nil else {
            throw ValidationError("--target-action must be promote, pause or shutdown, not '\(targetAction)'")
        }
        if let archiveMode, RestoreArchiveMode(rawValue: archiveMode) == nil {
            throw ValidationError("--archive-mode must be off or preserve, not '\(archiveMode)'")
        }
        guard primaryConninfo == nil || standby else { throw ValidationError("--primary-conninfo goes with --standby") }
    }

    func run() async throws {
        let settings = try global.settings()
        let logger = global.logger(for: settings, label: "restore")
        var options = RestoreOptions(dataDirectory: absolute(pgdata), executable: Self.executable)
        options.target = try targetOptions.target()
        options.timeline = try targetOptions.timeline()
        options.action = RestoreTargetAction(rawValue: targetAction)!
        options.exclusive = targetOptions.targetExclusive
        options.backupID = try targetOptions.backupID()
        for mapping in tablespaceMap {
            let parts = mapping.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, let oid = UInt32(parts[0]), parts[1].hasPrefix("/") else {
                throw ValidationError("--tablespace-map takes OID=/absolute/dir, not '\(mapping)'")
            }
            options.tablespaceMap[oid] = parts[1]
        }
        if let jobs { options.jobs = jobs }
        options.delta = delta
        options.force = force
        options.archiveMode = archiveMode.flatMap(RestoreArchiveMode.init(rawValue:))
        if standby {
            if let primaryConninfo {
                options.primaryConninfo = primaryConninfo
            } else {
                // pgbackup's own password must not land in postgresql.auto.conf, which every
                // later backup of the node would store.
                guard let own = settings.conninfo?.value, let withoutPasswords = settings.conninfoWithoutPasswords else {
                    throw ValidationError("--standby needs --primary-conninfo or PGBACKUP_CONNINFO")
                }
                options.primaryConninfo = withoutPasswords
                if withoutPasswords != own {
                    logger.warning("""
                        primary_conninfo is PGBACKUP_CONNINFO without its password, which is not copied into postgresql.auto.conf: \
                        the standby authenticates on its own, with the ~/.pgpass of the server's OS user or a passfile= (give it in \
                        --primary-conninfo), or any other method pg_hba.conf allows (a client certificate, …)
                        """)
                }
            }
        }
        options.configFile = restoreConfig.map(absolute)
        let line = ProgressLine(requested: progress)
        options.onProgress = line.transferHandler()
        let result = try await RestoreService(settings: settings, logger: logger).run(options)
        line.clear()
        if let failures = result.checksumFailures {
            FileHandle.standardError.write(Data("""
                pgbackup: warning: backup \(result.backupID) has checksum failures: \(failures.summary); those pages are restored \
                as the server read them (damaged), the rest of the backup is intact
                HINT: after recovery, run pg_amcheck; restore the damaged relations from an earlier backup without checksum failures\n
                """.utf8))
        }
        if json {
            try printJSON(result)
        } else {
            print("""
                restored backup \(result.backupID) into \(result.dataDirectory) (\(Formatting.bytes(result.bytes)) in \(Formatting.duration(result.seconds)))
                recovery: \(result.target) on timeline \(result.timeline)\(result.standby ? ", then streaming as a standby" : ""); WAL from the archive: \(result.walNeeded)
                restore_command reads \(result.configFile)
                archiving: \(result.archiveMode == .off ? "off (archive_mode = off: this server does not archive into the repository; --archive-mode preserve keeps the backed-up settings)" : "as backed up")
                next: pg_ctl -D \(result.dataDirectory) start
                """)
        }
    }

    /// This executable's absolute path, for the restored server's restore_command.
    static var executable: String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }

    private func absolute(_ path: String) -> String {
        path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
    }
}
