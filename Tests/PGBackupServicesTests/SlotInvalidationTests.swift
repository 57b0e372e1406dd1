import Foundation
import Testing
import PGBackupFoundations
import PGBackupPostgres
import PGBackupRepository
@testable import PGBackupServices

/// A replication slot the server invalidated: how each major shows it, where streaming resumes
/// after the server removed WAL, what `check` says, and the backup's server manifest check.
@Suite("slot invalidation: the decisions")
struct SlotInvalidationTests {
    static let size = WALFixture.segmentSize
    static func lsn(_ segment: UInt64, plus offset: UInt64 = 0) -> LSN { LSN(segment * size.bytes + offset) }

    @Test func eachMajorsColumnsNameTheCause() {
        // 15 and 16: wal_status only (a physical slot is invalidated only by max_slot_wal_keep_size).
        #expect(SlotInvalidation.from(walStatus: "lost", invalidationReason: nil) == SlotInvalidation(reason: "wal_removed"))
        for valid in ["reserved", "extended", "unreserved", nil] {
            #expect(SlotInvalidation.from(walStatus: valid, invalidationReason: nil) == nil)
        }
        // 17+: invalidation_reason.
        #expect(SlotInvalidation.from(walStatus: "lost", invalidationReason: "idle_timeout")?.reason == "idle_timeout")
        #expect(SlotInvalidation(reason: "idle_timeout").description.contains("idle_replication_slot_timeout"))
        #expect(SlotInvalidation(reason: "wal_removed").description.contains("max_slot_wal_keep_size"))
    }

    @Test func eighteensRefusalOfTheSlotNamesTheCause() {
        let refusal = ServerErrorReport(
            severity: "ERROR", sqlState: "55000", message: "can no longer access replication slot \"pgbackup\"",
            detail: "This replication slot has been invalidated due to \"idle_timeout\".")
        #expect(SlotInvalidation.from(refusal) == SlotInvalidation(reason: "idle_timeout"))
        let error = ReplicationError.commandFailed(action: "start streaming", refusal)
        #expect(error.invalidatedSlot?.reason == "idle_timeout")
        #expect(error.description.contains("HINT: the server invalidated the replication slot"))
        // Other refusals are not invalidations.
        let removed = ServerErrorReport(severity: "ERROR", sqlState: "58P01", message: "requested WAL segment 000000010000000000000003 has already been removed")
        #expect(SlotInvalidation.from(removed) == nil && ReplicationError.commandFailed(action: "x", removed).invalidatedSlot == nil)
        let other55000 = ServerErrorReport(severity: "ERROR", sqlState: "55000", message: "cannot use a logical replication slot for physical replication")
        #expect(SlotInvalidation.from(other55000) == nil)
    }

    @Test func afterRemovedWALTheGapRunsFromWhatWasReceivedToWhereTheServerStillHasWAL() {
        // Nothing received: from the repository's end to the slot's restart segment.
        let nothing = SessionPlan.afterRemovedWAL(streamStart: Self.lsn(3), received: Self.lsn(3), resume: Self.lsn(9), segmentSize: Self.size)
        #expect(nothing.resume == Self.lsn(9) && nothing.gap == Self.lsn(3)..<Self.lsn(9))
        // Two segments received before the server found the next one removed.
        let some = SessionPlan.afterRemovedWAL(streamStart: Self.lsn(3), received: Self.lsn(5), resume: Self.lsn(9), segmentSize: Self.size)
        #expect(some.gap == Self.lsn(5)..<Self.lsn(9))
        // A segment received in part is missing whole.
        let part = SessionPlan.afterRemovedWAL(streamStart: Self.lsn(3), received: Self.lsn(5, plus: 4096), resume: Self.lsn(9), segmentSize: Self.size)
        #expect(part.gap == Self.lsn(5)..<Self.lsn(9))
        // The server's restart point is not past what is missing: no gap, and never backwards.
        let none = SessionPlan.afterRemovedWAL(streamStart: Self.lsn(6), received: Self.lsn(6), resume: Self.lsn(4), segmentSize: Self.size)
        #expect(none.gap == nil && none.resume == Self.lsn(6))
    }

    @Test func checkNamesAnInvalidatedSlotAndWhatToDo() {
        let since = Date(timeIntervalSince1970: 1_796_000_000)
        let result = CheckRules.slot(
            name: "pgbackup", active: false, restartLSN: Self.lsn(2), currentLSN: Self.lsn(3), maxRetained: 1 << 30,
            invalidation: SlotInvalidation(reason: "idle_timeout"), inactiveSince: since)
        #expect(!result.ok)
        #expect(result.detail.contains("'pgbackup'") && result.detail.contains("invalidated") && result.detail.contains("idle_timeout"), "\(result.detail)")
        #expect(result.detail.contains(CheckRules.timestamp(since)) && result.detail.contains("HINT: start `pgbackup daemon`"), "\(result.detail)")
        #expect(result.detail.contains("raise idle_replication_slot_timeout"), "\(result.detail)")
        let lost = CheckRules.slot(
            name: "pgbackup", active: false, restartLSN: nil, currentLSN: Self.lsn(3), maxRetained: 1 << 30,
            invalidation: SlotInvalidation(reason: "wal_removed"))
        #expect(!lost.ok && lost.detail.contains("max_slot_wal_keep_size"), "\(lost.detail)")
        // Valid: as before.
        #expect(CheckRules.slot(name: "pgbackup", active: true, restartLSN: Self.lsn(2), currentLSN: Self.lsn(3), maxRetained: 1 << 30).ok)
    }

    @Test func continuityNamesTheGapTheInvalidationAndTheBackupAfterIt() {
        let record = WALGap.SlotInvalidationRecord(
            slot: "pgbackup", reason: "idle_timeout", explanation: SlotInvalidation(reason: "idle_timeout").explanation, inactiveSince: nil)
        let gap = WALGap(
            startLSN: Self.lsn(4), endLSN: Self.lsn(8), timeline: TimelineID(1), resumedTimeline: TimelineID(1), segmentSize: Self.size,
            detectedAt: Date(timeIntervalSince1970: 1_796_000_100), archivedBefore: nil,
            reason: "the server had already removed the WAL when streaming resumed", slotInvalidation: record)
        let continuity = WALFixture.continuity([(1, 2...3), (1, 8...12)])
        func backup(_ id: String, _ first: UInt64) -> CheckContinuity.Backup {
            CheckContinuity.Backup(id: id, timeline: TimelineID(1), startLSN: Self.lsn(first, plus: 40), stopLSN: Self.lsn(first, plus: 400), pin: nil)
        }
        let before = CheckContinuity(backups: [backup("a", 2)], wal: .pitr, continuity: continuity, histories: [:], gaps: [gap]).result()
        #expect(!before.ok)
        #expect(before.detail.contains("recorded gap \(gap.firstSegment)…\(gap.lastSegment)"), "\(before.detail)")
        #expect(before.detail.contains("replication slot 'pgbackup' invalidated by the server (idle_timeout"), "\(before.detail)")
        #expect(before.detail.contains("no backup after it yet") && before.detail.contains("take a new backup"), "\(before.detail)")
        let after = CheckContinuity(backups: [backup("a", 2), backup("b", 9)], wal: .pitr, continuity: continuity, histories: [:], gaps: [gap]).result()
        #expect(!after.ok && after.detail.contains("backup b after it"), "\(after.detail)")
        #expect(after.detail.contains("the backups after it restore whole") && after.detail.contains("idle_replication_slot_timeout"), "\(after.detail)")
    }

    @Test func aGapRecordWrittenBeforeSlotInvalidationsWereRecordedStillReads() throws {
        let old = """
            {"startLSN":"0/4000000","endLSN":"0/8000000","timeline":1,"resumedTimeline":1,"firstSegment":"000000010000000000000004",
            "lastSegment":"000000010000000000000007","detectedAt":"2026-11-30T10:00:00Z","reason":"removed"}
            """
        let gap = try RepositoryJSON.decode(WALGap.self, from: Array(old.utf8))
        #expect(gap.slotInvalidation == nil && gap.reason == "removed")
    }

    @Test func theBackupKeepsOnlyAServerManifestOfItsCluster() throws {
        func manifest(_ head: String) -> [UInt8] { Array((head + "\"Files\": [\n],\n\"Manifest-Checksum\": \"00\"}\n").utf8) }
        let v1 = manifest("{ \"PostgreSQL-Backup-Manifest-Version\": 1,\n")
        let v2 = manifest("{ \"PostgreSQL-Backup-Manifest-Version\": 2,\n\"System-Identifier\": 7447335128424424424,\n")
        try BackupService.checkServerManifest(v1, repositorySystem: "7447335128424424424", serverSystem: 7_447_335_128_424_424_424)
        try BackupService.checkServerManifest(v2, repositorySystem: "7447335128424424424", serverSystem: 7_447_335_128_424_424_424)
        do {
            try BackupService.checkServerManifest(v2, repositorySystem: "7447335128424424425", serverSystem: 7_447_335_128_424_424_425)
            Issue.record("a manifest of another cluster was accepted")
        } catch {
            #expect("\(error)".contains("names system identifier 7447335128424424424, but the repository's is 7447335128424424425"), "\(error)")
            #expect("\(error)".contains("the backup was not kept") && "\(error)".contains("HINT"), "\(error)")
        }
    }
}
