import ArgumentParser
import Foundation
import PGBackupRepository
import PGBackupServices

struct VerifyRestoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify-restore",
        abstract: "Prove a backup restores: restore it into a throwaway instance, start it, check it, remove it.",
        discussion: """
            Restores (the latest point by default, or --backup-id / any restore target) into a \
            temporary directory, starts PostgreSQL there with the server binaries of the backup's \
            major version (postgres_bindir, else pg_config --bindir when its version matches, else \
            /usr/lib/postgresql/<major>/bin) on a private Unix socket and a free port of 127.0.0.1, \
            with archive_mode = off, and waits until it has replayed to the target and promoted.

            --amcheck runs pg_amcheck --all (after CREATE EXTENSION IF NOT EXISTS amcheck in every \
            database); --check-sql FILE runs the file with psql -v ON_ERROR_STOP=1: an error, or a \
            returned row whose first column is false, fails the verification.

            The instance is always stopped and its directory removed, also on failure and on \
            SIGTERM/SIGINT; --keep leaves the (stopped) directory and prints how to start it. The \
            result is stored as verifications/<time>.json in the repository (shown by list and \
            show) and printed; exit 1 when the verification failed.

            PostgreSQL refuses to run as root: as root, give --run-as USER (the temporary tree \
            then belongs to USER, and pg_ctl, psql and pg_amcheck run as USER).
            """
    )

    @OptionGroup var global: GlobalOptions
    @OptionGroup var targetOptions: RestoreTargetOptions

    @Option(help: ArgumentHelp("SQL to run against the restored instance; an error or a first column `false` fails.", valueName: "file"))
    var checkSql: String?
    @Flag(help: "Run pg_amcheck --all against the restored instance.")
    var amcheck = false
    @Flag(help: "Keep the stopped instance's directory and print how to start it.")
    var keep = false
    @Option(help: ArgumentHelp("The OS user that runs the server (required as root; default: verify_run_as, $PGBACKUP_VERIFY_RUN_AS).", valueName: "user"))
    var runAs: String?
    @Option(help: ArgumentHelp("Chunks fetched and written at once (default: the number of cores).", valueName: "n"))
    var jobs: Int?
    @Option(help: ArgumentHelp("Seconds allowed for the start, and for replay and promotion (default 3600).", valueName: "seconds"))
    var timeout: Int = 3600
    @Flag(help: "Print the verification record as JSON.")
    var json = false

    func validate() throws {
        if let jobs, !(1...256).contains(jobs) { throw ValidationError("--jobs must be between 1 and 256, not \(jobs)") }
        guard timeout > 0 else { throw ValidationError("--timeout must be positive") }
    }

    func run() async throws {
        let settings = try global.settings()
        let logger = global.logger(for: settings, label: "verify-restore")
        var options = VerifyRestoreOptions(executable: RestoreCommand.executable)
        options.target = try targetOptions.target()
        options.timeline = try targetOptions.timeline()
        options.exclusive = targetOptions.targetExclusive
        options.backupID = try targetOptions.backupID()
        if let checkSql {
            guard let content = FileManager.default.contents(atPath: checkSql) else {
                throw ValidationError("unable to read the check SQL file '\(checkSql)': \(FileManager.default.fileExists(atPath: checkSql) ? "permission denied" : "no such file")")
            }
            options.checkSQL = String(decoding: content, as: UTF8.self)
        }
        options.amcheck = amcheck
        options.keep = keep
        options.runAs = runAs ?? settings.verifyRunAs
        if let jobs { options.jobs = jobs }
        options.timeoutSeconds = timeout

        let service = VerifyRestoreService(settings: settings, logger: logger)
        let task = Task { try await service.run(options) }
        // SIGTERM/SIGINT cancel the verification, which then stops the instance and removes it.
        let signals = onTerminationSignals { number in
            logger.warning("signal \(number) received: stopping the instance and removing it")
            task.cancel()
        }
        defer { signals.forEach { $0.cancel() } }
        let outcome: VerifyRestoreOutcome
        do {
            outcome = try await task.value
        } catch ServerToolError.refused(let reason) {
            throw ValidationError(reason)
        }
        let record = outcome.record
        if json {
            try printJSON(outcome)
        } else {
            print("verify-restore of \(record.backupID?.description ?? "no backup") (target \(record.target)): \(record.ok ? "ok" : "FAILED")")
            for check in record.checks {
                print("  \(check.ok ? "ok    " : "FAILED") \(check.name): \(check.detail.replacingOccurrences(of: "\n", with: "\n           "))")
            }
            if let seconds = record.restoreSeconds { print("  restore \(Formatting.duration(seconds)), \(Formatting.bytes(record.bytes ?? 0))") }
            if let seconds = record.recoverySeconds { print("  recovery and promotion \(Formatting.duration(seconds))") }
            if outcome.kept, let start = outcome.startCommand, let stop = outcome.stopCommand {
                print("""
                    kept the stopped instance in \(outcome.directory) (port \(outcome.port), socket \(outcome.directory)/socket)
                      start: \(start)
                      stop:  \(stop)
                      remove it when done: rm -rf \(outcome.directory)
                    """)
            }
        }
        if !record.ok { throw ExitCode(ExitStatus.failure) }
    }
}
