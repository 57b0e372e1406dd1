import ArgumentParser
import Foundation
import PGBackupServices

struct FollowCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "follow",
        abstract: "Make a data directory follow the current primary (after a failover).",
        discussion: """
            Finds the cluster's primary among the hosts of PGBACKUP_CONNINFO (a server not in \
            recovery, of the repository's system identifier, the highest timeline), or checks \
            --primary-conninfo, then:

            a standby (standby.signal), running or not, gets primary_conninfo and \
            recovery_target_timeline = 'latest' rewritten in postgresql.auto.conf, and a reload \
            (SIGHUP) if it runs;

            a former primary, stopped (cleanly or crashed), or a stopped standby that replayed \
            past the new primary's fork point, is rejoined as a standby by a delta restore from \
            the repository on the primary's timeline: only what differs is written, the diverged \
            WAL in pg_wal is removed, and files are handed to the directory's owner. Start it with \
            pg_ctl start.

            primary_conninfo is --primary-conninfo as given, or PGBACKUP_CONNINFO reduced to the \
            primary's host and port, without its password (the standby authenticates with \
            ~/.pgpass, a passfile= or a certificate), keeping the directory's application_name.

            Refused (exit 1, nothing changed): a running primary, a running standby that \
            diverged, a directory of another cluster, no primary found.
            """
    )

    @OptionGroup var global: GlobalOptions

    @Option(help: ArgumentHelp("The data directory of a standby or of a former primary.", valueName: "dir"))
    var pgdata: String
    @Option(help: ArgumentHelp("The primary to follow, written as given into primary_conninfo (default: the primary among PGBACKUP_CONNINFO's hosts, without its password).", valueName: "conninfo"))
    var primaryConninfo: String?
    @Option(help: ArgumentHelp("Chunks fetched and written at once by a rejoin (default: the number of cores).", valueName: "n"))
    var jobs: Int?
    @Flag(help: "Show a rejoin's bytes written, rate and time left on standard error (when it is a terminal).")
    var progress = false
    @Flag(help: "Print the result as JSON.")
    var json = false

    func validate() throws {
        if let jobs, !(1...256).contains(jobs) { throw ValidationError("--jobs must be between 1 and 256, not \(jobs)") }
        if let primaryConninfo, primaryConninfo.trimmingCharacters(in: .whitespaces).isEmpty {
            throw ValidationError("--primary-conninfo must not be empty")
        }
    }

    func run() async throws {
        let settings = try global.settings()
        let logger = global.logger(for: settings, label: "follow")
        let path = pgdata.hasPrefix("/") ? pgdata : FileManager.default.currentDirectoryPath + "/" + pgdata
        var options = FollowOptions(dataDirectory: path, executable: RestoreCommand.executable)
        options.primaryConninfo = primaryConninfo
        if let jobs { options.jobs = jobs }
        let line = ProgressLine(requested: progress)
        let started = ContinuousClock.now
        if line.enabled {
            options.onProgress = { done, total in
                let elapsed = ContinuousClock.now - started
                let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
                line.show(ProgressLine.transfer(done: done, total: total, seconds: seconds))
            }
        }
        let result = try await FollowService(settings: settings, logger: logger).run(options)
        line.clear()
        if json {
            try printJSON(result)
            return
        }
        switch result.action {
        case .repointed:
            let state = result.reloaded ? "reloaded" : "not running: takes effect when it starts"
            print("repointed standby \(result.dataDirectory) to \(result.primary) (timeline \(result.timeline)); \(state)")
            if result.restartNeeded { print("recovery_target_timeline = 'latest' takes effect at the next restart") }
        case .rejoined:
            let written = result.bytesWritten ?? 0, total = result.bytesTotal ?? 0
            print("""
                rejoined \(result.standby ? "diverged standby" : "former primary") \(result.dataDirectory) as a standby of \(result.primary) \
                (timeline \(result.timeline)): wrote \(Formatting.bytes(written)) of \(Formatting.bytes(total)) in \(Formatting.duration(result.seconds)) \
                (\(Formatting.bytes(result.bytesUnchanged ?? 0)) unchanged; backup \(result.backupID ?? "?"))
                why: \(result.reason ?? "")
                next: pg_ctl -D \(result.dataDirectory) start
                """)
        }
        print("primary_conninfo = '\(result.primaryConninfo)'")
    }
}
