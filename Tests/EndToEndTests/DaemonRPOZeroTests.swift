import Foundation
import Synchronization
import Testing
import PGBackupFoundations
import PGBackupTestSupport

#if canImport(Glibc)
import Glibc
#endif

/// `--synchronous` with `synchronous_commit = remote_write` is RPO 0: every commit the primary
/// acknowledged is restorable from the repository alone after the primary is lost for good,
/// whether the daemon lives on (it stores the spool's tail when the connection drops) or dies
/// with the primary (the next start stores the tail before it tries to connect).
@Suite("pgbackup daemon: RPO 0 when the primary is lost", .serialized)
struct DaemonRPOZeroTests {
    /// The highest row whose INSERT (its COMMIT) returned.
    final class Acknowledged: Sendable {
        let row = Mutex(0)
        /// The WAL insert position just before the last acknowledged row's INSERT.
        let lsn = Mutex(LSN.zero)
    }

    /// A backup, then the daemon as the synchronous standby, then a committer inserting one row
    /// per transaction until the server goes away. Returns the daemon, the committer and its count.
    static func commitSynchronously(
        _ fixture: DaemonFixture
    ) async throws -> (daemon: BackgroundProcess, committer: Task<Void, Never>, acknowledged: Acknowledged) {
        let cluster = fixture.cluster
        _ = try await cluster.sql("CREATE TABLE acked(i int PRIMARY KEY)")
        let backup = try await PGBackupBinary.run(["backup"], environment: fixture.environment)
        try #require(backup.status == 0, "backup: \(backup.standardError)")
        let daemon = try await fixture.startSynchronousDaemon()
        let acknowledged = Acknowledged()
        let committer = Task {
            for row in 1...100_000 {
                let lsn: LSN?
                do {
                    lsn = LSN(try await cluster.sql("INSERT INTO acked VALUES (\(row)) RETURNING pg_current_wal_insert_lsn()")
                        .trimmingCharacters(in: .whitespacesAndNewlines))
                } catch {
                    return  // the server is gone: this commit was never acknowledged
                }
                acknowledged.row.withLock { $0 = row }
                if let lsn { acknowledged.lsn.withLock { $0 = lsn } }
            }
        }
        try await cluster.waitUntil("some commits are acknowledged", timeout: .seconds(120)) {
            acknowledged.row.withLock { $0 } >= 20
        }
        return (daemon, committer, acknowledged)
    }

    /// Restores the latest point from the repository alone, starts it, and returns
    /// (rows, rows among 1...acknowledged).
    static func restoreAndCount(_ fixture: DaemonFixture, acknowledged: Int, name: String) async throws -> (all: Int, acknowledged: Int) {
        try fixture.repository.letTheServerUse(fixture.cluster.serverUser)
        let directory = fixture.scratch.path + "/restored-\(name)"
        let result = try await PGBackupBinary.run(["restore", "--pgdata", directory], environment: fixture.environment)
        try #require(result.status == 0, "restore: \(result.standardError)")
        let server = try await PostgresCluster.start(
            existingDataDirectory: directory, ownedTrees: [directory + ".pgbackup.yaml"], .init(name: "restored-\(name)"))
        do {
            try await server.waitUntil("recovery ends", timeout: .seconds(120)) {
                try await server.sql("SELECT pg_is_in_recovery()") == "f"
            }
            let counts = try await server.rows("SELECT count(*), count(*) FILTER (WHERE i <= \(acknowledged)) FROM acked")
            await server.destroy()
            return (Int(counts[0][0])!, Int(counts[0][1])!)
        } catch {
            let log = server.logTail(lines: 30)
            await server.destroy()
            throw FixtureError("\(error)\nrestored server's log:\n\(log)")
        }
    }

    static func waitForLog(_ text: String, in daemon: BackgroundProcess, timeout: Duration) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while !daemon.standardError.contains(text) {
            guard daemon.isRunning, ContinuousClock.now < deadline else { return false }
            try await Task.sleep(for: .milliseconds(200))
        }
        return true
    }

    @Test(arguments: RepositoryKind.tested)
    func theRunningDaemonStoresTheSpoolsTailWhenThePrimaryIsLost(kind: RepositoryKind) async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        try await withPostgresCluster(DaemonFixture.options) { cluster in
            let fixture = try await DaemonFixture(kind, cluster: cluster, scratch: scratch)
            let (daemon, committer, acknowledged) = try await Self.commitSynchronously(fixture)
            // The primary dies mid-stream and never comes back.
            try await cluster.stop(mode: .immediate)
            await committer.value
            let acked = acknowledged.row.withLock { $0 }
            // --partial-interval 0: only the lost connection makes the daemon store the tail.
            let stored = try await Self.waitForLog("stored partial WAL segment", in: daemon, timeout: .seconds(30))
            #expect(stored, "the daemon did not store the spool's tail: \(daemon.standardError.suffix(2000))")
            daemon.send(SIGTERM)
            #expect(try await daemon.wait().status == 0)

            // The tail is part of the archive's end: a target inside it is restorable.
            let lastLSN = acknowledged.lsn.withLock { $0 }
            let segments = try await fixture.archivedSegments()
            #expect(!segments.contains { $0.startLSN <= lastLSN && lastLSN < $0.endLSN }, "the last commit lies in the partial tail")
            let toLSN = try await PGBackupBinary.run(
                ["restore", "--pgdata", scratch.path + "/restored-lsn", "--target-lsn", "\(lastLSN)"], environment: fixture.environment)
            #expect(toLSN.status == 0, "a target in the stored tail: \(toLSN.standardError)")

            let restored = try await Self.restoreAndCount(fixture, acknowledged: acked, name: "running")
            print("RPO 0, daemon running (\(kind)): \(acked) commits acknowledged, \(restored.all) rows restored")
            #expect(restored.acknowledged == acked, "\(acked) commits acknowledged, \(restored.acknowledged) of them restored")
            #expect(restored.all <= acked + 1, "at most the one commit in flight beyond the acknowledged ones")
        }
    }

    @Test(arguments: RepositoryKind.tested)
    func aDaemonKilledWithThePrimaryStoresTheSpoolsTailBeforeRetrying(kind: RepositoryKind) async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        try await withPostgresCluster(DaemonFixture.options) { cluster in
            let fixture = try await DaemonFixture(kind, cluster: cluster, scratch: scratch)
            let (daemon, committer, acknowledged) = try await Self.commitSynchronously(fixture)
            // The sidecar and the primary die together.
            daemon.send(SIGKILL)
            try await daemon.wait()
            try await cluster.stop(mode: .immediate)
            await committer.value
            let acked = acknowledged.row.withLock { $0 }
            let spool = scratch.path + "/spool/main"
            let partials = try FileManager.default.contentsOfDirectory(atPath: spool).filter { $0.hasSuffix(".partial") }
            #expect(!partials.isEmpty, "the acknowledged tail is in the spool's .partial file")

            // Restarted with the primary unreachable.
            let restarted = try fixture.startDaemon(["--synchronous", "--status-interval", "10", "--partial-interval", "0"])
            let stored = try await Self.waitForLog("the spool's tail", in: restarted, timeout: .seconds(60))
            #expect(stored, "the restarted daemon did not store the spool's tail: \(restarted.standardError.suffix(2000))")
            #expect(try await Self.waitForLog("reconnecting", in: restarted, timeout: .seconds(30)))
            restarted.send(SIGTERM)
            let log = try await restarted.wait()
            #expect(log.status == 0)
            let tail = try #require(log.standardError.range(of: "the spool's tail"), "\(log.standardError.suffix(2000))")
            let retry = try #require(log.standardError.range(of: "reconnecting"))
            #expect(tail.lowerBound < retry.lowerBound, "the tail is stored before the first retry")
            let left = try FileManager.default.contentsOfDirectory(atPath: spool).filter { $0.hasSuffix(".partial") }
            #expect(left.isEmpty, "a spool tail the repository holds goes: \(left)")

            let restored = try await Self.restoreAndCount(fixture, acknowledged: acked, name: "killed")
            print("RPO 0, daemon killed with the primary (\(kind)): \(acked) commits acknowledged, \(restored.all) rows restored")
            #expect(restored.acknowledged == acked, "\(acked) commits acknowledged, \(restored.acknowledged) of them restored")
            #expect(restored.all <= acked + 1)
        }
    }
}
