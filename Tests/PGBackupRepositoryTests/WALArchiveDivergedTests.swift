import Foundation
import PGBackupFoundations
import PGBackupStorage
import PGBackupTestSupport
import Testing
@testable import PGBackupRepository

/// The stores the diverged-WAL tests run against: the unit-test stores and S3 on moto.
enum DivergedStoreKind: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case memory, file, s3
    var testDescription: String { rawValue }
}

/// WAL that conflicts with the archive's history is kept apart under `wal/diverged/`, never
/// stored under its canonical name (issue #13).
@Suite("WAL archive: diverged WAL is kept apart")
struct WALArchiveDivergedTests {
    /// An archive fixture on `kind`; S3 stores live on the shared moto server under a fresh prefix.
    static func fixture(_ kind: DivergedStoreKind) async throws -> ArchiveFixture {
        switch kind {
        case .memory: return try ArchiveFixture(.memory)
        case .file: return try ArchiveFixture(.file)
        case .s3:
            let store = try await motoStore(named: "diverged")
            return try ArchiveFixture(store: store)
        }
    }

    static func with(_ kind: DivergedStoreKind, _ body: (ArchiveFixture) async throws -> Void) async throws {
        let fixture = try await fixture(kind)
        defer { fixture.remove() }
        try await body(fixture)
    }

    /// Every key under `wal/diverged/`.
    static func divergedKeys(_ f: ArchiveFixture) async throws -> [String] {
        try await f.store.list(prefix: f.archive.layout.divergedPrefix).map(\.key)
    }

    @Test("a conflicting segment goes to wal/diverged with a record; the archived copy stays byte for byte; twice is one object",
          arguments: DivergedStoreKind.allCases)
    func conflictingSegment(kind: DivergedStoreKind) async throws {
        try await Self.with(kind) { f in
            let segment = f.segment(1, 3)
            let original = f.segmentContent(seed: 3)
            var other = original
            other[12345] ^= 1
            let canonical = try await f.archive.storeSegment(segment, contentsOf: try f.file("a", original)).key
            let storedBefore = try await f.store.get(canonical)

            let source = "wal-push on host old-primary from data directory /var/lib/postgresql/data"
            let outcome = try await f.archive.storeSegment(segment, contentsOf: try f.file("b", other), source: source)
            guard case let .diverged(key, record) = outcome else {
                Issue.record("not kept apart: \(outcome)")
                return
            }
            let digest = SHA256Hasher.hash(other)
            #expect(key == "main/wal/diverged/00000001/\(segment.name).\(digest.description.prefix(16))")
            #expect(record.key == key && record.fileName == segment.name && record.timeline == TimelineID(1))
            #expect(record.sha256 == digest && record.size == Int64(other.count) && record.compression == .zstd)
            #expect(record.reason == .conflict(archivedKey: canonical, archived: SHA256Hasher.hash(original)))
            #expect(record.source == source)
            #expect(abs(record.detectedAt.timeIntervalSinceNow) < 60)
            #expect("\(record)".contains("differs from the archived copy '\(canonical)'"), "\(record)")

            // The canonical copy is untouched; fetch serves it; the kept copy holds the offered bytes.
            #expect(try await f.store.get(canonical) == storedBefore)
            try await f.archive.fetch(segment.name, to: f.directory + "/fetched")
            #expect(try f.read(f.directory + "/fetched") == original)
            let kept = try await SealedObjects(store: f.store).content(key: key, algorithm: record.compression, limit: 2 << 20)
            #expect(kept == other)
            #expect(try await f.archive.diverged() == [record])

            // The same content again (PostgreSQL retrying, or the daemon): one object, the first record.
            let keptInfo = try await f.store.head(key)
            let again = try await f.archive.storeSegment(segment, contentsOf: try f.file("c", other), source: "someone else")
            #expect(again == .diverged(key: key, record: record))
            #expect(try await f.store.head(key).modified == keptInfo.modified)
            #expect(try await Self.divergedKeys(f) == [key, key + ".json"])

            // The identical content is still "already archived", never diverged.
            #expect(try await f.archive.storeSegment(segment, contentsOf: try f.file("d", original)) == .alreadyArchived(key: canonical))
            // No server-time record was written for the diverged copy.
            #expect(try await f.archive.serverTimes(of: segment, partial: false) == nil)
        }
    }

    @Test("a conflicting history or backup history file goes to wal/diverged; the archived one stays",
          arguments: DivergedStoreKind.allCases)
    func conflictingHistoryFiles(kind: DivergedStoreKind) async throws {
        try await Self.with(kind) { f in
            let content = Array("1\t0/5000028\tno recovery target specified\n".utf8)
            let changed = Array("1\t0/6000000\tno recovery target specified\n".utf8)
            #expect(try await f.archive.storeHistory(TimelineID(2), content: content).key == "main/wal/00000002.history")
            let storedBefore = try await f.store.get("main/wal/00000002.history")
            let outcome = try await f.archive.storeFile(named: "00000002.history", contentsOf: try f.file("00000002.history", changed), source: "test")
            guard case let .diverged(key, record) = outcome else {
                Issue.record("not kept apart: \(outcome)")
                return
            }
            #expect(key.hasPrefix("main/wal/diverged/00000002/00000002.history."))
            #expect(record.reason.kind == .conflict && record.compression == CompressionAlgorithm.none && record.timeline == TimelineID(2))
            #expect(try await f.store.get("main/wal/00000002.history") == storedBefore)
            #expect(try await f.archive.history(of: TimelineID(2))?.switchpoint(of: TimelineID(1)) == LSN("0/5000028"))
            #expect(try await f.archive.storeHistory(TimelineID(2), content: changed) == outcome)

            let backup = "000000010000000000000003.00000028.backup"
            let label = Array("START WAL LOCATION: 0/3000028\n".utf8)
            _ = try await f.archive.storeFile(named: backup, contentsOf: try f.file(backup, label))
            let otherLabel = try f.file("other.backup", Array("START WAL LOCATION: 0/3000028 (elsewhere)\n".utf8))
            guard case .diverged(let backupKey, _) = try await f.archive.storeFile(named: backup, contentsOf: otherLabel, source: "test") else {
                Issue.record("the conflicting backup history file was not kept apart")
                return
            }
            #expect(backupKey.hasPrefix("main/wal/diverged/00000001/\(backup)."))
            try await f.archive.fetch(backup, to: f.directory + "/label")
            #expect(try f.read(f.directory + "/label") == label)
            #expect(try await f.archive.diverged().map(\.key).sorted() == [backupKey, key].sorted())
        }
    }

    @Test("a segment past its timeline's switch point in an archived history goes to wal/diverged; one before it is stored",
          arguments: DivergedStoreKind.allCases)
    func beyondTheSwitchPoint(kind: DivergedStoreKind) async throws {
        try await Self.with(kind) { f in
            // 1 MiB segments: timeline 1 ended at 0/350000, inside segment 3 (0/300000 to 0/400000).
            let alreadyThere = f.segment(1, 3)
            // Archived before the history arrived: stays, and is "already archived" afterwards.
            _ = try await f.archive.storeSegment(alreadyThere, contentsOf: try f.file("early", f.segmentContent(seed: 30)))
            try await f.archive.storeHistory(TimelineID(2), content: Array("1\t0/350000\tno recovery target specified\n".utf8))
            // A later timeline that forked from timeline 2: its history lists both.
            try await f.archive.storeHistory(TimelineID(3), content: Array("1\t0/350000\tno recovery target specified\n2\t0/800000\tno recovery target specified\n".utf8))

            let before = f.segment(1, 2)
            #expect(try await f.archive.storeSegment(before, contentsOf: try f.file("before", f.segmentContent(seed: 20))).key
                    == f.archive.layout.key(of: .segment(before, .zstd)))
            #expect(try await f.archive.storeSegment(alreadyThere, contentsOf: try f.file("early", f.segmentContent(seed: 30)))
                    == .alreadyArchived(key: f.archive.layout.key(of: .segment(alreadyThere, .zstd))))

            let after = f.segment(1, 4)
            let afterContent = f.segmentContent(seed: 40)
            let outcome = try await f.archive.storeSegment(after, contentsOf: try f.file("after", afterContent), source: "test")
            guard case let .diverged(key, record) = outcome else {
                Issue.record("not kept apart: \(outcome)")
                return
            }
            #expect(key.hasPrefix("main/wal/diverged/00000001/\(after.name)."))
            #expect(record.reason == .beyondSwitchPoint(LSN("0/350000")!, history: "00000002.history"))
            #expect("\(record.reason)" == "its timeline ended at 0/350000 (00000002.history), before this segment's end")
            #expect(try await f.archive.storedCopies(of: after).isEmpty)
            await #expect(throws: WALArchiveError.notFound(after.name)) { try await f.archive.fetch(after.name, to: f.directory + "/x") }

            // Timeline 2 past its own switch point (0/800000, from 00000003.history) is diverged too;
            // before it, and on the newest timeline, segments are stored.
            guard case .diverged(_, let tl2) = try await f.archive.storeSegment(f.segment(2, 8), contentsOf: try f.file("t2", f.segmentContent(seed: 28))) else {
                Issue.record("timeline 2 past its switch point was stored")
                return
            }
            #expect(tl2.reason == .beyondSwitchPoint(LSN("0/800000")!, history: "00000003.history"))
            for segment in [f.segment(2, 4), f.segment(2, 7), f.segment(3, 8), f.segment(3, 40)] {
                let stored = try await f.archive.storeSegment(segment, contentsOf: try f.file(segment.name, f.segmentContent(seed: segment.segmentNumber)))
                #expect(stored.key == f.archive.layout.key(of: .segment(segment, .zstd)), "\(segment.name): \(stored)")
            }
            // PostgreSQL's own .partial of the old timeline's last segment is exempt.
            let partial = try f.file("\(alreadyThere.name).partial", Array(f.segmentContent(seed: 31).prefix(0x50000)))
            guard case .stored = try await f.archive.storeFile(named: "\(f.segment(1, 3).name).partial", contentsOf: partial) else {
                Issue.record("the promotion's .partial was not stored")
                return
            }

            // Continuity ignores diverged WAL: no unrecognized key, timeline 1 still ends at segment 3.
            let continuity = try await f.archive.continuity()
            #expect(continuity.unrecognizedKeys.isEmpty, "\(continuity.unrecognizedKeys)")
            #expect(continuity.timeline(TimelineID(1))?.ranges == [WALSegmentRange(first: before, last: alreadyThere)])
            #expect(continuity.timeline(TimelineID(2))?.ranges.map(\.last) == [f.segment(2, 4), f.segment(2, 7)])
            #expect(continuity.isContiguous == false)  // timeline 2: 4 and 7 only, on purpose
            #expect(try await Self.divergedKeys(f).count == 4)

            // A damaged history file is unusable: the probe goes on to the next timeline's, which
            // lists timeline 1 too.
            try await f.damage("main/wal/00000002.history") { $0 / 2 }
            guard case .diverged(_, let past) = try await f.archive.storeSegment(f.segment(1, 6), contentsOf: try f.file("six", f.segmentContent(seed: 6))) else {
                Issue.record("a segment past the switch point was stored while 00000002.history is damaged")
                return
            }
            #expect(past.reason == .beyondSwitchPoint(LSN("0/350000")!, history: "00000003.history"))
        }
    }

    @Test("the layout never reads a diverged key as WAL")
    func layoutIgnoresDivergedKeys() {
        let layout = WALArchiveLayout(prefix: "main/wal/")
        let size = try! WALSegmentSize(megabytes: 16)
        let segment = WALSegmentName(timeline: TimelineID(1), segmentNumber: 5, segmentSize: size)
        let key = layout.divergedKey(.segment(segment), sha256: SHA256Hasher.hash([1, 2, 3]))
        #expect(key == "main/wal/diverged/00000001/000000010000000000000005.\(SHA256Hasher.hash([1, 2, 3]).description.prefix(16))")
        #expect(layout.entry(forKey: key, segmentSize: size) == nil)
        #expect(layout.entry(forKey: layout.divergedRecordKey(key), segmentSize: size) == nil)
        let continuity = WALContinuity(keys: [key, layout.divergedRecordKey(key)], layout: layout, segmentSize: size)
        #expect(continuity.timelines.isEmpty && continuity.unrecognizedKeys.isEmpty)
    }
}
