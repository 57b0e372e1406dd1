import Foundation
import Testing
import PGBackupFoundations
import PGBackupRepository
import PGBackupTestSupport

#if canImport(Glibc)
import Glibc
#endif

/// `pgbackup restore` then a plain start of the restored directory, against real PostgreSQL 15
/// servers: every kind of target yields exactly the rows committed up to it.
///
/// Not serialized: its tests (each on file:// and s3://) wait on recovery far more than they
/// compute and run side by side well; serialized, they alone set the whole suite's wall time.
@Suite("pgbackup restore and point-in-time recovery, end to end")
struct RestoreEndToEndTests {
    static let options = PostgresCluster.Options(settings: ["autovacuum": "off", "track_commit_timestamp": "on"], walSegmentSizeMB: 1)
    static let rowsPerBatch = 100

    /// One committed batch of rows: its transaction, the WAL position right after its commit,
    /// and its commit time.
    struct Batch {
        var number: Int
        var xid: UInt64
        var lsnAfter: LSN
        var committed: Date
    }

    static func commitBatch(_ number: Int, on cluster: PostgresCluster) async throws -> Batch {
        let xid = try await cluster.sql(
            "WITH inserted AS (INSERT INTO rows SELECT \(number), g FROM generate_series(1, \(rowsPerBatch)) g RETURNING 1) "
                + "SELECT pg_current_xact_id() FROM inserted LIMIT 1")
        let after = try await cluster.currentWALLSN()
        let committed = try await cluster.sql(
            "SELECT extract(epoch FROM pg_xact_commit_timestamp('\(xid)'::text::xid))")
        let batch = Batch(
            number: number, xid: try #require(UInt64(xid)), lsnAfter: after,
            committed: Date(timeIntervalSince1970: try #require(Double(committed))))
        try await Task.sleep(for: .milliseconds(1100))  // commit times a second apart
        return batch
    }

    /// Restores with `arguments`, starts the result, waits for the end of recovery, and returns
    /// the number of rows per batch it holds.
    static func restoreAndCount(
        _ fixture: DaemonFixture, _ arguments: [String], name: String, environment: [String: String]? = nil
    ) async throws -> [Int: Int] {
        try await restoreAndCount(in: fixture.scratch, environment: environment ?? fixture.environment, arguments, name: name)
    }

    /// `restoreAndCount` with the binary's whole `environment` given.
    static func restoreAndCount(
        in scratch: ScratchDirectory, environment: [String: String], _ arguments: [String], name: String
    ) async throws -> [Int: Int] {
        let directory = scratch.path + "/restored-\(name)"
        let result = try await PGBackupBinary.run(["restore", "--pgdata", directory, "--json"] + arguments, environment: environment)
        try #require(result.status == 0, "restore \(arguments): \(result.standardError)")
        // The key file restore copies for wal-fetch (encrypted repositories) belongs to the server's user too.
        let keyFile = directory + ".pgbackup.key"
        let owned = [directory + ".pgbackup.yaml"] + (FileManager.default.fileExists(atPath: keyFile) ? [keyFile] : [])
        let server = try await PostgresCluster.start(existingDataDirectory: directory, ownedTrees: owned, .init(name: "restored-\(name)"))
        do {
            try await server.waitUntil("recovery of \(name) ends", timeout: .seconds(120)) {
                try await server.sql("SELECT pg_is_in_recovery()") == "f"
            }
            let counts = try await server.rows("SELECT batch, count(*) FROM rows GROUP BY batch ORDER BY batch")
            await server.destroy()
            var byBatch: [Int: Int] = [:]
            for row in counts { byBatch[Int(row[0])!] = Int(row[1])! }
            return byBatch
        } catch {
            let log = server.logTail(lines: 30)
            await server.destroy()
            throw FixtureError("\(error)\nrestored server's log:\n\(log)")
        }
    }

    /// The restored servers run `pgbackup wal-fetch` as the server's user: let it read a file://
    /// repository (the tests write it as root). An s3 one needs nothing: the credentials are in
    /// the `<pgdata>.pgbackup.yaml` that restore writes and the server's user owns.
    static func letTheServerRead(_ fixture: DaemonFixture) async throws {
        try fixture.repository.letTheServerUse(fixture.cluster.serverUser)
    }

    static func expected(_ batches: ClosedRange<Int>) -> [Int: Int] {
        Dictionary(uniqueKeysWithValues: batches.map { ($0, rowsPerBatch) })
    }

    @Test(arguments: RepositoryKind.tested)
    func everyKindOfTargetYieldsExactlyTheRowsCommittedUpToIt(kind: RepositoryKind) async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        try await withPostgresCluster(Self.options) { cluster in
            let fixture = try await DaemonFixture(kind, cluster: cluster, scratch: scratch)
            let daemon = try fixture.startDaemon()
            defer { daemon.send(SIGKILL) }
            try await cluster.sql("CREATE TABLE rows (batch int, id int)")

            let b1 = try await Self.commitBatch(1, on: cluster)
            let first = try await backupSummary(fixture)
            let b2 = try await Self.commitBatch(2, on: cluster)
            let b3 = try await Self.commitBatch(3, on: cluster)
            try await cluster.sql("SELECT pg_create_restore_point('after three')")
            let second = try await backupSummary(fixture)
            let b4 = try await Self.commitBatch(4, on: cluster)
            _ = try await Self.commitBatch(5, on: cluster)
            try await fixture.waitForArchive(of: try await fixture.switchSegment(), daemon: daemon)
            daemon.send(SIGTERM)
            _ = try await daemon.wait()
            try await Self.letTheServerRead(fixture)
            #expect(b1.committed < first.stopTime && first.stopTime < b2.committed)

            // A time between batches 2 and 3 (restored from the first backup).
            let between = b2.committed.addingTimeInterval(b3.committed.timeIntervalSince(b2.committed) / 2)
            #expect(try await Self.restoreAndCount(fixture, ["--target-time", RestoreTimeText.of(between)], name: "time") == Self.expected(1...2))
            // An LSN after a later backup (restored from the second).
            #expect(try await Self.restoreAndCount(fixture, ["--target-lsn", b4.lsnAfter.description], name: "lsn") == Self.expected(1...4))
            // A transaction, inclusive and exclusive.
            #expect(try await Self.restoreAndCount(fixture, ["--target-xid", String(b2.xid)], name: "xid") == Self.expected(1...2))
            #expect(try await Self.restoreAndCount(fixture, ["--target-xid", String(b2.xid), "--target-exclusive"], name: "xid-exclusive") == Self.expected(1...1))
            // A restore point created before the second backup.
            #expect(try await Self.restoreAndCount(fixture, ["--target-name", "after three"], name: "name") == Self.expected(1...3))
            // The end of the first backup, and the end of the archive.
            #expect(try await Self.restoreAndCount(fixture, ["--target-immediate", "--backup-id", first.id.description], name: "immediate") == Self.expected(1...1))
            #expect(try await Self.restoreAndCount(fixture, [], name: "latest") == Self.expected(1...5))
            _ = second

            // Before the first backup's end: refused, naming the window, nothing written.
            let early = first.stopTime.addingTimeInterval(-30)
            let refused = try await PGBackupBinary.run(
                ["restore", "--pgdata", scratch.path + "/never", "--target-time", RestoreTimeText.of(early)], environment: fixture.environment)
            #expect(refused.status == 1)
            #expect(refused.standardError.contains("is before the earliest restorable point"), "\(refused.standardError)")
            #expect(!FileManager.default.fileExists(atPath: scratch.path + "/never"))
        }
    }

    @Test(arguments: RepositoryKind.tested)
    func badInputIsRefusedBeforeAnythingIsWrittenAndADamagedChunkStopsTheRestore(kind: RepositoryKind) async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        try await withPostgresCluster(Self.options) { cluster in
            let fixture = try await DaemonFixture(kind, cluster: cluster, scratch: scratch)
            try await cluster.sql("CREATE TABLE rows (batch int, id int)")
            _ = try await Self.commitBatch(1, on: cluster)
            let backup = try await backupSummary(fixture)
            let target = scratch.path + "/target"

            // Usage errors exit 2; a refused restore exits 1; neither creates the directory.
            for (arguments, status, text) in [
                (["--target-time", "2026-11-22 10:15:00"], 2, "no time zone"),
                (["--target-lsn", "nonsense"], 2, "--target-lsn"),
                (["--target-xid", "5", "--target-immediate"], 2, "at most one"),
                (["--target-action", "explode"], 2, "--target-action"),
                (["--backup-id", "20200101T000000Z"], 1, "20200101T000000Z"),
                (["--target-lsn", "FF/0"], 1, "beyond the end of the archived WAL"),
                (["--tablespace-map", "4242=/tmp/x"], 2, "no tablespace 4242"),
            ] {
                let result = try await PGBackupBinary.run(["restore", "--pgdata", target] + arguments, environment: fixture.environment)
                #expect(result.status == Int32(status), "\(arguments): \(result.standardError)")
                #expect(result.standardError.contains(text), "\(arguments): \(result.standardError)")
                #expect(!FileManager.default.fileExists(atPath: target), "\(arguments) created the directory")
            }

            // A non-empty directory is refused without --delta or --force.
            try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
            try Data("keep".utf8).write(to: URL(fileURLWithPath: target + "/precious"))
            let refused = try await PGBackupBinary.run(["restore", "--pgdata", target], environment: fixture.environment)
            #expect(refused.status == 1 && refused.standardError.contains("is not empty"), "\(refused.standardError)")
            #expect(FileManager.default.fileExists(atPath: target + "/precious"))
            let forced = try await PGBackupBinary.run(["restore", "--pgdata", target, "--force", "--json"], environment: fixture.environment)
            #expect(forced.status == 0, "\(forced.standardError)")
            #expect(!FileManager.default.fileExists(atPath: target + "/precious"))
            #expect(forced.standardOutput.contains(backup.id.description))

            // A damaged chunk: the restore fails naming the object, and the directory cannot start.
            let victim = try #require(try await fixture.repository.keys(under: "main/chunks/").first { $0.hasSuffix(".zst") })
            try await fixture.repository.damage(victim)
            let damaged = try await PGBackupBinary.run(["restore", "--pgdata", scratch.path + "/damaged"], environment: fixture.environment)
            #expect(damaged.status == 1)
            #expect(damaged.standardError.contains(String(victim.split(separator: "/").last!.prefix(64))), "\(damaged.standardError)")
            #expect(FileManager.default.fileExists(atPath: scratch.path + "/damaged/RESTORE_FAILED"))
            #expect(!FileManager.default.fileExists(atPath: scratch.path + "/damaged/global/pg_control"))
        }
    }

    @Test(arguments: RepositoryKind.tested)
    func aStandbyRestoreStreamsFromThePrimaryAfterReplay(kind: RepositoryKind) async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        try await withPostgresCluster(Self.options) { cluster in
            let fixture = try await DaemonFixture(kind, cluster: cluster, scratch: scratch)
            try await cluster.sql("CREATE TABLE rows (batch int, id int)")
            _ = try await Self.commitBatch(1, on: cluster)
            _ = try await backupSummary(fixture)
            _ = try await Self.commitBatch(2, on: cluster)
            try await Self.letTheServerRead(fixture)

            let directory = scratch.path + "/standby"
            let restored = try await PGBackupBinary.run(
                ["restore", "--pgdata", directory, "--standby", "--primary-conninfo", cluster.conninfo(replication: true)],
                environment: fixture.environment)
            try #require(restored.status == 0, "\(restored.standardError)")
            #expect(FileManager.default.fileExists(atPath: directory + "/standby.signal"))
            let standby = try await PostgresCluster.start(
                existingDataDirectory: directory, ownedTrees: [directory + ".pgbackup.yaml"], .init(name: "restored-standby"))
            do {
                _ = try await Self.commitBatch(3, on: cluster)
                try await standby.waitUntil("the standby sees batch 3", timeout: .seconds(60)) {
                    try await standby.sql("SELECT count(*) FROM rows WHERE batch = 3") == "\(Self.rowsPerBatch)"
                }
                #expect(try await standby.sql("SELECT pg_is_in_recovery()") == "t")
                #expect(try await standby.sql("SELECT status FROM pg_stat_wal_receiver") == "streaming")
                #expect(try await standby.sql("SELECT count(*) FROM rows") == "\(3 * Self.rowsPerBatch)")
            } catch {
                let log = standby.logTail(lines: 30)
                await standby.destroy()
                throw FixtureError("\(error)\nstandby log:\n\(log)")
            }
            await standby.destroy()
        }
    }

    @Test(arguments: RepositoryKind.tested)
    func theLatestRestoreFollowsATimelineAfterAPromotion(kind: RepositoryKind) async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        try await withPostgresCluster(Self.options) { primary in
            let standby = try await primary.makeStandby()
            // The daemon streams from the primary and moves to the standby once it is promoted;
            // the backup is taken from the primary.
            let fixture = try await DaemonFixture(kind, cluster: standby, scratch: scratch, conninfo: DaemonFailoverEndToEndTests.hosts([standby, primary]))
            let daemon = try fixture.startDaemon(["--status-interval", "1", "--partial-interval", "1", "--resurvey-interval", "1"])
            defer { daemon.send(SIGKILL) }
            try await primary.sql("CREATE TABLE rows (batch int, id int)")
            _ = try await Self.commitBatch(1, on: primary)
            var environment = fixture.environment
            environment["PGBACKUP_CONNINFO"] = primary.conninfo(replication: true)
            let backup = try await PGBackupBinary.run(["backup"], environment: environment)
            try #require(backup.status == 0, "\(backup.standardError)")
            try await standby.waitForReplay(of: primary)
            try await fixture.waitForArchive(of: try await fixture.switchSegment(on: primary), daemon: daemon)

            try await standby.promote()
            _ = try await Self.commitBatch(2, on: standby)
            let onTwo = try await fixture.switchSegment(on: standby)
            #expect(onTwo.timeline == TimelineID(2))
            try await fixture.waitForArchive(of: onTwo, daemon: daemon)
            daemon.send(SIGTERM)
            _ = try await daemon.wait()
            try await Self.letTheServerRead(fixture)

            #expect(try await Self.restoreAndCount(fixture, [], name: "timeline-2") == Self.expected(1...2))
            #expect(try await Self.restoreAndCount(fixture, ["--target-timeline", "1"], name: "timeline-1") == Self.expected(1...1))
        }
    }

    /// A backup of a server that was itself restored to a target carries that target in its
    /// `postgresql.auto.conf`: restoring it to the latest point must not stop at the old target
    /// (before, the appended settings left `recovery_target_name` in force and the restored
    /// server refused to start: "recovery ended before configured recovery target was reached").
    @Test func aBackedUpRecoveryTargetDoesNotStopALatestRestore() async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        try await withPostgresCluster(Self.options) { primary in
            let fixture = try await DaemonFixture(.file, cluster: primary, scratch: scratch)
            let daemon = try fixture.startDaemon()
            defer { daemon.send(SIGKILL) }
            try await primary.sql("CREATE TABLE rows (batch int, id int)")
            _ = try await Self.commitBatch(1, on: primary)
            try await primary.sql(
                "ALTER SYSTEM SET recovery_target_name = 'a-target-of-long-ago'",
                "ALTER SYSTEM SET recovery_target_action = 'shutdown'")
            let backup = try await PGBackupBinary.run(["backup"], environment: fixture.environment)
            try #require(backup.status == 0, "\(backup.standardError)")
            _ = try await Self.commitBatch(2, on: primary)
            try await fixture.waitForArchive(of: try await fixture.switchSegment(on: primary), daemon: daemon)
            daemon.send(SIGTERM)
            _ = try await daemon.wait()
            try await Self.letTheServerRead(fixture)

            #expect(try await Self.restoreAndCount(fixture, [], name: "stale-target") == Self.expected(1...2))
            let autoConf = try String(contentsOfFile: fixture.scratch.path + "/restored-stale-target/postgresql.auto.conf", encoding: .utf8)
            #expect(!autoConf.contains("a-target-of-long-ago"))
            #expect(!autoConf.contains("recovery_target_action"))
        }
    }

    /// `--delta` over an older copy writes only the pages that differ, not every chunk that holds
    /// one: scattered updates touch every 4 MiB chunk of a table in a few pages (as a pgbench load
    /// does, and as a former primary rejoined by `follow` differs), and before, each such chunk
    /// was rewritten whole — a rejoin cost as much as a fresh restore.
    @Test func aDeltaRestoreWritesOnlyThePagesThatDiffer() async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        try await withPostgresCluster(Self.options) { primary in
            let fixture = try await DaemonFixture(.file, cluster: primary, scratch: scratch)
            let daemon = try fixture.startDaemon()
            defer { daemon.send(SIGKILL) }
            try await primary.sql("CREATE TABLE rows (batch int, id int)", "INSERT INTO rows SELECT 1, g FROM generate_series(1, 600000) g")
            try await primary.sql("VACUUM FREEZE rows", "CHECKPOINT")
            let first = try await PGBackupBinary.run(["backup"], environment: fixture.environment)
            try #require(first.status == 0, "\(first.standardError)")
            let copy = scratch.path + "/copy"
            let fresh = try await PGBackupBinary.run(["restore", "--pgdata", copy, "--json"], environment: fixture.environment)
            try #require(fresh.status == 0, "\(fresh.standardError)")
            let freshBytes = try #require((try JSONSerialization.jsonObject(with: Data(fresh.standardOutput.utf8)) as? [String: Any])?["bytes"] as? Int)

            // One row in 4,000 moves to batch 2: a few pages in every chunk of the table.
            try await primary.sql("UPDATE rows SET batch = 2 WHERE id % 4000 = 0", "CHECKPOINT")
            let second = try await PGBackupBinary.run(["backup"], environment: fixture.environment)
            try #require(second.status == 0, "\(second.standardError)")
            try await fixture.waitForArchive(of: try await fixture.switchSegment(on: primary), daemon: daemon)
            daemon.send(SIGTERM)
            _ = try await daemon.wait()
            try await Self.letTheServerRead(fixture)

            let delta = try await PGBackupBinary.run(["restore", "--pgdata", copy, "--delta", "--json"], environment: fixture.environment)
            try #require(delta.status == 0, "\(delta.standardError)")
            let written = try #require((try JSONSerialization.jsonObject(with: Data(delta.standardOutput.utf8)) as? [String: Any])?["bytes"] as? Int)
            print("delta restore wrote \(written) bytes; a fresh restore wrote \(freshBytes)")
            #expect(written * 10 < freshBytes, "the delta wrote \(written) of \(freshBytes) bytes")

            let server = try await PostgresCluster.start(existingDataDirectory: copy, ownedTrees: [copy + ".pgbackup.yaml"], .init(name: "delta-pages"))
            do {
                try await server.waitUntil("recovery of the delta copy ends", timeout: .seconds(120)) {
                    try await server.sql("SELECT pg_is_in_recovery()") == "f"
                }
                let counts = try await server.rows("SELECT batch, count(*) FROM rows GROUP BY batch ORDER BY batch")
                #expect(counts == [["1", "599850"], ["2", "150"]], "\(counts)")
                #expect(try await server.sql("SELECT sum(id) FROM rows") == "180000300000")
                await server.destroy()
            } catch {
                let log = server.logTail(lines: 30)
                await server.destroy()
                throw FixtureError("\(error)\nthe delta copy's log:\n\(log)")
            }
        }
    }
}

/// Times as `--target-time` takes them.
enum RestoreTimeText {
    static func of(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: date)
    }
}
