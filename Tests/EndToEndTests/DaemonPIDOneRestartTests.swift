import Foundation
import Testing
import PGBackupFoundations
import PGBackupRepository
import PGBackupTestSupport

#if canImport(Glibc)
import Glibc
#endif

/// The daemon as it runs in a container: PID 1 of its own PID namespace, so every restart has
/// the same PID. Killed by SIGKILL in the middle of a put, again and again under load, it must
/// come back each time, find nothing in its way, keep the archive gap-free and the slot moving.
@Suite("pgbackup daemon as PID 1: kill -9 mid-upload and restart", .serialized)
struct DaemonPIDOneRestartTests {
    static let cycles = 5

    @Test func killedMidUploadAndRestartedAsPIDOneItKeepsArchivingWithoutAGap() async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        try await withPostgresCluster(DaemonFixture.options) { cluster in
            let fixture = try await DaemonFixture(.file, cluster: cluster, scratch: scratch)
            let repository = try #require(fixture.repository.directory)
            _ = try await cluster.pgbench(["-i", "-s", "1", "-q"])
            let load = Task {
                while !Task.isCancelled { _ = try? await cluster.pgbench(["-c", "2", "-T", "2", "-n"]) }
            }
            defer { load.cancel() }
            // Segments complete every few hundred milliseconds, not every few seconds as pgbench
            // alone makes them on a loaded machine: a kill during the put of a completed segment
            // (milliseconds long) is then found in seconds (CI once saw none in 150 s).
            let switches = Task {
                while !Task.isCancelled {
                    _ = try? await cluster.sql("SELECT pg_switch_wal()")
                    try? await Task.sleep(for: .milliseconds(300))
                }
            }
            defer { switches.cancel() }

            var daemon = try PIDOneDaemon(fixture)
            var midUpload = 0
            var attempts = 0
            var measured: [String] = []
            while midUpload < Self.cycles {
                attempts += 1
                try #require(attempts <= 3 * Self.cycles, "only \(midUpload) of \(attempts - 1) kills landed during a put")
                let cycleStart = ContinuousClock.now
                try await daemon.waitUntilFlushPassesTheServersPositionAtRestart(cluster)
                let advanced = ContinuousClock.now - cycleStart

                // Kill it the moment a put is under way (a temporary file is there): of a completed
                // segment, which the next run must store again under the same key, in every other
                // cycle; of any object (mostly the partial segment) in the others.
                let seen = try await daemon.killDuringAPut(repository: repository, ofACompletedSegment: attempts % 2 == 1)
                let leftovers = temporaryFiles(under: repository)
                // Measured with the daemon dead: only the next one can move it.
                let slotBefore = try await slotRestartLSN(cluster)
                if !leftovers.isEmpty { midUpload += 1 }
                measured.append("kill \(attempts): saw \(seen), left \(leftovers.count), flush advanced after \(advanced)")

                daemon = try PIDOneDaemon(fixture)
                // The restarted daemon streams again and the slot moves past where it was.
                do {
                    try await cluster.waitUntil("the slot advances after restart \(attempts)", timeout: .seconds(45)) {
                        try await slotRestartLSN(cluster) > slotBefore
                    }
                } catch {
                    throw FixtureError("\(error); daemon log: \(daemon.process.standardError.suffix(2000))")
                }
                measured[measured.count - 1] += "; slot restart_lsn \(slotBefore) at the kill, then \(try await slotRestartLSN(cluster))"
                // Its start-up sweep removes what the killed one left (no live writer holds it).
                try await waitUntil("restart \(attempts) removes the killed daemon's temporary files", daemon: daemon) {
                    leftovers.allSatisfy { !FileManager.default.fileExists(atPath: $0) }
                }
            }
            try await daemon.waitUntilFlushPassesTheServersPositionAtRestart(cluster)
            load.cancel()
            switches.cancel()
            let transactions = try await cluster.sql("SELECT count(*) FROM pgbench_history").trimmingCharacters(in: .whitespacesAndNewlines)
            #expect((Int(transactions) ?? 0) > 0, "pgbench ran: \(transactions) transactions")
            let last = try await fixture.switchSegment()
            try await fixture.waitForArchive(of: last, daemon: daemon.process)
            // `docker stop`: SIGTERM to the namespace's init (unshare forwards nothing).
            kill(daemon.pid, SIGTERM)
            let stopped = try await daemon.process.wait()
            #expect(stopped.status == 0, "\(stopped.standardError.suffix(2000))")
            #expect(stopped.standardError.contains("WAL streaming stopped"))

            let archive = WALArchive(repository: try fixture.repository.mainServer, segmentSize: DaemonFixture.segmentSize, compression: .zstd(level: 1))
            let continuity = try await archive.continuity()
            #expect(continuity.isContiguous, "gaps: \(continuity.timelines.flatMap(\.gaps))")
            let segments = try await fixture.archivedSegments()
            #expect(segments.count > Self.cycles, "\(segments.count) segments archived")
            #expect(segments.last.map { $0 >= last } == true)
            for segment in segments.suffix(3) { _ = try await fixture.fetchedMatchesServer(segment) }
            #expect(temporaryFiles(under: repository).isEmpty, "a graceful stop leaves no temporary file")
            print("PID 1 kill -9 cycles: \(midUpload) mid-upload of \(attempts) kills under \(transactions) pgbench transactions; \(segments.count) segments archived, contiguous\n  " + measured.joined(separator: "\n  "))
        }
    }

    func slotRestartLSN(_ cluster: PostgresCluster) async throws -> LSN {
        let text = try await cluster.sql("SELECT restart_lsn FROM pg_replication_slots WHERE slot_name = 'pgbackup'")
        return try #require(LSN(text.trimmingCharacters(in: .whitespacesAndNewlines)), "restart_lsn '\(text)'")
    }

    func waitUntil(_ what: String, daemon: PIDOneDaemon, timeout: Duration = .seconds(30), _ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        while !condition() {
            guard ContinuousClock.now < deadline else {
                throw FixtureError("timed out: \(what); daemon log: \(daemon.process.standardError.suffix(3000))")
            }
            try await Task.sleep(for: .milliseconds(100))
        }
    }
}

/// Paths of the `.pgbackup-tmp.*` files under `root`.
func temporaryFiles(under root: String) -> [String] {
    guard let walker = FileManager.default.enumerator(atPath: root) else { return [] }
    return walker.compactMap { $0 as? String }
        .filter { ($0 as NSString).lastPathComponent.hasPrefix(".pgbackup-tmp.") }
        .map { root + "/" + $0 }
}

/// `pgbackup daemon` run as `unshare --pid --fork --mount-proc --kill-child pgbackup daemon …`:
/// PID 1 of a new PID namespace, as in a container.
struct PIDOneDaemon {
    /// The `unshare` process, whose exit reports the daemon's.
    let process: BackgroundProcess
    /// The daemon's PID outside its namespace.
    let pid: pid_t

    init(_ fixture: DaemonFixture) throws {
        var env = fixture.environment
        env["PATH"] = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        env["PGBACKUP_CONFIG"] = "/dev/null"
        process = try BackgroundProcess(
            "/usr/bin/unshare",
            ["--pid", "--fork", "--mount-proc", "--kill-child", PGBackupBinary.path, "daemon", "--log-level", "debug",
             "--status-interval", "1", "--partial-interval", "1"],
            environment: env)
        // unshare forks the daemon at once; it is the namespace's init.
        let deadline = ContinuousClock.now + .seconds(10)
        var child: pid_t?
        while child == nil {
            let children = (try? String(contentsOfFile: "/proc/\(process.pid)/task/\(process.pid)/children", encoding: .utf8)) ?? ""
            child = children.split(separator: " ").first.flatMap { pid_t($0) }
            guard child == nil else { break }
            guard process.isRunning, ContinuousClock.now < deadline else {
                throw FixtureError("unshare did not start the daemon: \(process.standardError)")
            }
            usleep(5_000)
        }
        pid = child!
        let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        let namespacePIDs = status.split(separator: "\n").first { $0.hasPrefix("NSpid:") }?.split(whereSeparator: \.isWhitespace).dropFirst()
        guard namespacePIDs?.last == "1" else { throw FixtureError("the daemon is not PID 1 in its namespace: \(namespacePIDs ?? [])") }
    }

    /// Waits (at most 200 ms) until every thread of the daemon is stopped by SIGSTOP.
    func waitUntilEveryThreadStopped() {
        let deadline = ContinuousClock.now + .milliseconds(200)
        while ContinuousClock.now < deadline {
            let threads = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
            let running = threads.contains { thread in
                let stat = (try? String(contentsOfFile: "/proc/\(pid)/task/\(thread)/stat", encoding: .utf8)) ?? ""
                let state = stat.split(separator: ")").last?.split(separator: " ").first
                return state != nil && state != "T" && state != "t"
            }
            if !running { return }
            usleep(100)
        }
    }

    /// Waits until the slot's flush position (what the daemon reported as stored in the
    /// repository) passes the server's current WAL position as of now.
    func waitUntilFlushPassesTheServersPositionAtRestart(_ cluster: PostgresCluster) async throws {
        let target = try await cluster.currentWALLSN()
        let process = self.process
        try await cluster.waitUntil("the daemon's flush passes \(target)", timeout: .seconds(45)) {
            guard process.isRunning else { throw FixtureError("the daemon exited: \(process.standardError.suffix(3000))") }
            let flushed = try await cluster.sql("SELECT flush_lsn FROM pg_stat_replication WHERE application_name = 'pgbackup'")
            return LSN(flushed.trimmingCharacters(in: .whitespacesAndNewlines)).map { $0 >= target } ?? false
        }
    }

    /// Freezes the daemon (SIGSTOP) again and again, each time looking at the repository's WAL
    /// directories (only those of completed segments with `ofACompletedSegment`) while it cannot
    /// move: a temporary file there is a put under way, and the daemon gets SIGKILL before it
    /// runs on; otherwise it continues (SIGCONT) for a moment. Polling a running daemon instead
    /// misses puts that last milliseconds when the machine is busy. Returns that file's name once
    /// the daemon died by the signal.
    func killDuringAPut(repository: String, ofACompletedSegment: Bool, timeout: Duration = .seconds(150)) async throws -> String {
        let wal = repository + "/main/wal"
        let deadline = ContinuousClock.now + timeout
        var seen: String?
        while seen == nil {
            guard process.isRunning, ContinuousClock.now < deadline else {
                kill(pid, SIGCONT)
                throw FixtureError("no put seen in time; daemon log: \(process.standardError.suffix(3000))")
            }
            guard kill(pid, SIGSTOP) == 0 else {
                throw FixtureError("the daemon was gone before the kill: \(process.standardError.suffix(3000))")
            }
            waitUntilEveryThreadStopped()
            let directories = ((try? FileManager.default.contentsOfDirectory(atPath: wal)) ?? [])
                .filter { !ofACompletedSegment || $0 != "partial" }
            seen = directories.lazy.compactMap { directory in
                ((try? FileManager.default.contentsOfDirectory(atPath: wal + "/" + directory)) ?? []).first { $0.hasPrefix(".pgbackup-tmp.") }
            }.first
            if seen != nil {
                kill(pid, SIGKILL)
            } else {
                kill(pid, SIGCONT)
                // Run slices of random length: the daemon must progress (a loaded machine makes
                // each look slow), and a fixed rhythm could keep missing puts of a fixed period.
                try await Task.sleep(for: .milliseconds(Int.random(in: 2...25)))
            }
        }
        // SIGKILL cannot be caught, and the daemon was alive when it was sent. unshare reaps it
        // and exits; util-linux 2.38's exits 1 ("sigprocmask unblock failed") instead of dying by
        // the same signal, so its status proves nothing: check that the daemon is gone instead,
        // and that it did not stop gracefully.
        let result = try await process.wait(timeout: .seconds(30))
        let state = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8))?.split(separator: ")").last?.split(separator: " ").first
        guard state == nil || state == "Z", !result.standardError.contains("WAL streaming stopped") else {
            throw FixtureError("the daemon did not die by SIGKILL (state \(state ?? "-")): \(result.standardError.suffix(2000))")
        }
        return seen!
    }
}
