import Foundation
import Testing
import PGBackupFoundations
import PGBackupRepository
import PGBackupTestSupport

#if canImport(Glibc)
import Glibc
#endif

@Suite("pgbackup daemon: acknowledgement, partial segments, reconnection", .serialized)
struct DaemonResilienceTests {
    @Test(arguments: RepositoryKind.tested)
    func synchronousCommitsWaitForTheSpoolAndProceed(kind: RepositoryKind) async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        try await withPostgresCluster(DaemonFixture.options) { cluster in
            let fixture = try await DaemonFixture(kind, cluster: cluster, scratch: scratch)
            _ = try await cluster.sql("CREATE TABLE synced(i int, at pg_lsn)")
            // Its own status every hour only, and the server never asks for one (its keepalive
            // requests would otherwise release a commit within wal_sender_timeout / 2): a commit
            // returns only when the daemon reports its fsync of the spool at once. One that waited
            // would hang, and psql's timeout (the cluster's 60 s) fails the test as hung.
            let daemon = try await fixture.startSynchronousDaemon(statusInterval: 3600)
            _ = try await cluster.sql("ALTER SYSTEM SET wal_sender_timeout = 0", "SELECT pg_reload_conf()")
            for i in 1...20 {
                // The LSN is taken before the commit record, so the commit ends after it.
                let before = try #require(LSN(try await cluster.sql("INSERT INTO synced VALUES (\(i), pg_current_wal_insert_lsn()) RETURNING at")
                    .trimmingCharacters(in: .whitespacesAndNewlines)))
                let written = try #require(LSN(try await cluster.sql("SELECT write_lsn FROM pg_stat_replication WHERE application_name = 'pgbackup'")
                    .trimmingCharacters(in: .whitespacesAndNewlines)))
                #expect(written > before, "commit \(i) returned before the daemon reported its WAL written")
                // Written means fsync'd in the spool: the spool file already holds that WAL.
                let segment = WALSegmentName(timeline: TimelineID(1), containing: before, segmentSize: DaemonFixture.segmentSize)
                let inSpool = (try? FileManager.default.attributesOfItem(atPath: "\(scratch.path)/spool/main/\(segment.name).partial")[.size] as? Int)
                    ?? (try? FileManager.default.attributesOfItem(atPath: "\(scratch.path)/spool/main/\(segment.name)")[.size] as? Int)
                let spooled = if let inSpool { inSpool } else { await fixture.archivedSegmentsOrEmpty().contains(segment) ? 1 << 20 : 0 }
                #expect(UInt64(spooled) > DaemonFixture.segmentSize.offset(of: before))
            }
            _ = try await cluster.sql("ALTER SYSTEM RESET synchronous_standby_names", "ALTER SYSTEM RESET wal_sender_timeout",
                                      "SELECT pg_reload_conf()")
            daemon.send(SIGTERM)
            #expect(try await daemon.wait().status == 0)
        }
    }

    @Test(arguments: RepositoryKind.tested)
    func losingTheSpoolLosesAtMostThePartialInterval(kind: RepositoryKind) async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        try await withPostgresCluster(DaemonFixture.options) { cluster in
            let fixture = try await DaemonFixture(kind, cluster: cluster, scratch: scratch)
            // A long interval: the partial segment must reach the repository because the stream
            // goes quiet after the insert, not because the timer fires.
            let daemon = try fixture.startDaemon(["--status-interval", "1", "--partial-interval", "600"])
            try await cluster.waitUntil("the daemon streams", timeout: .seconds(60)) {
                try await cluster.sql("SELECT count(*) FROM pg_stat_replication WHERE application_name = 'pgbackup'").contains("1")
            }
            _ = try await cluster.sql("CREATE TABLE kept AS SELECT generate_series(1, 2000) AS i")
            let end = try #require(LSN(try await cluster.sql("SELECT pg_current_wal_flush_lsn()").trimmingCharacters(in: .whitespacesAndNewlines)))
            let segment = WALSegmentName(timeline: TimelineID(1), containing: end, segmentSize: DaemonFixture.segmentSize)
            // The daemon reports flush only for WAL the repository holds: wait for it to cover `end`.
            try await cluster.waitUntil("the partial segment is stored", timeout: .seconds(30)) {
                let flushed = LSN(try await cluster.sql("SELECT flush_lsn FROM pg_stat_replication WHERE application_name = 'pgbackup'")
                    .trimmingCharacters(in: .whitespacesAndNewlines))
                return flushed.map { $0 >= end } ?? false
            }
            // Lose the sidecar: process and disk.
            daemon.send(SIGKILL)
            try await daemon.wait()
            try FileManager.default.removeItem(atPath: scratch.path + "/spool")

            let fetched = scratch.path + "/fetched"
            let result = try await PGBackupBinary.run(["wal-fetch", segment.name, fetched], environment: fixture.environment)
            #expect(result.status == 0, "\(result.standardError)")
            let restored = try #require(FileManager.default.contents(atPath: fetched))
            let server = try #require(FileManager.default.contents(atPath: cluster.dataDirectory + "/pg_wal/" + segment.name))
            let covered = Int(DaemonFixture.segmentSize.offset(of: end))
            #expect(restored.count == server.count, "served zero-padded to the segment size")
            #expect(restored.prefix(covered) == server.prefix(covered), "the stored partial holds the WAL up to \(end)")
        }
    }

    @Test(arguments: RepositoryKind.tested)
    func aLostConnectionIsRetriedWithoutAGap(kind: RepositoryKind) async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        try await withPostgresCluster(DaemonFixture.options) { cluster in
            let fixture = try await DaemonFixture(kind, cluster: cluster, scratch: scratch)
            let daemon = try fixture.startDaemon()
            @Sendable func streamingPID() async throws -> String {
                try await cluster.sql("SELECT pid FROM pg_stat_replication WHERE application_name = 'pgbackup'")
                    .trimmingCharacters(in: .whitespacesAndNewlines)
            }
            try await cluster.waitUntil("the daemon streams", timeout: .seconds(60)) { try await !streamingPID().isEmpty }
            let firstPID = try await streamingPID()
            _ = try await cluster.sql("CREATE TABLE before_cut AS SELECT generate_series(1, 30000) AS i")
            _ = try await cluster.sql("SELECT pg_terminate_backend(\(firstPID))")
            _ = try await cluster.sql("CREATE TABLE after_cut AS SELECT generate_series(1, 30000) AS i")
            try await cluster.waitUntil("the daemon reconnects", timeout: .seconds(60)) {
                let pid = try await streamingPID()
                return !pid.isEmpty && pid != firstPID
            }
            let last = try await fixture.switchSegment()
            try await fixture.waitForArchive(of: last, daemon: daemon)
            daemon.send(SIGTERM)
            let stopped = try await daemon.wait()
            #expect(stopped.status == 0)
            #expect(stopped.standardError.contains("reconnecting"))
            let segments = try await fixture.archivedSegments().filter { $0 <= last }
            #expect(isContiguous(segments), "a gap: \(segments.map(\.name))")
            for segment in segments.suffix(4) { _ = try await fixture.fetchedMatchesServer(segment) }
        }
    }

    @Test(arguments: RepositoryKind.tested)
    func anotherClustersRepositoryStopsTheDaemon(kind: RepositoryKind) async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        try await withPostgresCluster(DaemonFixture.options) { first in
            let fixture = try await DaemonFixture(kind, cluster: first, scratch: scratch)
            try await withPostgresCluster(DaemonFixture.options) { second in
                var env = fixture.environment
                env["PGBACKUP_CONNINFO"] = second.conninfo(replication: true)
                let result = try await PGBackupBinary.run(["daemon"], environment: env, timeout: .seconds(60))
                #expect(result.status == 1)
                #expect(result.standardError.contains("belongs to database system"))
                let slots = try await second.sql("SELECT count(*) FROM pg_replication_slots")
                #expect(slots.trimmingCharacters(in: .whitespacesAndNewlines) == "0", "no slot is created on a cluster the repository does not belong to")
            }
        }
    }
}

extension DaemonFixture {
    func archivedSegmentsOrEmpty() async -> [WALSegmentName] { (try? await archivedSegments()) ?? [] }
}

@Suite("pgbackup daemon: WAL the server no longer has", .serialized)
struct DaemonGapTests {
    @Test(arguments: RepositoryKind.tested)
    func recycledWALIsReportedAsAGapAndStreamingGoesOn(kind: RepositoryKind) async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        var options = DaemonFixture.options
        options.settings["wal_keep_size"] = "0"
        try await withPostgresCluster(options) { cluster in
            let fixture = try await DaemonFixture(kind, cluster: cluster, scratch: scratch)
            let first = try fixture.startDaemon()
            let archived = try await fixture.switchSegment()
            try await fixture.waitForArchive(of: archived, daemon: first)
            let backup = try await PGBackupBinary.run(["backup"], environment: fixture.environment)
            try #require(backup.status == 0, "backup: \(backup.standardError)")
            let backupID = backup.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
            first.send(SIGTERM)
            try await first.wait()

            // Without the slot the server recycles WAL the repository never got.
            _ = try await cluster.sql("SELECT pg_drop_replication_slot('pgbackup')")
            for _ in 0..<4 {
                _ = try await cluster.sql("CREATE TABLE IF NOT EXISTS filler(i int)", "INSERT INTO filler SELECT generate_series(1, 20000)")
                _ = try await fixture.switchSegment()
            }
            _ = try await cluster.sql("CHECKPOINT")
            _ = try await cluster.sql("CHECKPOINT")

            let second = try fixture.startDaemon()
            let later = try await fixture.switchSegment()
            try await fixture.waitForArchive(of: later, daemon: second)
            second.send(SIGTERM)
            let stopped = try await second.wait()
            #expect(stopped.status == 0)
            #expect(stopped.standardError.contains("the archive has a gap"), "log: \(stopped.standardError.suffix(2000))")
            let segments = try await fixture.archivedSegments()
            #expect(!isContiguous(segments), "the gap stays visible: \(segments.map(\.name))")
            #expect(segments.contains(archived) && segments.contains(later))
            try await Self.theGapIsRecordedListedAndRefused(fixture, segments: segments, backupID: backupID)
        }
    }

    /// A backup (`list`/`show` JSON) with the recorded gaps after it.
    struct Listed: Decodable {
        var id: String
        var walGaps: [WALGap]
    }

    /// The repository records the gap (which segments, when, why); `list` and `show` (text and
    /// JSON) show it; a restore target inside it is refused naming it, before anything is written.
    static func theGapIsRecordedListedAndRefused(_ fixture: DaemonFixture, segments: [WALSegmentName], backupID: String) async throws {
        let keys = try await fixture.repository.keys(under: "main/wal/gaps/")
        #expect(keys.count == 1, "one gap record: \(keys)")
        let listed = try await PGBackupBinary.run(["list", "--json"], environment: fixture.environment)
        #expect(listed.status == 0, "\(listed.standardError)")
        let backups = try decode([Listed].self, listed.standardOutput)
        let gap = try #require(backups.first?.walGaps.first, "list --json: \(listed.standardOutput)")
        #expect(backups.first?.id == backupID && backups[0].walGaps.count == 1)
        // The daemon takes a backup at once after recording the gap: a restorable point after it.
        #expect(backups.count == 2 && backups.last?.walGaps.isEmpty == true, "a backup after the gap: \(listed.standardOutput)")
        // Exactly the segments the repository lacks between the two runs it holds.
        let lacking = zip(segments, segments.dropFirst()).first { $0.next != $1 }
        let (before, after) = try #require(lacking)
        #expect(gap.firstSegment == before.next!.name && gap.lastSegment == after.previous!.name, "\(gap) vs \(segments.map(\.name))")
        #expect(gap.startLSN == before.endLSN && gap.endLSN == after.startLSN)
        #expect(gap.reason.contains("removed"), "why: \(gap.reason)")
        #expect(abs(gap.detectedAt.timeIntervalSinceNow) < 600, "when: \(gap.detectedAt)")
        #expect(keys.first?.hasSuffix("\(gap.firstSegment)-\(gap.lastSegment).json") == true)

        let text = try await PGBackupBinary.run(["list"], environment: fixture.environment)
        #expect(text.standardOutput.contains("WAL gaps") && text.standardOutput.contains(gap.firstSegment), "\(text.standardOutput)")
        let shown = try await PGBackupBinary.run(["show", backupID, "--json"], environment: fixture.environment)
        #expect(try decode(Listed.self, shown.standardOutput).walGaps == [gap], "\(shown.standardOutput.suffix(1500))")
        let shownText = try await PGBackupBinary.run(["show", backupID], environment: fixture.environment)
        #expect(shownText.standardOutput.contains("WAL gap \(gap.firstSegment)"), "\(shownText.standardOutput)")

        let target = fixture.scratch.path + "/restore-into-the-gap"
        let inside = gap.startLSN + (gap.endLSN - gap.startLSN) / 2
        let refused = try await PGBackupBinary.run(["restore", "--pgdata", target, "--target-lsn", "\(inside)"], environment: fixture.environment)
        #expect(refused.status == 1, "\(refused.standardError)")
        #expect(refused.standardError.contains("inside a gap") && refused.standardError.contains(gap.firstSegment), "\(refused.standardError)")
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: target)) ?? []).isEmpty, "nothing written")
    }
}
