import ArgumentParser
import Foundation
import PGBackupServices

struct VerifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Read every object of the backups (all, or one) and of the WAL archive, and check every seal and WAL continuity.",
        discussion: """
            Reads each backup.json, every chunk and pack the manifests reference (each once, \
            however many backups share it) and the server's backup_manifest, and every object of \
            the WAL archive; recomputes each seal, checks that each chunk holds the content its \
            name says, and that each backup's WAL is continuous along the timeline history from \
            its start to the end of the archive. Holes retention makes on purpose are not \
            problems: a backup pinned --standalone needs only its own WAL, and under a policy with \
            wal: consistency only the newest backup needs the WAL after its stop. A recorded WAL \
            gap crossing the WAL a backup needs is a problem. Every problem is reported with the \
            object's key; the exit status is 1 when there is any, 0 when none.
            """
    )

    @OptionGroup var global: GlobalOptions

    @Option(help: ArgumentHelp("Verify only this backup (and the WAL archive).", valueName: "id"))
    var backupId: String?
    @Option(help: ArgumentHelp("Objects read at once (default 4).", valueName: "n"))
    var jobs: Int = 4
    @Flag(help: "Show objects and bytes read, rate and time left on standard error (when it is a terminal).")
    var progress = false
    @Flag(help: "Print the report as JSON.")
    var json = false

    func validate() throws {
        guard (1...256).contains(jobs) else { throw ValidationError("--jobs must be between 1 and 256, not \(jobs)") }
    }

    func run() async throws {
        let settings = try global.settings()
        let logger = global.logger(for: settings, label: "verify")
        var options = VerifyService.Options()
        options.backupID = backupId
        options.jobs = jobs
        let line = ProgressLine(requested: progress)
        let started = ContinuousClock.now
        if line.enabled {
            options.onProgress = { progress in
                let elapsed = ContinuousClock.now - started
                let seconds = elapsed.inSeconds
                line.show("\(progress.objectsDone) of \(progress.objectsTotal) objects, "
                    + ProgressLine.transfer(done: progress.bytesDone, total: progress.bytesTotal, seconds: seconds))
            }
        }
        let report = try await VerifyService(settings: settings, logger: logger).run(options)
        line.clear()
        if json {
            try printJSON(report)
        } else {
            for error in report.errors { print("\(error.object): \(error.problem)") }
            for kept in report.diverged { print("note: diverged WAL (kept apart, not part of the archive's history): \(kept)") }
            print("""
                \(report.ok ? "ok" : "FAILED: \(report.errors.count) problem\(report.errors.count == 1 ? "" : "s")"): \
                \(report.backups.count) backup\(report.backups.count == 1 ? "" : "s"), \(report.chunks) chunks, \
                \(report.walObjects) WAL objects; \(report.objectsRead) objects read (\(Formatting.bytes(report.bytesRead))) \
                in \(Formatting.duration(report.seconds))
                """)
        }
        if !report.ok { throw ExitCode(ExitStatus.failure) }
    }
}
