import Foundation
import PGBackupFoundations
import PGBackupTestSupport
import Testing

/// What the server does differently from one major to the next, pinned on the real server the
/// matrix runs (15, 16, 18): each fact here is one pgbackup relies on or works around.
@Suite("PostgreSQL majors: the server's differences")
struct MajorDifferencesTests {
    /// `pg_walfile_name()` of an LSN exactly on a segment boundary names the segment *before* it
    /// up to 16 (`XLByteToPrevSeg`) and the segment *at* it from 17 on (`XLByteToSeg`). pgbackup
    /// never asks the server for names: it computes them (`WALSegmentName(endingAt:)` for where
    /// WAL ends, `containing:` for where it goes on), so it never waits for a segment named by
    /// the other rule, which would never complete.
    @Test func walFileNameAtASegmentBoundary() async throws {
        try await withPostgresCluster(.init(name: "walfile-name")) { cluster in
            let size = try WALSegmentSize(megabytes: 16)
            let boundary = LSN(3 << 24)
            let named = try await cluster.sql("SELECT pg_walfile_name('\(boundary)')").trimmingCharacters(in: .whitespacesAndNewlines)
            let before = try #require(WALSegmentName(timeline: TimelineID(1), endingAt: boundary, segmentSize: size))
            let at = WALSegmentName(timeline: TimelineID(1), containing: boundary, segmentSize: size)
            #expect(named == (cluster.major >= 17 ? at : before).description, "PostgreSQL \(cluster.major) named \(named)")
            // One byte past the boundary, every major agrees.
            let past = try await cluster.sql("SELECT pg_walfile_name('\(LSN(boundary.rawValue + 1))')").trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(past == at.description)
        }
    }

    /// 18 can invalidate an idle slot (`idle_replication_slot_timeout`, off by default); 17 adds
    /// `invalidation_reason` to pg_replication_slots; every major reports a slot whose WAL is gone
    /// as `wal_status = 'lost'`.
    @Test func slotInvalidationSettingsAndColumns() async throws {
        try await withPostgresCluster(.init(name: "slot-columns")) { cluster in
            let columns = try await cluster.sql(
                "SELECT string_agg(attname, ',' ORDER BY attname) FROM pg_attribute WHERE attrelid = 'pg_replication_slots'::regclass AND attnum > 0"
            ).trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ",").map(String.init)
            #expect(columns.contains("wal_status"))
            #expect(columns.contains("invalidation_reason") == (cluster.major >= 17), "\(columns)")
            let setting = try await cluster.sql("SELECT count(*) FROM pg_settings WHERE name = 'idle_replication_slot_timeout'")
                .trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(setting == (cluster.major >= 18 ? "1" : "0"))
        }
    }

    /// Every segment begins with a long page header naming the database system that wrote it
    /// (what the daemon checks before it stores a spool a previous run left: after pg_upgrade the
    /// new cluster reuses the old one's segment names); its magic changes with the major.
    @Test func everySegmentNamesItsDatabaseSystem() async throws {
        try await withPostgresCluster(.init(name: "wal-header")) { cluster in
            let system = try await cluster.sql("SELECT system_identifier FROM pg_control_system()").trimmingCharacters(in: .whitespacesAndNewlines)
            let segment = try await cluster.sql("SELECT pg_walfile_name(pg_current_wal_insert_lsn())").trimmingCharacters(in: .whitespacesAndNewlines)
            let bytes = try #require(FileManager.default.contents(atPath: cluster.dataDirectory + "/pg_wal/" + segment))
            let header = try #require(WALLongPageHeader(bytes))
            #expect(header.systemIdentifier.description == system)
            #expect(header.segmentSize == 16 << 20 && header.blockSize == 8192)
            #expect(header.timeline == TimelineID(1))
            let magic: [Int: UInt16] = [15: 0xD110, 16: 0xD113, 17: 0xD116, 18: 0xD118]
            #expect(header.magic == magic[cluster.major], "PostgreSQL \(cluster.major): 0x\(String(header.magic, radix: 16))")
        }
    }
}
