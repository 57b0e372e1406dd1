import Foundation
import Testing
import PGBackupFoundations
import PGBackupRepository
import PGBackupTestSupport

#if canImport(Glibc)
import Glibc
#endif

/// Issue 13: the daemon streams only from the primary of a multi-host conninfo and follows it
/// across failovers. Primary A and its standby B run as two "hosts" (two ports on 127.0.0.1).
@Suite("pgbackup daemon: following the primary across failovers", .serialized)
struct DaemonFailoverEndToEndTests {
    static let rowsPerBatch = 1000

    /// `host=127.0.0.1,… port=<first>,…` with A's replication role, in the order given.
    static func hosts(_ servers: [PostgresCluster]) -> String {
        let a = servers[0]
        return "host=\(servers.map { _ in "127.0.0.1" }.joined(separator: ",")) port=\(servers.map { String($0.port) }.joined(separator: ","))"
            + " user=\(a.replicationUser) password=\(a.replicationPassword) dbname=postgres connect_timeout=5"
    }

    /// Makes `standby` the synchronous standby of `primary` (`synchronous_commit = on`): a commit
    /// on the primary returns once the standby has flushed it, so "committed on A" is on B.
    static func makeSynchronous(_ standby: PostgresCluster, of primary: PostgresCluster) async throws {
        let name = try await primary.sql("SELECT application_name FROM pg_stat_replication WHERE application_name <> 'pgbackup' LIMIT 1")
        _ = try await primary.sql("ALTER SYSTEM SET synchronous_standby_names = '\"\(name)\"'", "SELECT pg_reload_conf()")
        try await primary.waitUntil("the standby is synchronous", timeout: .seconds(30)) {
            try await primary.sql("SELECT sync_state FROM pg_stat_replication WHERE application_name = '\(name)'") == "sync"
        }
    }

    static func insertBatch(_ number: Int, on server: PostgresCluster) async throws {
        _ = try await server.sql("INSERT INTO rows SELECT \(number), g FROM generate_series(1, \(rowsPerBatch)) g")
    }

    static func expected(_ batches: [Int]) -> [Int: Int] {
        Dictionary(uniqueKeysWithValues: batches.map { ($0, rowsPerBatch) })
    }

    /// A base backup taken from `server` alone.
    static func backUp(_ fixture: DaemonFixture, from server: PostgresCluster) async throws -> String {
        let backup = try await PGBackupBinary.run(["backup"], environment: fixture.environment.merging(["PGBACKUP_CONNINFO": server.conninfo(replication: true)]) { $1 })
        try #require(backup.status == 0, "backup: \(backup.standardError)")
        return backup.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The daemon with short intervals (a re-survey every second) and `conninfo` if given.
    static func startDaemon(_ fixture: DaemonFixture, conninfo: String? = nil) throws -> BackgroundProcess {
        var env = fixture.environment
        if let conninfo { env["PGBACKUP_CONNINFO"] = conninfo }
        env["PATH"] = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        env["PGBACKUP_CONFIG"] = "/dev/null"
        return try BackgroundProcess(
            PGBackupBinary.path,
            ["daemon", "--log-level", "debug", "--status-interval", "1", "--partial-interval", "1", "--resurvey-interval", "1"],
            environment: env)
    }

    static func slot(on server: PostgresCluster) async throws -> String {
        try await server.sql("SELECT coalesce((SELECT active::text FROM pg_replication_slots WHERE slot_name = 'pgbackup'), 'none')")
    }

    static func waitForLog(_ text: String, in daemon: BackgroundProcess, timeout: Duration = .seconds(60)) async throws {
        let found = try await DaemonRPOZeroTests.waitForLog(text, in: daemon, timeout: timeout)
        try #require(found, "'\(text)' not logged in time; daemon log: \(daemon.standardError.suffix(4000))")
    }

    /// Streams from A with B listed first, never from B; A crashes for good, B is promoted and
    /// takes writes: the daemon follows B, stores `00000002.history`, and the latest restore has
    /// every row committed on A (B is synchronous) and every row written on B.
    @Test(arguments: RepositoryKind.tested)
    func theDaemonStreamsFromThePrimaryOnlyAndFollowsItAfterACrash(kind: RepositoryKind) async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        try await withPostgresCluster(DaemonFixture.options) { a in
            let b = try await a.makeStandby(name: "b")
            try await Self.makeSynchronous(b, of: a)
            let fixture = try await DaemonFixture(kind, cluster: a, scratch: scratch, conninfo: Self.hosts([b, a]))
            _ = try await a.sql("CREATE TABLE rows (batch int, id int)")
            _ = try await Self.backUp(fixture, from: a)
            let daemon = try Self.startDaemon(fixture)
            defer { daemon.send(SIGKILL) }

            // B answers first; A is the primary: the slot is A's, and it is the daemon's.
            try await a.waitUntil("the daemon streams from A", timeout: .seconds(60)) { try await Self.slot(on: a) == "true" }
            #expect(try await Self.slot(on: b) == "none", "no pgbackup slot on the standby")
            try await Self.insertBatch(1, on: a)
            let onA = try await fixture.switchSegment(on: a)
            try await fixture.waitForArchive(of: onA, daemon: daemon)
            #expect(try await fixture.fetchedMatchesServer(onA, server: a))
            #expect(daemon.standardError.contains("server=127.0.0.1:\(a.port)"), "\(daemon.standardError.suffix(3000))")
            let streamedFrom = daemon.standardError.split(separator: "\n").filter { $0.contains("streaming WAL") }
            #expect(!streamedFrom.isEmpty && streamedFrom.allSatisfy { $0.contains("server=127.0.0.1:\(a.port)") }, "\(streamedFrom)")

            // A dies for good; B takes over.
            try await Self.insertBatch(2, on: a)
            try await a.crash()
            try await b.promote()
            try await Self.insertBatch(3, on: b)
            let onB = try await fixture.switchSegment(on: b)
            #expect(onB.timeline == TimelineID(2))
            // Followed B: the timeline-2 segment is archived (waitForArchive's timeout is a hang
            // guard), from a slot the daemon made on B.
            try await fixture.waitForArchive(of: onB, daemon: daemon, timeout: .seconds(60))
            #expect(try await Self.slot(on: b) == "true", "the daemon made its slot on B and streams from it")
            #expect(try await fixture.repository.exists("main/wal/00000002.history"))
            #expect(daemon.standardError.contains("server=127.0.0.1:\(b.port)"))

            daemon.send(SIGTERM)
            _ = try await daemon.wait()
            try fixture.repository.letTheServerUse(a.serverUser)
            let restored = try await RestoreEndToEndTests.restoreAndCount(fixture, [], name: "after-failover-\(kind)")
            #expect(restored == Self.expected([1, 2, 3]), "every row committed on A and on B: \(restored)")
        }
    }

    /// The daemon paused (SIGSTOP) while A writes several segments that B replays; A crashes, B
    /// is promoted, the daemon resumes: it completes timeline 1 up to the fork point from B (no
    /// gap). Then A comes back as a primary on timeline 1 and takes writes, listed first: the
    /// daemon (running, then restarted) stays on B with a split brain ALERT, and the latest
    /// restore has B's rows, not A's.
    @Test func aDaemonBehindCompletesTheOldTimelineFromTheNewPrimaryAndIgnoresTheOldOne() async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        try await withPostgresCluster(DaemonFixture.options) { a in
            let b = try await a.makeStandby(name: "b")
            try await Self.makeSynchronous(b, of: a)
            let fixture = try await DaemonFixture(.file, cluster: a, scratch: scratch, conninfo: Self.hosts([b, a]))
            _ = try await a.sql("CREATE TABLE rows (batch int, id int)")
            _ = try await Self.backUp(fixture, from: a)
            let daemon = try Self.startDaemon(fixture)
            defer { daemon.send(SIGKILL) }
            try await a.waitUntil("the daemon streams from A", timeout: .seconds(60)) { try await Self.slot(on: a) == "true" }
            try await Self.insertBatch(1, on: a)
            try await fixture.waitForArchive(of: try await fixture.switchSegment(on: a), daemon: daemon)
            let before = try await fixture.archivedSegments()

            daemon.send(SIGSTOP)
            for batch in 2...5 {
                _ = try await a.sql("INSERT INTO rows SELECT \(batch), g FROM generate_series(1, \(Self.rowsPerBatch)) g",
                                    "CREATE TABLE IF NOT EXISTS filler AS SELECT 1 AS i", "INSERT INTO filler SELECT generate_series(1, 15000)")
                _ = try await fixture.switchSegment(on: a)
            }
            try await b.waitForReplay(of: a)
            try await a.crash()
            try await b.promote()
            daemon.send(SIGCONT)
            try await Self.insertBatch(10, on: b)
            let onB = try await fixture.switchSegment(on: b)
            try await fixture.waitForArchive(of: onB, daemon: daemon, timeout: .seconds(60))

            #expect(!daemon.standardError.contains("the archive has a gap"), "\(daemon.standardError.suffix(3000))")
            #expect(try await fixture.repository.keys(under: "main/wal/gaps/").isEmpty)
            let segments = try await fixture.archivedSegments()
            let one = segments.filter { $0.timeline == TimelineID(1) }
            let two = segments.filter { $0.timeline == TimelineID(2) && $0 <= onB }
            #expect(one.count >= before.count + 4, "timeline 1 completed from B: \(segments.map(\.name))")
            #expect(isContiguous(one) && isContiguous(two), "\(segments.map(\.name))")
            #expect(one.last?.segmentNumber.advanced(by: 1) == two.first?.segmentNumber, "no gap across the switch: \(segments.map(\.name))")
            for segment in one.suffix(3) + two { #expect(try await fixture.fetchedMatchesServer(segment, server: b)) }

            // Split brain: A comes back as a primary on timeline 1 and takes writes.
            try await a.startServer()
            _ = try await a.sql("ALTER SYSTEM RESET synchronous_standby_names", "SELECT pg_reload_conf()")
            try await Self.insertBatch(100, on: a)
            _ = try await fixture.switchSegment(on: a)
            try await Self.waitForLog("ALERT: split brain", in: daemon)
            let brain = try await CheckEndToEndTests.check(fixture, extra: ["PGBACKUP_CONNINFO": Self.hosts([a, b])], password: a.replicationPassword)
            #expect(brain.checks["primary"]?.ok == false && brain.checks["primary"]?.detail.contains("ALERT: split brain") == true, "\(brain.output)")
            #expect(brain.checks["primary"]?.detail.contains("127.0.0.1:\(b.port)") == true, "\(brain.output)")
            daemon.send(SIGTERM)
            _ = try await daemon.wait()
            #expect(daemon.standardError.components(separatedBy: "ALERT: split brain").count == 2, "alerted once, not every second")
            for line in daemon.standardError.split(separator: "\n") where line.contains("ALERT") || line.contains("unable to find the primary") {
                print("daemon: \(line)")
            }

            let restarted = try Self.startDaemon(fixture, conninfo: Self.hosts([a, b]))
            defer { restarted.send(SIGKILL) }
            try await Self.waitForLog("ALERT: split brain", in: restarted)
            try await Self.waitForLog("server=127.0.0.1:\(b.port)", in: restarted)
            try await Self.insertBatch(11, on: b)
            try await fixture.waitForArchive(of: try await fixture.switchSegment(on: b), daemon: restarted, timeout: .seconds(60))
            #expect(try await Self.slot(on: a) == "false", "nothing streams from A")
            restarted.send(SIGTERM)
            _ = try await restarted.wait()
            #expect(!restarted.standardError.contains("not in this server's history"), "\(restarted.standardError.suffix(3000))")

            // `pgbackup backup` chooses as the daemon does: never from the former primary.
            let fromA = try await PGBackupBinary.run(["backup"], environment: fixture.environment.merging(["PGBACKUP_CONNINFO": a.conninfo(replication: true)]) { $1 })
            #expect(fromA.status == 1 && fromA.standardError.contains("former primary that diverged"), "\(fromA.standardError)")
            let fromBoth = try await PGBackupBinary.run(["backup"], environment: fixture.environment.merging(["PGBACKUP_CONNINFO": Self.hosts([a, b])]) { $1 })
            try #require(fromBoth.status == 0, "\(fromBoth.standardError)")
            let shown = try await PGBackupBinary.run(["show", fromBoth.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines), "--json"], environment: fixture.environment)
            let manifest = try #require(try JSONSerialization.jsonObject(with: Data(shown.standardOutput.utf8)) as? [String: Any], "\(shown.standardError)")
            #expect("\(manifest["timeline"] ?? "")" == "2", "the backup came from B: \(shown.standardOutput.prefix(400))")

            try fixture.repository.letTheServerUse(a.serverUser)
            let restored = try await RestoreEndToEndTests.restoreAndCount(fixture, [], name: "split-brain")
            #expect(restored == Self.expected([1, 2, 3, 4, 5, 10, 11]), "B's history, none of A's writes after the fork: \(restored)")
        }
    }

    /// The old primary got further than the new one: B stops (falls behind) while A writes
    /// segments the daemon archives, A crashes, B is promoted. The repository holds timeline 1
    /// past B's switch point: the daemon starts timeline 2 at the switch point's segment (never
    /// asking B for timeline-1 WAL it says is not in its history), and the latest restore has
    /// what B has, not A's writes after B fell behind.
    @Test func aRepositoryPastTheForkPointStartsTheNewTimelineAtTheSwitchPoint() async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        try await withPostgresCluster(DaemonFixture.options) { a in
            let b = try await a.makeStandby(name: "b")
            let fixture = try await DaemonFixture(.file, cluster: a, scratch: scratch, conninfo: Self.hosts([b, a]))
            _ = try await a.sql("CREATE TABLE rows (batch int, id int)")
            _ = try await Self.backUp(fixture, from: a)
            let daemon = try Self.startDaemon(fixture)
            defer { daemon.send(SIGKILL) }
            try await a.waitUntil("the daemon streams from A", timeout: .seconds(60)) { try await Self.slot(on: a) == "true" }
            try await Self.insertBatch(1, on: a)
            try await fixture.waitForArchive(of: try await fixture.switchSegment(on: a), daemon: daemon)
            try await b.waitForReplay(of: a)

            try await b.stop()
            try await Self.insertBatch(2, on: a)
            var last = try await fixture.switchSegment(on: a)
            for _ in 0..<2 {
                _ = try await a.sql("CREATE TABLE IF NOT EXISTS filler AS SELECT 1 AS i", "INSERT INTO filler SELECT generate_series(1, 15000)")
                last = try await fixture.switchSegment(on: a)
            }
            try await fixture.waitForArchive(of: last, daemon: daemon)
            try await a.crash()
            try await b.startServer()
            try await b.promote()
            let history = try await b.sql("SELECT pg_read_file('pg_wal/00000002.history')")
            let switchpoint = try #require(TimelineHistory(parsing: history, timeline: TimelineID(2)).switchpoint(of: TimelineID(1)))
            #expect(last.endLSN > switchpoint, "the repository holds timeline 1 past B's switch point \(switchpoint)")

            try await Self.insertBatch(3, on: b)
            let onB = try await fixture.switchSegment(on: b)
            try await fixture.waitForArchive(of: onB, daemon: daemon, timeout: .seconds(60))
            let segments = try await fixture.archivedSegments()
            let two = segments.filter { $0.timeline == TimelineID(2) && $0 <= onB }
            #expect(two.first == WALSegmentName(timeline: TimelineID(2), containing: switchpoint, segmentSize: DaemonFixture.segmentSize), "\(segments.map(\.name))")
            #expect(isContiguous(two))
            for segment in two { #expect(try await fixture.fetchedMatchesServer(segment, server: b)) }
            #expect(try await fixture.repository.exists("main/wal/00000002.history"))
            daemon.send(SIGTERM)
            _ = try await daemon.wait()
            #expect(!daemon.standardError.contains("not in this server's history"), "\(daemon.standardError.suffix(3000))")

            try fixture.repository.letTheServerUse(a.serverUser)
            let restored = try await RestoreEndToEndTests.restoreAndCount(fixture, [], name: "past-the-fork")
            #expect(restored == Self.expected([1, 3]), "B's history: \(restored)")
        }
    }

    /// `check` with the primary stopped and only the standby answering: unhealthy, naming the
    /// standby. Then B is promoted with no slot and a tiny `wal_keep_size` and writes before the
    /// daemon comes back: the gap is recorded and reported, and the daemon takes a backup from B
    /// at once.
    @Test func aGapAfterAFailoverIsRecordedAndABackupFollows() async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        try await withPostgresCluster(DaemonFixture.options) { a in
            let b = try await a.makeStandby(name: "b")
            let fixture = try await DaemonFixture(.file, cluster: a, scratch: scratch, conninfo: Self.hosts([b, a]))
            _ = try await a.sql("CREATE TABLE rows (batch int, id int)")
            let first = try await Self.backUp(fixture, from: a)
            let daemon = try Self.startDaemon(fixture)
            defer { daemon.send(SIGKILL) }
            try await a.waitUntil("the daemon streams from A", timeout: .seconds(60)) { try await Self.slot(on: a) == "true" }
            try await Self.insertBatch(1, on: a)
            try await fixture.waitForArchive(of: try await fixture.switchSegment(on: a), daemon: daemon)
            daemon.send(SIGTERM)
            _ = try await daemon.wait()

            try await b.waitForReplay(of: a)
            try await a.stop()
            let onlyStandby = try await CheckEndToEndTests.check(fixture, password: a.replicationPassword)
            let primary = onlyStandby.checks["primary"]
            #expect(onlyStandby.status == 1 && primary?.ok == false, "\(onlyStandby.output)")
            #expect(primary?.detail.contains("no primary was found") == true, "\(onlyStandby.output)")
            #expect(primary?.detail.contains("127.0.0.1:\(b.port): standby") == true, "\(onlyStandby.output)")
            #expect(primary?.detail.contains("127.0.0.1:\(a.port)") == true, "\(onlyStandby.output)")

            try await b.promote()
            _ = try await b.sql("ALTER SYSTEM SET wal_keep_size = 0", "SELECT pg_reload_conf()")
            for batch in 2...5 {
                try await Self.insertBatch(batch, on: b)
                _ = try await fixture.switchSegment(on: b)
            }
            _ = try await b.sql("CHECKPOINT")
            _ = try await b.sql("CHECKPOINT")

            let second = try Self.startDaemon(fixture)
            defer { second.send(SIGKILL) }
            try await Self.waitForLog("the archive has a gap", in: second)
            try await Self.waitForLog("after the WAL gap complete", in: second, timeout: .seconds(120))
            #expect(second.standardError.contains("taking a base backup after the WAL gap"))
            for line in second.standardError.split(separator: "\n") where line.contains("gap") { print("daemon: \(line)") }
            try await Self.insertBatch(6, on: b)
            try await fixture.waitForArchive(of: try await fixture.switchSegment(on: b), daemon: second, timeout: .seconds(60))
            second.send(SIGTERM)
            _ = try await second.wait()

            let gaps = try await fixture.repository.keys(under: "main/wal/gaps/")
            #expect(gaps.count == 1, "\(gaps)")
            let listed = try await PGBackupBinary.run(["list", "--json"], environment: fixture.environment)
            let backups = try decode([DaemonGapTests.Listed].self, listed.standardOutput)
            #expect(backups.count == 2 && backups.first?.id == first, "\(listed.standardOutput)")
            let gap = try #require(backups.first?.walGaps.first, "\(listed.standardOutput)")
            #expect(backups.last?.walGaps.isEmpty == true, "the new backup comes after the gap")
            let check = try await CheckEndToEndTests.check(fixture, extra: ["PGBACKUP_CONNINFO": Self.hosts([b])], password: a.replicationPassword)
            #expect(check.checks["continuity"]?.detail.contains(gap.firstSegment) == true, "\(check.output)")
            #expect(check.checks["primary"]?.ok == true, "\(check.output)")

            try fixture.repository.letTheServerUse(a.serverUser)
            let restored = try await RestoreEndToEndTests.restoreAndCount(fixture, [], name: "after-gap")
            #expect(restored == Self.expected([1, 2, 3, 4, 5, 6]), "the backup after the gap restores B's rows: \(restored)")
        }
    }
}
