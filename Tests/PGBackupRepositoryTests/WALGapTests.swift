import Foundation
import PGBackupFoundations
import PGBackupStorage
import Testing
@testable import PGBackupRepository

/// Recorded gaps (`WALGap`) and the spool's tail (`WALArchive.storeTail`).
@Suite("WAL archive: recorded gaps and spool tails")
struct WALGapTests {
    static let detected = Date(timeIntervalSince1970: 1_795_000_000.25)

    func gap(_ fixture: ArchiveFixture, from first: UInt64, to last: UInt64) -> WALGap {
        WALGap(
            startLSN: fixture.segment(1, first).startLSN, endLSN: fixture.segment(1, last).endLSN, timeline: TimelineID(1),
            resumedTimeline: TimelineID(1), segmentSize: fixture.segmentSize, detectedAt: Self.detected,
            archivedBefore: Self.detected.addingTimeInterval(-60), reason: "requested WAL segment has already been removed")
    }

    @Test(arguments: StoreKind.allCases)
    func aRecordedGapIsReadBackAndIsNotWALForContinuity(kind: StoreKind) async throws {
        let fixture = try ArchiveFixture(kind)
        defer { fixture.remove() }
        let later = gap(fixture, from: 9, to: 9)
        let earlier = gap(fixture, from: 3, to: 5)
        try await fixture.archive.recordGap(later)
        try await fixture.archive.recordGap(earlier)
        try await fixture.archive.recordGap(earlier)  // again: replaced, not doubled
        #expect(try await fixture.archive.gaps() == [earlier, later])
        #expect(fixture.archive.layout.gapKey(earlier) == "main/wal/gaps/000000010000000000000003-000000010000000000000005.json")
        #expect(earlier.firstSegment == fixture.segment(1, 3).name && earlier.lastSegment == fixture.segment(1, 5).name)
        #expect(earlier.contains(fixture.segment(1, 4).startLSN) && !earlier.contains(fixture.segment(1, 6).startLSN))
        #expect("\(earlier)".contains("000000010000000000000003…000000010000000000000005"))
        let continuity = try await fixture.archive.continuity()
        #expect(continuity.unrecognizedKeys.isEmpty && continuity.timelines.isEmpty, "gap records are not WAL: \(continuity)")
    }

    @Test(arguments: StoreKind.allCases)
    func aDamagedGapRecordIsAnErrorNeverASilentOmission(kind: StoreKind) async throws {
        let fixture = try ArchiveFixture(kind)
        defer { fixture.remove() }
        let recorded = gap(fixture, from: 3, to: 5)
        try await fixture.archive.recordGap(recorded)
        let key = fixture.archive.layout.gapKey(recorded)
        _ = try await fixture.store.put(key, bytes: Array("not sealed".utf8))
        await #expect(throws: (any Error).self) { try await fixture.archive.gaps() }
    }

    @Test(arguments: StoreKind.allCases)
    func aSpoolTailNeverShortensWhatTheRepositoryHolds(kind: StoreKind) async throws {
        let fixture = try ArchiveFixture(kind)
        defer { fixture.remove() }
        let segment = fixture.segment(1, 7)
        let content = fixture.segmentContent(seed: 3)
        let path = try fixture.file("tail", Array(content.prefix(300_000)))
        #expect(try await fixture.archive.storeTail(segment, contentsOf: path, length: 200_000) == .stored)
        #expect(try await fixture.archive.storeTail(segment, contentsOf: path, length: 100_000) == .alreadyHeld)
        #expect(try await fixture.archive.storeTail(segment, contentsOf: path, length: 300_000) == .stored)
        let fetched = fixture.directory + "/fetched"
        try await fixture.archive.fetch(segment.name + ".partial", to: fetched)
        #expect(try fixture.read(fetched) == Array(content.prefix(300_000)))
        // Once the completed segment is archived, a tail of it is held already.
        _ = try await fixture.archive.storeSegment(segment, contentsOf: try fixture.file("whole", content))
        #expect(try await fixture.archive.storeTail(segment, contentsOf: path, length: 300_000) == .alreadyHeld)
    }
}
