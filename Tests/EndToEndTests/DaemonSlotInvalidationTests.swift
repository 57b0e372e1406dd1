import Foundation
import Testing
import PGBackupFoundations
import PGBackupRepository
import PGBackupTestSupport

#if canImport(Glibc)
import Glibc
#endif

/// The daemon's slot invalidated by the server while the daemon was stopped, and the WAL after
/// the repository's end removed: PostgreSQL 18's `idle_replication_slot_timeout`, and
/// `max_slot_wal_keep_size` (15, 16). `check` names it; the restarted daemon drops and recreates
/// the slot, records the gap, takes a backup after it and archives on.
@Suite("pgbackup daemon: a replication slot the server invalidated", .serialized)
struct DaemonSlotInvalidationTests {
    /// 18 invalidates a slot unused for longer than `idle_replication_slot_timeout` (seconds; 0
    /// disables it) at a checkpoint, then refuses `START_REPLICATION` on it (SQLSTATE 55000).
    @Test func aSlotInvalidatedForIdlingIsRecreatedTheGapRecordedAndABackupTaken() async throws {
        try await Self.invalidatedThenRecovered(major: 18, reason: "idle_timeout") { cluster in
            _ = try await cluster.sql("ALTER SYSTEM SET idle_replication_slot_timeout = 1", "SELECT pg_reload_conf()")
            try await Task.sleep(for: .seconds(2))
        } restore: { cluster in
            _ = try await cluster.sql("ALTER SYSTEM SET idle_replication_slot_timeout = '10min'", "SELECT pg_reload_conf()")
        }
    }

    /// The same where the daemon's role may not connect to a database (a sidecar allowed only
    /// replication connections): pg_replication_slots cannot be read, 18's refusal of the slot
    /// tells instead.
    @Test func withoutSQLTheRefusalOfTheSlotTellsOfTheInvalidation() async throws {
        try await Self.invalidatedThenRecovered(major: 18, reason: "idle_timeout", sqlAllowed: false) { cluster in
            _ = try await cluster.sql("ALTER SYSTEM SET idle_replication_slot_timeout = 1", "SELECT pg_reload_conf()")
            try await Task.sleep(for: .seconds(2))
        } restore: { cluster in
            _ = try await cluster.sql("ALTER SYSTEM SET idle_replication_slot_timeout = '10min'", "SELECT pg_reload_conf()")
        }
    }

    /// Invalidated, but the server still has every segment after the repository's end
    /// (`wal_keep_size`): the slot is made anew and streaming resumes there, with no gap.
    @Test func aSlotInvalidatedWhileTheServerStillHasTheWALIsRecreatedWithoutAGap() async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        var options = DaemonFixture.options  // wal_keep_size 256MB
        options.major = 18
        try await withPostgresCluster(options) { cluster in
            let fixture = try await DaemonFixture(.file, cluster: cluster, scratch: scratch)
            let first = try fixture.startDaemon()
            defer { first.send(SIGKILL) }
            try await fixture.waitForArchive(of: try await fixture.switchSegment(), daemon: first)
            first.send(SIGTERM)
            #expect(try await first.wait().status == 0)
            let next = try #require(try await fixture.archivedSegments().last?.next)

            _ = try await cluster.sql("ALTER SYSTEM SET idle_replication_slot_timeout = 1", "SELECT pg_reload_conf()")
            try await Task.sleep(for: .seconds(2))
            for _ in 0..<2 {
                _ = try await cluster.sql("CREATE TABLE IF NOT EXISTS filler(i int)", "INSERT INTO filler SELECT generate_series(1, 20000)")
                _ = try await fixture.switchSegment()
            }
            _ = try await cluster.sql("CHECKPOINT")
            let slot = try await cluster.sql("SELECT wal_status || ' ' || invalidation_reason FROM pg_replication_slots WHERE slot_name = 'pgbackup'")
            try #require(slot.trimmingCharacters(in: .whitespacesAndNewlines) == "lost idle_timeout", "the slot: '\(slot)'")
            try #require(FileManager.default.fileExists(atPath: cluster.dataDirectory + "/pg_wal/" + next.name), "the server removed \(next.name)")
            _ = try await cluster.sql("ALTER SYSTEM SET idle_replication_slot_timeout = '10min'", "SELECT pg_reload_conf()")

            let second = try fixture.startDaemon()
            defer { second.send(SIGKILL) }
            try await DaemonFailoverEndToEndTests.waitForLog("replication slot 'pgbackup' invalidated by the server (idle_timeout", in: second)
            let later = try await fixture.switchSegment()
            try await fixture.waitForArchive(of: later, daemon: second)
            second.send(SIGTERM)
            let stopped = try await second.wait()
            #expect(stopped.status == 0)
            #expect(!stopped.standardError.contains("the archive has a gap"), "\(stopped.standardError.suffix(3000))")
            #expect(try await fixture.repository.keys(under: "main/wal/gaps/").isEmpty)
            let segments = try await fixture.archivedSegments().filter { $0 <= later }
            #expect(isContiguous(segments) && segments.contains(next), "\(segments.map(\.name))")
            let valid = try await cluster.sql(
                "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'pgbackup' AND wal_status IN ('reserved', 'extended') AND invalidation_reason IS NULL")
            #expect(valid.trimmingCharacters(in: .whitespacesAndNewlines) == "1", "the slot is valid again")
        }
    }

    /// 15 and 16 invalidate a slot that keeps more WAL than `max_slot_wal_keep_size` (only
    /// `wal_status = 'lost'` shows it); 15 would let streaming revive it, 16 never.
    @Test(arguments: [nil, 16])
    func aSlotInvalidatedPastMaxSlotWALKeepSizeIsRecreatedTheGapRecordedAndABackupTaken(major: Int?) async throws {
        try await Self.invalidatedThenRecovered(major: major, reason: "wal_removed") { cluster in
            _ = try await cluster.sql("ALTER SYSTEM SET max_slot_wal_keep_size = '1MB'", "SELECT pg_reload_conf()")
        } restore: { cluster in
            _ = try await cluster.sql("ALTER SYSTEM RESET max_slot_wal_keep_size", "SELECT pg_reload_conf()")
        }
    }

    static func invalidatedThenRecovered(
        major: Int?, reason: String, sqlAllowed: Bool = true, invalidate: (PostgresCluster) async throws -> Void, restore: (PostgresCluster) async throws -> Void
    ) async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        var options = DaemonFixture.options
        options.major = major
        options.settings["wal_keep_size"] = "0"
        try await withPostgresCluster(options) { cluster in
            let fixture = try await DaemonFixture(.file, cluster: cluster, scratch: scratch)
            let first = try fixture.startDaemon()
            defer { first.send(SIGKILL) }
            try await fixture.waitForArchive(of: try await fixture.switchSegment(), daemon: first)
            let backup = try await PGBackupBinary.run(["backup"], environment: fixture.environment)
            try #require(backup.status == 0, "backup: \(backup.standardError)")
            let backupID = backup.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
            first.send(SIGTERM)
            #expect(try await first.wait().status == 0)
            let archiveEnd = try #require(try await fixture.archivedSegments().last)

            // The slot is invalidated and the WAL after the repository's end removed.
            try await invalidate(cluster)
            for _ in 0..<4 {
                _ = try await cluster.sql("CREATE TABLE IF NOT EXISTS filler(i int)", "INSERT INTO filler SELECT generate_series(1, 20000)")
                _ = try await fixture.switchSegment()
            }
            _ = try await cluster.sql("CHECKPOINT")
            _ = try await cluster.sql("CHECKPOINT")
            let reasonColumn = cluster.major >= 17 ? "invalidation_reason" : "'wal_removed'"
            let slot = try await cluster.sql("SELECT wal_status || ' ' || \(reasonColumn) FROM pg_replication_slots WHERE slot_name = 'pgbackup'")
            try #require(slot.trimmingCharacters(in: .whitespacesAndNewlines) == "lost \(reason)", "the slot: '\(slot)'")
            let missing = try #require(archiveEnd.next)
            try #require(!FileManager.default.fileExists(atPath: cluster.dataDirectory + "/pg_wal/" + missing.name), "the server still has \(missing.name)")
            try await restore(cluster)

            if sqlAllowed {
                // `check` says so, and what to do.
                let before = try await CheckEndToEndTests.check(fixture, password: cluster.replicationPassword)
                let slotCheck = try #require(before.checks["slot"])
                #expect(!slotCheck.ok && slotCheck.detail.contains("invalidated by the server (invalidation_reason \(reason)"), "\(before.output)")
                #expect(slotCheck.detail.contains("HINT: start `pgbackup daemon`"), "\(before.output)")
            } else {
                // Replication connections need no database; ordinary ones are refused.
                _ = try await cluster.sql("REVOKE CONNECT ON DATABASE postgres FROM PUBLIC")
            }

            let second = try fixture.startDaemon()
            defer { second.send(SIGKILL) }
            try await DaemonFailoverEndToEndTests.waitForLog("replication slot 'pgbackup' invalidated by the server (\(reason)", in: second)
            try await DaemonFailoverEndToEndTests.waitForLog("the archive has a gap", in: second)
            try await DaemonFailoverEndToEndTests.waitForLog("after the WAL gap complete", in: second, timeout: .seconds(180))
            let later = try await fixture.switchSegment()
            try await fixture.waitForArchive(of: later, daemon: second)
            second.send(SIGTERM)
            let stopped = try await second.wait()
            #expect(stopped.status == 0)
            for line in stopped.standardError.split(separator: "\n") where line.contains("invalidated") || line.contains("gap") {
                print("daemon: \(line)")
            }

            if !sqlAllowed {
                #expect(!stopped.standardError.contains("ERROR WAL streaming interrupted"), "one refusal, then the remedy: \(stopped.standardError.suffix(3000))")
                _ = try await cluster.sql("GRANT CONNECT ON DATABASE postgres TO PUBLIC")
            }
            // The slot exists again and keeps WAL.
            let recreated = try await cluster.sql(
                "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'pgbackup' AND wal_status IN ('reserved', 'extended') AND restart_lsn IS NOT NULL"
                    + (cluster.major >= 17 ? " AND invalidation_reason IS NULL" : ""))
            #expect(recreated.trimmingCharacters(in: .whitespacesAndNewlines) == "1", "the slot is valid again")
            let segments = try await fixture.archivedSegments()
            #expect(segments.contains(later) && !segments.contains(missing))
            try await DaemonGapTests.theGapIsRecordedListedAndRefused(fixture, segments: segments, backupID: backupID)
            let gap = try #require(try await WALArchive(
                repository: try fixture.repository.mainServer, segmentSize: DaemonFixture.segmentSize, compression: .default).gaps().first)
            #expect(gap.slotInvalidation?.slot == "pgbackup" && gap.slotInvalidation?.reason == reason, "\(gap)")
            #expect(gap.firstSegment == missing.name, "\(gap)")

            // Both backups keep the server's backup_manifest: version 2 naming this cluster on 17+.
            let catalog = BackupCatalog(repository: try fixture.repository.mainServer)
            let system = SystemIdentifier(try await cluster.sql("SELECT system_identifier FROM pg_control_system()").trimmingCharacters(in: .whitespacesAndNewlines))
            for summary in try await catalog.list() {
                let content = try #require(try await catalog.serverManifest(of: try await catalog.manifest(summary.id)))
                let header = try ServerManifestHeader(parsing: content)
                #expect(header.version == (cluster.major >= 17 ? 2 : 1), "\(header)")
                #expect(header.systemIdentifier == (cluster.major >= 17 ? system : nil), "\(header)")
            }

            let after = try await CheckEndToEndTests.check(fixture, password: cluster.replicationPassword)
            #expect(after.checks["slot"]?.ok == true, "\(after.output)")
            let continuity = try #require(after.checks["continuity"])
            #expect(!continuity.ok && continuity.detail.contains("recorded gap \(gap.firstSegment)…\(gap.lastSegment)"), "\(after.output)")
            #expect(continuity.detail.contains("invalidated by the server (\(reason)"), "\(after.output)")
            #expect(continuity.detail.contains("after it (starts at") && !continuity.detail.contains("no backup after it"), "\(after.output)")
            #expect(continuity.detail.contains("the backups after it restore whole"), "\(after.output)")
        }
    }
}
