import Foundation
import Testing
import PGBackupFoundations
import PGBackupTestSupport

#if canImport(Glibc)
import Glibc
#endif

/// A cluster with 1 MiB WAL segments (many segments from little load), a repository of either
/// kind, a spool, and the built `pgbackup daemon` streaming from it.
struct DaemonFixture {
    let cluster: PostgresCluster
    let scratch: ScratchDirectory
    let conninfo: String
    let repository: TestRepository
    /// More settings for every command (`PGBACKUP_ENCRYPTION_KEY_FILE`, …).
    let extraEnvironment: [String: String]
    /// Every major's server binaries the tests reach (`PostgresBinaries.bindirSetting()`), for a
    /// daemon's verify-restore of a backup of any major.
    let postgresBindir: String
    var environment: [String: String] {
        repository.environment.merging([
            "PGBACKUP_CONNINFO": conninfo, "PGBACKUP_SPOOL": scratch.path + "/spool", "PGBACKUP_POSTGRES_BINDIR": postgresBindir,
        ]) { $1 }
            .merging(extraEnvironment) { $1 }
    }
    static let segmentSize = try! WALSegmentSize(megabytes: 1)
    static let options = PostgresCluster.Options(settings: ["wal_keep_size": "'256MB'"], walSegmentSizeMB: 1)

    /// Runs `pgbackup init` on a fresh repository of `kind`; with `s3Endpoint`, the binary talks
    /// to S3 there (a fault proxy).
    init(
        _ kind: RepositoryKind, cluster: PostgresCluster, scratch: ScratchDirectory, conninfo: String? = nil, s3Endpoint: String? = nil,
        extraEnvironment: [String: String] = [:]
    ) async throws {
        self.cluster = cluster
        self.extraEnvironment = extraEnvironment
        self.scratch = scratch
        self.conninfo = conninfo ?? cluster.conninfo(replication: true)
        postgresBindir = await PostgresBinaries.bindirSetting()
        repository = try await TestRepository.make(kind, in: scratch, endpoint: s3Endpoint)
        let initialized = try await PGBackupBinary.run(["init"], environment: environment)
        guard initialized.status == 0 else { throw FixtureError("init failed: \(initialized.standardError)") }
    }

    func startDaemon(_ arguments: [String] = ["--status-interval", "1", "--partial-interval", "1"]) throws -> BackgroundProcess {
        var env = environment
        env["PATH"] = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        env["PGBACKUP_CONFIG"] = "/dev/null"
        return try BackgroundProcess(PGBackupBinary.path, ["daemon", "--log-level", "debug"] + arguments, environment: env)
    }

    /// Starts the daemon with `--synchronous` (periodic status every `statusInterval` seconds, no
    /// periodic partial copies) and makes it the cluster's synchronous standby with
    /// `synchronous_commit = remote_write`.
    func startSynchronousDaemon(statusInterval: Int = 10) async throws -> BackgroundProcess {
        let daemon = try startDaemon(["--synchronous", "--status-interval", "\(statusInterval)", "--partial-interval", "0"])
        try await cluster.waitUntil("the daemon streams", timeout: .seconds(60)) {
            try await cluster.sql("SELECT count(*) FROM pg_stat_replication WHERE application_name = 'pgbackup'").contains("1")
        }
        _ = try await cluster.sql("ALTER SYSTEM SET synchronous_standby_names = 'pgbackup'",
                                  "ALTER SYSTEM SET synchronous_commit = 'remote_write'", "SELECT pg_reload_conf()")
        try await cluster.waitUntil("the daemon is the synchronous standby", timeout: .seconds(30)) {
            try await cluster.sql("SELECT sync_state FROM pg_stat_replication WHERE application_name = 'pgbackup'").contains("sync")
        }
        return daemon
    }

    /// The completed segments the repository holds, by timeline, sorted.
    func archivedSegments() async throws -> [WALSegmentName] {
        try await repository.archivedSegments(segmentSize: Self.segmentSize)
    }

    /// Waits until the repository holds `segment`.
    func waitForArchive(of segment: WALSegmentName, daemon: BackgroundProcess, timeout: Duration = .seconds(90)) async throws {
        let deadline = ContinuousClock.now + timeout
        while try await !archivedSegments().contains(segment) {
            guard daemon.isRunning else { throw FixtureError("the daemon exited: \(daemon.standardError.suffix(3000))") }
            guard ContinuousClock.now < deadline else {
                throw FixtureError("segment \(segment.name) not archived in time; daemon log: \(daemon.standardError.suffix(3000))")
            }
            try await Task.sleep(for: .milliseconds(200))
        }
    }

    /// Switches to a new segment and returns the one just completed.
    func switchSegment(on server: PostgresCluster? = nil) async throws -> WALSegmentName {
        let server = server ?? cluster
        _ = try await server.sql("CREATE TABLE IF NOT EXISTS switch_marker(i int)", "INSERT INTO switch_marker VALUES (1)")
        // pg_walfile_name of pg_switch_wal()'s result names the segment the switch completed.
        let name = try await server.sql("SELECT pg_walfile_name(pg_switch_wal())").trimmingCharacters(in: .whitespacesAndNewlines)
        return try WALSegmentName(parsing: name, segmentSize: Self.segmentSize)
    }

    /// Fetches `segment` with `pgbackup wal-fetch` and compares it with the server's own file.
    /// Returns false when the server no longer has the file to compare with.
    func fetchedMatchesServer(_ segment: WALSegmentName, server: PostgresCluster? = nil) async throws -> Bool {
        let serverFile = (server ?? cluster).dataDirectory + "/pg_wal/" + segment.name
        guard let expected = FileManager.default.contents(atPath: serverFile) else { return false }
        let destination = scratch.path + "/fetched-\(segment.name)"
        let fetched = try await PGBackupBinary.run(["wal-fetch", segment.name, destination], environment: environment)
        #expect(fetched.status == 0, "wal-fetch \(segment.name): \(fetched.standardError)")
        let actual = FileManager.default.contents(atPath: destination)
        #expect(actual == expected, "segment \(segment.name) differs from the server's pg_wal file")
        try? FileManager.default.removeItem(atPath: destination)
        return true
    }
}

struct FixtureError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Segments that follow one another without a gap on one timeline.
func isContiguous(_ segments: [WALSegmentName]) -> Bool {
    zip(segments, segments.dropFirst()).allSatisfy { $0.next == $1 }
}

@Suite("pgbackup daemon: WAL streaming, end to end", .serialized)
struct DaemonEndToEndTests {
    @Test(arguments: RepositoryKind.tested)
    func everyArchivedSegmentIsByteIdenticalAndAStopIsGraceful(kind: RepositoryKind) async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        try await withPostgresCluster(DaemonFixture.options) { cluster in
            let fixture = try await DaemonFixture(kind, cluster: cluster, scratch: scratch)
            let daemon = try fixture.startDaemon()
            try await cluster.waitUntil("the daemon streams", timeout: .seconds(60)) {
                try await cluster.sql("SELECT count(*) FROM pg_stat_replication WHERE application_name = 'pgbackup'").contains("1")
            }
            let bench = try await cluster.pgbench(["-i", "-s", "1", "-q"])
            #expect(bench.succeeded, "\(bench.standardError)")
            let last = try await fixture.switchSegment()
            try await fixture.waitForArchive(of: last, daemon: daemon)

            daemon.send(SIGTERM)
            let stopped = try await daemon.wait(timeout: .seconds(60))
            #expect(stopped.status == 0 && !stopped.terminatedBySignal, "daemon log: \(stopped.standardError.suffix(3000))")
            #expect(stopped.standardError.contains("final status sent"))

            let segments = try await fixture.archivedSegments().filter { $0 <= last }
            #expect(segments.count >= 10, "pgbench -i -s 1 writes over 10 MiB of WAL")
            #expect(isContiguous(segments))
            var compared = 0
            for segment in segments where try await fixture.fetchedMatchesServer(segment) { compared += 1 }
            #expect(compared >= 10)
            let spool = try FileManager.default.contentsOfDirectory(atPath: scratch.path + "/spool/main")
            #expect(!spool.contains { !$0.hasSuffix(".partial") }, "completed segments leave the spool once stored: \(spool)")
        }
    }

    @Test(arguments: RepositoryKind.tested)
    func theSlotNeverPassesWhatTheRepositoryHolds(kind: RepositoryKind) async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        try await withPostgresCluster(DaemonFixture.options) { cluster in
            let fixture = try await DaemonFixture(kind, cluster: cluster, scratch: scratch)
            // Partial uploads off (0): the repository's durable end is then exactly its last segment's end.
            let daemon = try fixture.startDaemon(["--status-interval", "0.2", "--partial-interval", "0"])
            try await cluster.waitUntil("the slot exists", timeout: .seconds(60)) {
                try await cluster.sql("SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'pgbackup' AND active").contains("1")
            }
            // Where the slot was created: the stream's start. WAL before it is not the stream's, so
            // before the first segment is stored that is the bound (a loaded machine may store the
            // first one only after pgbench -i has finished).
            let created = try #require(LSN(try await cluster.sql("SELECT restart_lsn FROM pg_replication_slots WHERE slot_name = 'pgbackup'")
                .trimmingCharacters(in: .whitespacesAndNewlines)))
            _ = try await cluster.pgbench(["-i", "-s", "1", "-q"])
            async let load = cluster.pgbench(["-c", "4", "-T", "8", "-n"])
            var samples = 0
            var advanced = Set<LSN>()
            // Sample through the load's 8 s and on until at least six samples are in: each sample runs
            // psql, which a loaded machine (the whole suite in parallel on two cores) may take a
            // second or more to start. Samples after the load are checks of the final state.
            let started = ContinuousClock.now
            while ContinuousClock.now - started < .seconds(9) || (samples <= 5 && ContinuousClock.now - started < .seconds(90)) {
                let text = try await cluster.sql("SELECT restart_lsn FROM pg_replication_slots WHERE slot_name = 'pgbackup'")
                let durableEnd = try await fixture.archivedSegments().last?.endLSN ?? created  // read after the slot: it only grows
                if let restart = LSN(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
                    #expect(restart <= durableEnd, "restart_lsn \(restart) is beyond the repository's end \(durableEnd)")
                    advanced.insert(restart)
                    samples += 1
                }
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(try await load.succeeded)
            #expect(samples > 5)
            #expect(advanced.count >= 2, "the slot moved as segments were archived")
            daemon.send(SIGTERM)
            try await daemon.wait()
        }
    }

    @Test(arguments: RepositoryKind.tested)
    func aKilledDaemonResumesWithoutAGap(kind: RepositoryKind) async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        try await withPostgresCluster(DaemonFixture.options) { cluster in
            let fixture = try await DaemonFixture(kind, cluster: cluster, scratch: scratch)
            _ = try await cluster.pgbench(["-i", "-s", "1", "-q"])
            let first = try fixture.startDaemon()
            async let load = cluster.pgbench(["-c", "2", "-T", "8", "-n"])
            try await Task.sleep(for: .seconds(3))
            first.send(SIGKILL)
            let killed = try await first.wait()
            #expect(killed.terminatedBySignal)
            try await Task.sleep(for: .seconds(1))
            let second = try fixture.startDaemon()
            #expect(try await load.succeeded)
            let last = try await fixture.switchSegment()
            try await fixture.waitForArchive(of: last, daemon: second)
            second.send(SIGTERM)
            try await second.wait()

            let segments = try await fixture.archivedSegments().filter { $0 <= last }
            #expect(isContiguous(segments), "a gap: \(segments.map(\.name))")
            #expect(segments.count >= 3)
            var compared = 0
            for segment in segments.suffix(8) where try await fixture.fetchedMatchesServer(segment) { compared += 1 }
            #expect(compared >= 3)
        }
    }

    @Test(arguments: RepositoryKind.tested)
    func aPromotionIsFollowedOntoTheNewTimeline(kind: RepositoryKind) async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        try await withPostgresCluster(DaemonFixture.options) { primary in
            let standby = try await primary.makeStandby()
            // Both hosts: the daemon streams from the primary, and moves to the standby once a
            // re-survey finds it promoted (a primary on a newer timeline).
            let fixture = try await DaemonFixture(kind, cluster: standby, scratch: scratch, conninfo: DaemonFailoverEndToEndTests.hosts([standby, primary]))
            let daemon = try fixture.startDaemon(["--status-interval", "1", "--partial-interval", "1", "--resurvey-interval", "1"])
            _ = try await primary.pgbench(["-i", "-s", "1", "-q"])
            let beforePromotion = try await fixture.switchSegment(on: primary)
            try await fixture.waitForArchive(of: beforePromotion, daemon: daemon)

            try await standby.promote()
            _ = try await standby.sql("CREATE TABLE after_promotion AS SELECT generate_series(1, 50000) AS i")
            let afterPromotion = try await fixture.switchSegment(on: standby)
            #expect(afterPromotion.timeline == TimelineID(2))
            try await fixture.waitForArchive(of: afterPromotion, daemon: daemon)
            daemon.send(SIGTERM)
            try await daemon.wait()

            #expect(try await fixture.repository.exists("main/wal/00000002.history"))
            let log = daemon.standardError
            #expect(log.contains("answers as primary on timeline 2, newer than"), "the re-survey moved the daemon: \(log.suffix(3000))")
            #expect(log.contains("server=127.0.0.1:\(standby.port)"), "\(log.suffix(3000))")
            let segments = try await fixture.archivedSegments()
            let timeline1 = segments.filter { $0.timeline == TimelineID(1) }
            let timeline2 = segments.filter { $0.timeline == TimelineID(2) && $0 <= afterPromotion }
            #expect(isContiguous(timeline1) && isContiguous(timeline2))
            // No gap across the switch: timeline 2 starts with the segment that follows timeline 1's last whole one
            // (that segment is partial on timeline 1 and whole on timeline 2).
            let switchSegment = try #require(timeline2.first)
            #expect(timeline1.last?.segmentNumber.advanced(by: 1) == switchSegment.segmentNumber)
            for segment in timeline2 { #expect(try await fixture.fetchedMatchesServer(segment, server: standby)) }
        }
    }
}
