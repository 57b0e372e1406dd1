import Foundation
import Testing
import PGBackupFoundations
import PGBackupRepository
import PGBackupTestSupport

#if canImport(Glibc)
import Glibc
#endif

/// The daemon's log with `--log-format json`: every line one JSON object.
struct JSONLog {
    let lines: [[String: String]]
    /// Lines of standard error that are not a JSON object of strings.
    let unparsable: [String]

    init(_ text: String) {
        var lines: [[String: String]] = []
        var unparsable: [String] = []
        for line in text.split(separator: "\n") where !line.isEmpty {
            if let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String] {
                lines.append(object)
            } else {
                unparsable.append(String(line))
            }
        }
        self.lines = lines
        self.unparsable = unparsable
    }

    /// The job events (`event=job_start|job_end|job_skipped`) of `job`, in order.
    func events(_ event: String, job: String? = nil, outcome: String? = nil) -> [[String: String]] {
        lines.filter { $0["event"] == event && (job == nil || $0["job"] == job) && (outcome == nil || $0["outcome"] == outcome) }
    }

    func index(where predicate: ([String: String]) -> Bool) -> Int? { lines.firstIndex(where: predicate) }
}

/// `pgbackup daemon` with a policy's `schedule:` (DESIGN.md, "The daemon"): scheduled backups,
/// retention after each, scheduled verify-restore, SIGHUP reloads, SIGTERM during a backup.
@Suite("pgbackup daemon: schedules and lifecycle, end to end", .serialized)
struct DaemonScheduleEndToEndTests {
    /// Starts the daemon with `--log-format json`. For a file repository it runs as the
    /// server's user, as in its container (it owns the repository, and verify-restore runs as
    /// itself); for s3 it runs as root, with PGBACKUP_VERIFY_RUN_AS naming the server's user.
    static func startDaemon(_ fixture: DaemonFixture, policy: String, _ arguments: [String] = [], httpPort: Int? = nil) throws -> BackgroundProcess {
        var environment = fixture.environment
        if let httpPort { environment["PGBACKUP_HTTP"] = "127.0.0.1:\(httpPort)" }
        environment["PATH"] = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        environment["PGBACKUP_CONFIG"] = "/dev/null"
        environment["PGBACKUP_POLICY"] = policy
        let user = fixture.cluster.serverUser
        let daemonArguments = ["daemon", "--log-format", "json", "--status-interval", "1", "--partial-interval", "1"] + arguments
        if fixture.repository.kind == .file && user.switchesUser {
            // setpriv execs the daemon itself (no parent in between): signals reach it directly.
            return try BackgroundProcess(
                "/usr/bin/setpriv", ["--reuid=\(user.uid)", "--regid=\(user.gid)", "--init-groups", "--", PGBackupBinary.path] + daemonArguments,
                environment: environment)
        }
        if user.switchesUser { environment["PGBACKUP_VERIFY_RUN_AS"] = user.name }
        return try BackgroundProcess(PGBackupBinary.path, daemonArguments, environment: environment)
    }

    /// Waits (bounded) until the daemon's log satisfies `condition`.
    @discardableResult
    static func waitForLog(
        _ daemon: BackgroundProcess, _ what: String, timeout: Duration = .seconds(90), _ condition: (JSONLog) -> Bool
    ) async throws -> JSONLog {
        let deadline = ContinuousClock.now + timeout
        while true {
            let log = JSONLog(daemon.standardError)
            if condition(log) { return log }
            guard daemon.isRunning else { throw FixtureError("the daemon exited before \(what): \(daemon.standardError.suffix(4000))") }
            guard ContinuousClock.now < deadline else { throw FixtureError("not within \(timeout): \(what); daemon log: \(daemon.standardError.suffix(4000))") }
            try await Task.sleep(for: .milliseconds(250))
        }
    }

    /// `list --json`: each backup's id and whether it has a last verification.
    static func listed(_ fixture: DaemonFixture) async throws -> [(id: String, status: String, verified: Bool)] {
        let result = try await PGBackupBinary.run(["list", "--json"], environment: fixture.environment)
        guard result.status == 0, let entries = try JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8)) as? [[String: Any]] else {
            throw FixtureError("list failed: \(result.standardError)")
        }
        return entries.map { ($0["id"] as? String ?? "?", $0["status"] as? String ?? "?", $0["lastVerification"] is [String: Any]) }
    }

    static func write(_ text: String, to path: String) throws {
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        chmod(path, 0o644)
    }

    @Test(arguments: RepositoryKind.tested)
    func scheduledBackupsRetentionVerificationReloadAndShutdown(kind: RepositoryKind) async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        try await withPostgresCluster(DaemonFixture.options) { cluster in
            let fixture = try await DaemonFixture(kind, cluster: cluster, scratch: scratch)
            try await cluster.sql("CREATE TABLE t (id int PRIMARY KEY)", "INSERT INTO t SELECT generate_series(1, 1000)")
            try fixture.repository.letTheServerUse(cluster.serverUser)
            try FileManager.default.createDirectory(atPath: scratch.path + "/spool", withIntermediateDirectories: true)
            if kind == .file { try cluster.serverUser.takeOwnership(ofTree: scratch.path + "/spool") }
            let policy = scratch.path + "/policy.yaml"
            try Self.write("schedule:\n  backup: every 4s\n  verify_restore: every 10s\nretention:\n  redundancy: 2\n", to: policy)
            let secrets = [cluster.replicationPassword] + [fixture.repository.environment["AWS_SECRET_ACCESS_KEY"]].compactMap { $0 }.filter { $0.count >= 8 }

            // 1. Scheduled backups, retention after each, a scheduled verification.
            // With the HTTP endpoint: /metrics and /status follow the schedules.
            let httpPort = try await CheckEndToEndTests.unusedPort()
            let daemon = try Self.startDaemon(fixture, policy: policy, ["--check-interval", "1"], httpPort: httpPort)
            try await Self.waitForLog(daemon, "a first scheduled backup", timeout: .seconds(90)) { log in
                !log.events("job_end", job: "backup", outcome: "success").isEmpty
            }
            let early = try await DaemonHTTPEndToEndTests.scrape(httpPort)
            var log = try await Self.waitForLog(daemon, "4 scheduled backups, a retention that removed one, a verification", timeout: .seconds(150)) { log in
                log.events("job_end", job: "backup", outcome: "success").count >= 4
                    && log.events("job_end", job: "retention", outcome: "success").contains { ($0["removed"] ?? "0") != "0" }
                    && !log.events("job_end", job: "verify_restore", outcome: "success").isEmpty
            }
            #expect(log.unparsable.isEmpty, "every line is one JSON object: \(log.unparsable.prefix(3))")
            func metric(_ metrics: [String: (type: String, samples: [DaemonHTTPEndToEndTests.Sample])], _ name: String) -> Double {
                DaemonHTTPEndToEndTests.value(metrics, name) ?? -1
            }
            // A health round past the verification: waited for, not timed (a loaded CI machine
            // makes a round take seconds).
            var late = try await DaemonHTTPEndToEndTests.scrape(httpPort)
            let roundDeadline = ContinuousClock.now + .seconds(60)
            while metric(late, "pgbackup_verification_last_ok") != 1, ContinuousClock.now < roundDeadline {
                try await Task.sleep(for: .milliseconds(500))
                late = try await DaemonHTTPEndToEndTests.scrape(httpPort)
            }
            #expect(metric(late, "pgbackup_backup_last_success_timestamp_seconds") > metric(early, "pgbackup_backup_last_success_timestamp_seconds"))
            #expect(metric(early, "pgbackup_backup_last_success_timestamp_seconds") > 0)
            #expect(metric(late, "pgbackup_backup_last_duration_seconds") > 0 && metric(late, "pgbackup_backup_last_stored_bytes") > 0)
            #expect(metric(late, "pgbackup_verification_last_success_timestamp_seconds") > 0)
            #expect(metric(late, "pgbackup_verification_last_ok") == 1)
            #expect(metric(late, "pgbackup_backups") >= 2 && metric(late, "pgbackup_recovery_window_start_timestamp_seconds") > 0)
            #expect(metric(late, "pgbackup_wal_segments_archived_total") >= metric(early, "pgbackup_wal_segments_archived_total"))
            let status = try await DaemonHTTPEndToEndTests.get(httpPort, "/status")
            let document = try #require(try JSONSerialization.jsonObject(with: Data(status.body.utf8)) as? [String: Any], "\(status.body)")
            let jobs = try #require(document["jobs"] as? [String: [String: Any]], "\(status.body)")
            #expect(jobs["backup"]?["next_run"] != nil && jobs["verify_restore"]?["next_run"] != nil, "\(jobs)")
            #expect((jobs["backup"]?["runs"] as? Int ?? 0) >= 4, "\(jobs)")
            let ends = log.events("job_end", job: "backup", outcome: "success")
            for end in ends {
                #expect(Double(end["duration_seconds"] ?? "") ?? 0 > 0, "\(end)")
                #expect(Int64(end["stored_bytes"] ?? "") ?? 0 > 0, "\(end)")
                #expect(end["backup_id"]?.count == 16 && end["next_run"] != nil, "\(end)")
            }
            #expect(log.events("job_start", job: "backup").count >= ends.count)
            let verified = try #require(log.events("job_end", job: "verify_restore", outcome: "success").first)
            #expect(Double(verified["duration_seconds"] ?? "") ?? 0 > 0 && verified["backup_id"] != nil, "\(verified)")
            let taken = ends.compactMap { $0["backup_id"] }
            let removed = Set(log.events("job_end", job: "retention").flatMap { ($0["removed_ids"] ?? "").split(separator: ",").map(String.init) })
            let listing = try await Self.listed(fixture)
            let ids = listing.map(\.id)
            #expect(ids.count >= 2, "redundancy 2 never keeps fewer than 2: \(ids)")
            #expect(!removed.isEmpty && removed.isDisjoint(with: ids), "removed \(removed), listed \(ids)")
            #expect(removed.allSatisfy { taken.contains($0) })
            #expect(ids.allSatisfy { id in !removed.contains(id) } && listing.allSatisfy { $0.status == "complete" }, "\(listing)")
            // The oldest went first: every removed backup is older than every listed one.
            #expect(removed.allSatisfy { old in ids.allSatisfy { old < $0 } }, "removed \(removed), listed \(ids)")
            for id in removed { #expect(try await !fixture.repository.exists("main/backups/\(id)/backup.json")) }
            let records = try await VerificationLog(repository: try fixture.repository.mainServer).records()
            #expect(records.contains { $0.ok }, "\(records)")
            #expect(!secrets.contains { daemon.standardError.contains($0) }, "a secret reached the log")

            // 2. SIGHUP with a broken policy: refused, the old schedule stays (backups keep coming).
            try Self.write("schedule:\n  backup: every banana\nretention:\n  redundancy: 2\n", to: policy)
            daemon.send(SIGHUP)
            log = try await Self.waitForLog(daemon, "the broken policy refused") { $0.lines.contains { $0["event"] == "reload" } }
            let refusal = try #require(log.lines.first { $0["event"] == "reload" })
            #expect(refusal["outcome"] == "refused" && refusal["level"] == "error", "\(refusal)")
            #expect(refusal["message"]?.contains("schedule.backup") == true && refusal["message"]?.contains(policy) == true, "\(refusal)")
            let refusedAt = try #require(log.index { $0["event"] == "reload" })
            try await Self.waitForLog(daemon, "a backup after the refused reload") { log in
                log.lines[refusedAt...].contains { $0["event"] == "job_end" && $0["job"] == "backup" && $0["outcome"] == "success" }
            }

            // 3. SIGHUP with a changed valid policy: applied (no verify-restore, redundancy 3).
            try Self.write("schedule:\n  backup: every 3s\nretention:\n  redundancy: 3\n", to: policy)
            daemon.send(SIGHUP)
            log = try await Self.waitForLog(daemon, "the new policy applied") { $0.events("reload", outcome: "applied").count == 1 }
            let applied = try #require(log.events("reload", outcome: "applied").first)
            #expect(applied["message"]?.contains("backup: \"every 4s\" -> \"every 3s\"") == true, "\(applied)")
            #expect(applied["message"]?.contains("verify_restore: \"every 10s\" -> none") == true, "\(applied)")
            let appliedAt = try #require(log.index { $0["event"] == "reload" && $0["outcome"] == "applied" })
            try await Self.waitForLog(daemon, "3 backups kept under redundancy 3") { log in
                log.lines[appliedAt...].filter { $0["event"] == "job_end" && $0["job"] == "retention" && $0["outcome"] == "success" }.contains { $0["kept"] == "3" }
            }
            // 3, or 4 when the next scheduled backup (every 3 s) ended before its retention ran.
            let keptNow = try await Self.listed(fixture).count
            #expect((3...4).contains(keptNow), "\(keptNow) backups listed under redundancy 3")
            log = JSONLog(daemon.standardError)
            #expect(!log.lines[appliedAt...].contains { $0["event"] == "job_start" && $0["job"] == "verify_restore" }, "no verify-restore once unscheduled")

            daemon.send(SIGTERM)
            let first = try await daemon.wait(timeout: .seconds(60))
            #expect(first.status == 0 && !first.terminatedBySignal, "\(first.standardError.suffix(3000))")
            #expect(JSONLog(first.standardError).unparsable.isEmpty)
            #expect(!secrets.contains { first.standardError.contains($0) }, "a secret reached the log")

            // 4. SIGTERM during a scheduled backup (throttled to be caught running): exit 0 in
            //    bounded time, nothing incomplete listed, the lock released.
            let before = try await Self.listed(fixture).map(\.id)
            let throttled = try Self.startDaemon(fixture, policy: policy, ["--backup-max-rate", "256", "--shutdown-grace", "2"])
            try await Self.waitForRunningBackup(throttled)
            // Its next slots come while it runs: skipped and logged, never a second backup.
            let skipping = try await Self.waitForLog(throttled, "a slot skipped while the backup runs", timeout: .seconds(30)) {
                !$0.events("job_skipped", job: "backup", outcome: "skipped").isEmpty
            }
            #expect(skipping.events("job_start", job: "backup").count == 1)
            #expect(skipping.events("job_skipped", job: "backup").first?["next_run"] != nil)
            // Stopped by abandoning the throttled backup after the grace, not by waiting it out: the
            // job_end event says so; wait's timeout is a hang guard.
            throttled.send(SIGTERM)
            let stopped = try await throttled.wait(timeout: .seconds(60))
            #expect(stopped.status == 0 && !stopped.terminatedBySignal, "\(stopped.standardError.suffix(3000))")
            let stoppedLog = JSONLog(stopped.standardError)
            #expect(stoppedLog.events("job_end", job: "backup", outcome: "abandoned").count == 1, "\(stopped.standardError.suffix(3000))")
            #expect(stoppedLog.events("job_end", job: "backup", outcome: "success").isEmpty)
            #expect(stopped.standardError.contains("final status sent"))
            #expect(try await Self.listed(fixture).map(\.id) == before, "an abandoned backup is never listed")
            #expect(try await fixture.repository.keys(under: "main/locks/").isEmpty, "the backup lock was released")

            // 5. After a restart: the next scheduled backup removes the leftovers and completes,
            //    and the WAL is continuous (verify checks every backup's WAL on).
            let restarted = try Self.startDaemon(fixture, policy: policy)
            let restartedLog = try await Self.waitForLog(restarted, "a backup after the restart") { !$0.events("job_end", job: "backup", outcome: "success").isEmpty }
            #expect(restarted.standardError.contains("removed the leftovers of backup"), "\(restarted.standardError.suffix(3000))")
            #expect(restartedLog.events("job_end", job: "backup", outcome: "failure").isEmpty, "\(restarted.standardError.suffix(3000))")
            restarted.send(SIGTERM)
            let last = try await restarted.wait(timeout: .seconds(60))
            #expect(last.status == 0, "\(last.standardError.suffix(3000))")
            let verify = try await PGBackupBinary.run(["verify", "--json"], environment: fixture.environment, timeout: .seconds(300))
            #expect(verify.status == 0, "\(verify.standardOutput.suffix(3000)) \(verify.standardError.suffix(2000))")
        }
    }

    /// Waits until a throttled scheduled backup is running (its start logged, the server sending).
    static func waitForRunningBackup(_ daemon: BackgroundProcess) async throws {
        try await waitForLog(daemon, "a scheduled backup running", timeout: .seconds(60)) { log in
            !log.events("job_start", job: "backup").isEmpty && log.lines.contains { ($0["message"] ?? "").contains("base backup") && ($0["message"] ?? "").contains("starting") }
        }
        try await Task.sleep(for: .seconds(1))
    }
}
