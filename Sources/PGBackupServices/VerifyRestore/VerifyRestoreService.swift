import Foundation
import Logging
import PGBackupFoundations
import PGBackupRepository
import PGBackupStorage
import Synchronization

/// How `pgbackup verify-restore` verifies.
public struct VerifyRestoreOptions: Sendable {
    public var target: RestoreTarget = .latest
    public var timeline: RestoreTimeline = .latest
    public var exclusive = false
    public var backupID: BackupID?
    /// Statements whose rows must not say `false` (their content, read before anything else).
    public var checkSQL: String?
    public var amcheck = false
    /// Leave the (stopped) instance's directory in place.
    public var keep = false
    /// The OS user the server runs as (needed as root).
    public var runAs: String?
    public var jobs: Int = ProcessInfo.processInfo.activeProcessorCount
    /// For the start (`pg_ctl -t`) and for replay and promotion.
    public var timeoutSeconds = 3600
    /// The `pgbackup` executable the restored server runs in `restore_command`.
    public var executable: String

    public init(executable: String) { self.executable = executable }
}

/// What a verification did: the stored record, and where it happened.
public struct VerifyRestoreOutcome: Sendable, Encodable {
    public var record: VerificationRecord
    public var directory: String
    public var port: Int
    public var kept: Bool
    /// With `--keep`: the commands that start and stop the kept instance.
    public var startCommand: String?
    public var stopCommand: String?

    private enum CodingKeys: String, CodingKey { case directory, port, kept, startCommand, stopCommand }

    /// The record's fields, then where the instance was (`--json`).
    public func encode(to encoder: any Encoder) throws {
        try record.encode(to: encoder)
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(directory, forKey: .directory)
        try container.encode(port, forKey: .port)
        try container.encode(kept, forKey: .kept)
        try container.encodeIfPresent(startCommand, forKey: .startCommand)
        try container.encodeIfPresent(stopCommand, forKey: .stopCommand)
    }
}

/// `pgbackup verify-restore`: restores (`RestoreService`) into a throwaway directory, starts
/// PostgreSQL there on a private socket, waits for replay and promotion, runs the optional
/// checks, stops and removes it, and stores a `VerificationRecord` whatever happened.
public struct VerifyRestoreService: Sendable {
    public let settings: Settings
    public let logger: Logger

    public init(settings: Settings, logger: Logger) {
        self.settings = settings
        self.logger = logger
    }

    /// Throws `ServerToolError` or `VerifyRestoreError` when it cannot even try (bad input, no server binaries,
    /// interrupted); a verification that ran, passed or not, returns its stored record.
    public func run(_ options: VerifyRestoreOptions) async throws -> VerifyRestoreOutcome {
        let user = try RunAsUser.resolve(options.runAs)
        // The history holding --backup-id (`init --upgrade`), so that its major's binaries are
        // the ones looked for; else the newest. The record goes into that history.
        let histories = try await RepositoryAccess.openHistories(settings)
        let (repository, info) = if let id = options.backupID {
            try await RepositoryAccess.history(holding: id, in: histories)
        } else {
            histories[histories.count - 1]
        }
        var binaries = try await ServerBinaries.find(major: info.postgresMajor, configured: settings.postgresBindir)
        var instance = try ThrowawayInstance.create(user: user)
        logger.info("verifying a restore", metadata: ["directory": "\(instance.root)", "port": "\(instance.port)", "user": "\(user.name)"])
        let startedAt = Date()
        var checks: [VerificationRecord.Check] = []
        var result: RestoreResult?
        var recoverySeconds: Double?
        let chosen = Mutex<BackupManifest?>(nil)
        do {
            // 1. Restore.
            var restore = RestoreOptions(dataDirectory: instance.dataDirectory, executable: options.executable)
            restore.target = options.target
            restore.timeline = options.timeline
            restore.exclusive = options.exclusive
            restore.backupID = options.backupID
            restore.action = .promote
            restore.jobs = options.jobs
            restore.tablespaceRoot = instance.root + "/tablespaces"
            restore.onChosen = { manifest in chosen.withLock { $0 = manifest } }
            do {
                let restored = try await RestoreService(settings: settings, logger: logger).run(restore)
                result = restored
                checks.append(.init(name: "restore", ok: true, detail: "backup \(restored.backupID): \(restored.bytes) bytes in \(Self.rounded(restored.seconds)) s, WAL \(restored.walNeeded)"))
            } catch {
                if Task.isCancelled || error is CancellationError { throw CancellationError() }
                checks.append(.init(name: "restore", ok: false, detail: "\(error)"))
            }
            if result != nil {
                if let manifest = chosen.withLock({ $0 }), PostgresVersion.major(of: manifest.postgresVersionNumber) != info.postgresMajor {
                    binaries = try await ServerBinaries.find(major: PostgresVersion.major(of: manifest.postgresVersionNumber), configured: settings.postgresBindir)
                }
                try instance.writeOverrides()
                if let sql = options.checkSQL {
                    try Data(sql.utf8).write(to: URL(fileURLWithPath: instance.root + "/check.sql"))
                }
                try user.takeOwnership(ofTree: instance.root)
                // 2. Start, replay, promote.
                let began = ContinuousClock.now
                let session = try await start(&instance, binaries: binaries, timeoutSeconds: options.timeoutSeconds)
                checks.append(session.check)
                if let role = session.role {
                    recoverySeconds = Self.seconds(since: began)
                    checks[checks.count - 1].detail += " in \(Self.rounded(recoverySeconds ?? 0)) s"
                    // 3. The optional checks.
                    if options.amcheck { checks.append(try await amcheck(instance, binaries: binaries, role: role)) }
                    if options.checkSQL != nil { checks.append(try await checkSQL(instance, binaries: binaries, role: role)) }
                }
            }
        } catch {
            if Task.isCancelled || error is CancellationError {
                let problems = await instance.tearDown(binaries: binaries, keep: false)
                for problem in problems { logger.warning("\(problem)") }
                throw VerifyRestoreError.interrupted
            }
            // Preparing the instance failed (a chown, a write): still a failed verification, recorded.
            checks.append(.init(name: "prepare", ok: false, detail: "\(error)"))
        }

        // 4. Stop, remove, record.
        let problems = await instance.tearDown(binaries: binaries, keep: options.keep)
        if !problems.isEmpty { checks.append(.init(name: "cleanup", ok: false, detail: problems.joined(separator: "; "))) }
        let record = VerificationRecord(
            startedAt: startedAt, backupID: result?.backupID ?? chosen.withLock { $0?.id }, target: options.target.description,
            restoreSeconds: result?.seconds, recoverySeconds: recoverySeconds, bytes: result?.bytes, checks: checks)
        try await VerificationLog(repository: repository).store(record)
        var outcome = VerifyRestoreOutcome(record: record, directory: instance.root, port: instance.port, kept: options.keep)
        if options.keep {
            outcome.startCommand = user.shellLine(binaries.path("pg_ctl"), instance.pgCtlArguments("start", timeoutSeconds: options.timeoutSeconds))
            outcome.stopCommand = user.shellLine(binaries.path("pg_ctl"), ["-D", instance.dataDirectory, "-m", "fast", "stop"])
        }
        return outcome
    }

    /// `pg_ctl start`, then waits until `SELECT NOT pg_is_in_recovery()`: the role that could
    /// connect when it succeeded, with the `start` check either way.
    /// A port that another process took after it was chosen is replaced, twice at most.
    private func start(_ instance: inout ThrowawayInstance, binaries: ServerBinaries, timeoutSeconds: Int) async throws -> (check: VerificationRecord.Check, role: String?) {
        let deadline = ContinuousClock.now + .seconds(timeoutSeconds)
        for attempt in 1...3 {
            let started = try await instance.run(
                binaries.path("pg_ctl"), instance.pgCtlArguments("start", timeoutSeconds: timeoutSeconds), timeout: .seconds(timeoutSeconds + 30))
            if started.succeeded { break }
            let log = instance.logTail()
            if attempt < 3, log.contains("could not bind IPv4 address") && log.contains("Address already in use") {
                logger.info("the throwaway instance's port was taken meanwhile; another one", metadata: ["port": "\(instance.port)"])
                try instance.movePort()
                continue
            }
            return (.init(name: "start", ok: false, detail: "pg_ctl start failed: \(started.excerpt(lines: 4))\nserver log:\n\(log)"), nil)
        }
        // The bootstrap superuser's name is not in the backup: the run-as user's, else postgres.
        let roles = instance.user.name == "postgres" ? ["postgres"] : [instance.user.name, "postgres"]
        var lastError = ""
        while ContinuousClock.now < deadline {
            for role in roles {
                let answer = try await instance.run(
                    binaries.path("psql"), ["-X", "-A", "-t", "-c", "SELECT NOT pg_is_in_recovery()"] + instance.connection(role: role), timeout: .seconds(60))
                if answer.succeeded {
                    if answer.output.trimmingCharacters(in: .whitespacesAndNewlines) == "t" {
                        return (.init(name: "start", ok: true, detail: "PostgreSQL \(binaries.directory) replayed to the target and promoted"), role)
                    }
                    lastError = "still in recovery"
                    break
                }
                lastError = answer.excerpt(lines: 3)
            }
            guard let pid = instance.postmasterPID, instance.isOurs(pid) else {
                return (.init(name: "start", ok: false, detail: "the server stopped during recovery\nserver log:\n\(instance.logTail())"), nil)
            }
            try await Task.sleep(for: .milliseconds(250))
        }
        return (.init(name: "start", ok: false, detail: "not promoted within \(timeoutSeconds) s (\(lastError))\nserver log:\n\(instance.logTail())"), nil)
    }

    /// `CREATE EXTENSION IF NOT EXISTS amcheck` in every database, then `pg_amcheck --all`.
    private func amcheck(_ instance: ThrowawayInstance, binaries: ServerBinaries, role: String) async throws -> VerificationRecord.Check {
        let listed = try await instance.run(
            binaries.path("psql"), ["-X", "-A", "-t", "-c", "SELECT datname FROM pg_database WHERE datallowconn ORDER BY 1"] + instance.connection(role: role),
            timeout: .seconds(60))
        guard listed.succeeded else { return .init(name: "amcheck", ok: false, detail: "unable to list the databases: \(listed.excerpt())") }
        for database in listed.output.split(separator: "\n").map(String.init) where !database.isEmpty {
            let created = try await instance.run(
                binaries.path("psql"), ["-X", "-v", "ON_ERROR_STOP=1", "-c", "CREATE EXTENSION IF NOT EXISTS amcheck"] + instance.connection(role: role, database: database),
                timeout: .seconds(120))
            guard created.succeeded else {
                return .init(name: "amcheck", ok: false, detail: "unable to create extension amcheck in database \(database): \(created.excerpt())")
            }
        }
        let tool = binaries.path("pg_amcheck")
        guard FileManager.default.isExecutableFile(atPath: tool) else { return .init(name: "amcheck", ok: false, detail: "\(tool) is not installed") }
        let checked = try await instance.run(tool, ["--all", "-h", instance.socketDirectory, "-p", String(instance.port), "-U", role], timeout: .seconds(24 * 3600))
        guard checked.succeeded else { return .init(name: "amcheck", ok: false, detail: "pg_amcheck --all exited with status \(checked.status):\n\(checked.excerpt())") }
        return .init(name: "amcheck", ok: true, detail: "pg_amcheck --all found no corruption")
    }

    /// Runs the check SQL with stop-on-error: an error, or a row whose first column is false, fails.
    private func checkSQL(_ instance: ThrowawayInstance, binaries: ServerBinaries, role: String) async throws -> VerificationRecord.Check {
        let ran = try await instance.run(
            binaries.path("psql"), ["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-f", instance.root + "/check.sql"] + instance.connection(role: role),
            timeout: .seconds(24 * 3600))
        guard ran.succeeded else { return .init(name: "check_sql", ok: false, detail: "the check SQL failed: \(ran.excerpt(lines: 6))") }
        return Self.checkSQLVerdict(output: ran.output)
    }

    /// The `check_sql` check from psql's unaligned, tuples-only output (`|` between columns):
    /// failed when a row's first column is `f` or `false`. Pure.
    static func checkSQLVerdict(output: String) -> VerificationRecord.Check {
        let rows = output.split(separator: "\n").map(String.init).filter { !$0.isEmpty }
        if let row = rows.first(where: { ["f", "false"].contains($0.split(separator: "|", omittingEmptySubsequences: false).first.map(String.init) ?? "") }) {
            return .init(name: "check_sql", ok: false, detail: "the check SQL returned false: \(row)")
        }
        return .init(name: "check_sql", ok: true, detail: "\(rows.count) row\(rows.count == 1 ? "" : "s"), none false")
    }

    static func seconds(since start: ContinuousClock.Instant) -> Double {
        let elapsed = ContinuousClock.now - start
        return elapsed.inSeconds
    }

    static func rounded(_ seconds: Double) -> String { String(format: "%.1f", seconds) }
}
