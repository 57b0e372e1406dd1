import Foundation
import PGBackupFoundations
import PGBackupStorage
import Testing
@testable import PGBackupRepository

@Suite("WAL archive")
struct WALArchiveTests {
    static let compressions: [Compression] = [.zstd(level: 1), .gzip(level: 1), .none]

    @Test("a segment round-trips through store and fetch", arguments: StoreKind.allCases, compressions)
    func segmentRoundTrip(kind: StoreKind, compression: Compression) async throws {
        try await withArchive(kind, compression: compression) { f in
            let segment = f.segment(1, 0x10FF)  // 1 MiB segments, 4096 per log: 0000000100000001000000FF
            let content = f.segmentContent(seed: 1)
            let outcome = try await f.archive.storeSegment(segment, contentsOf: try f.file(segment.name, content))
            let key = "main/wal/0000000100000001/0000000100000001000000FF.\(compression.fileExtension)"
            let storedSize = try await f.store.head(key).size
            #expect(outcome == .stored(key: key, size: Int64(content.count), storedSize: storedSize, sha256: SHA256Hasher.hash(content)))
            if compression != .none { #expect(storedSize < Int64(content.count)) }

            let destination = f.directory + "/RECOVERYXLOG"
            try await f.archive.fetch(segment.name, to: destination)
            #expect(try f.read(destination) == content)
            #expect(try f.scratchFiles() == [segment.name, "RECOVERYXLOG"])
        }
    }

    @Test("storing identical content again is a no-op, in any compression", arguments: StoreKind.allCases)
    func identicalStoreIsIdempotent(kind: StoreKind) async throws {
        try await withArchive(kind) { f in
            let segment = f.segment(1, 3)
            let path = try f.file(segment.name, f.segmentContent(seed: 2))
            let first = try await f.archive.storeSegment(segment, contentsOf: path)
            let before = try await f.store.head(first.key)
            #expect(try await f.archive.storeSegment(segment, contentsOf: path) == .alreadyArchived(key: first.key))
            #expect(try await f.archive(compression: .gzip(level: 1)).storeSegment(segment, contentsOf: path) == .alreadyArchived(key: first.key))
            #expect(try await f.store.head(first.key).modified == before.modified)
            #expect(try await f.store.list(prefix: "main/wal/").map(\.key) == [first.key])
        }
    }

    @Test("different content under an archived name is kept apart and changes nothing", arguments: StoreKind.allCases)
    func conflictingStoreIsRefused(kind: StoreKind) async throws {
        try await withArchive(kind) { f in
            let segment = f.segment(1, 3)
            let original = f.segmentContent(seed: 3)
            var other = original
            other[12345] ^= 1
            _ = try await f.archive.storeSegment(segment, contentsOf: try f.file("a", original))
            let key = "main/wal/0000000100000000/000000010000000000000003.zst"
            let stored = try await f.store.get(key)
            let expected = WALArchiveError.conflict(
                name: segment.name, key: key, archived: SHA256Hasher.hash(original), offered: SHA256Hasher.hash(other))
            let outcome = try await f.archive.storeSegment(segment, contentsOf: try f.file("b", other))
            guard case .diverged(let kept, let record) = outcome else {
                Issue.record("not kept apart: \(outcome)")
                return
            }
            #expect(kept.hasPrefix("main/wal/diverged/00000001/\(segment.name).") && record.reason.archivedSHA256 == SHA256Hasher.hash(original))
            #expect("\(expected)".hasPrefix("unable to archive '000000010000000000000003': '\(key)' already holds different content (archived SHA-256 \(SHA256Hasher.hash(original)), this file's \(SHA256Hasher.hash(other)))"))
            #expect("\(expected)".contains("HINT:"))
            #expect(try await f.store.get(key) == stored)
            let destination = f.directory + "/fetched"
            try await f.archive.fetch(segment.name, to: destination)
            #expect(try f.read(destination) == original)
        }
    }

    @Test("a damaged archived copy is replaced by a good one", arguments: StoreKind.allCases)
    func damagedCopyIsReplaced(kind: StoreKind) async throws {
        try await withArchive(kind) { f in
            let segment = f.segment(1, 4)
            let path = try f.file(segment.name, f.segmentContent(seed: 4))
            let key = try await f.archive.storeSegment(segment, contentsOf: path).key
            try await f.damage(key) { $0 / 2 }
            guard case .stored(let again, _, _, _) = try await f.archive.storeSegment(segment, contentsOf: path) else {
                Issue.record("the damaged copy was taken as archived")
                return
            }
            #expect(again == key)
            try await f.archive.fetch(segment.name, to: f.directory + "/fetched")
            #expect(try f.read(f.directory + "/fetched") == f.read(path))
        }
    }

    @Test("a file that is not one segment long is refused", arguments: StoreKind.allCases)
    func wrongSizeIsRefused(kind: StoreKind) async throws {
        try await withArchive(kind) { f in
            let segment = f.segment(1, 5)
            let path = try f.file(segment.name, Array(f.segmentContent(seed: 5).dropLast(8192)))
            await #expect(throws: WALArchiveError.wrongSegmentSize(name: segment.name, path: path, size: (1 << 20) - 8192, segmentSize: f.segmentSize)) {
                try await f.archive.storeSegment(segment, contentsOf: path)
            }
            #expect(try await f.store.list(prefix: "").isEmpty)
        }
    }

    @Test("a segment held only as a partial is served zero-padded", arguments: StoreKind.allCases, compressions)
    func partialFallback(kind: StoreKind, compression: Compression) async throws {
        try await withArchive(kind, compression: compression) { f in
            let segment = f.segment(2, 7)
            let content = f.segmentContent(seed: 6)
            let path = try f.file("spool", content)
            try await f.archive.storePartial(segment, contentsOf: path, length: 300_000)
            #expect(try await f.store.list(prefix: "").map(\.key) == ["main/wal/partial/000000020000000000000007.partial.\(compression.fileExtension)"])

            let destination = f.directory + "/RECOVERYXLOG"
            try await f.archive.fetch(segment.name, to: destination)
            let fetched = try f.read(destination)
            #expect(fetched.count == Int(f.segmentSize.bytes))
            #expect(Array(fetched.prefix(300_000)) == Array(content.prefix(300_000)))
            #expect(fetched.dropFirst(300_000).allSatisfy { $0 == 0 })

            // The .partial name serves the partial as stored, unpadded.
            try await f.archive.fetch(segment.name + ".partial", to: f.directory + "/partial")
            #expect(try f.read(f.directory + "/partial") == Array(content.prefix(300_000)))

            // A longer copy replaces it, even in another compression; the completed segment wins.
            try await f.archive(compression: .gzip(level: 1)).storePartial(segment, contentsOf: path, length: 600_000)
            #expect(try await f.store.list(prefix: "").map(\.key) == ["main/wal/partial/000000020000000000000007.partial.gz"])
            try await f.archive.fetch(segment.name, to: destination)
            #expect(Array(try f.read(destination).prefix(600_000)) == Array(content.prefix(600_000)))
            _ = try await f.archive.storeSegment(segment, contentsOf: path)
            try await f.archive.removePartial(segment)
            try await f.archive.fetch(segment.name, to: destination)
            #expect(try f.read(destination) == content)
            await #expect(throws: WALArchiveError.notFound(segment.name + ".partial")) {
                try await f.archive.fetch(segment.name + ".partial", to: f.directory + "/partial")
            }
            await #expect(throws: WALArchiveError.partialTooLong(name: segment.name + ".partial", length: (1 << 20) + 1, segmentSize: f.segmentSize)) {
                try await f.archive.storePartial(segment, contentsOf: path, length: (1 << 20) + 1)
            }
        }
    }

    @Test("history files: raw under wal/<TLI>.history, idempotent, conflicts kept apart", arguments: StoreKind.allCases)
    func historyFiles(kind: StoreKind) async throws {
        try await withArchive(kind) { f in
            let content = Array("1\t0/5000028\tno recovery target specified\n".utf8)
            try await f.archive.storeHistory(TimelineID(2), content: content)
            let stored = try await f.store.get("main/wal/00000002.history")
            #expect(Array(stored.dropLast(48)) == content)
            #expect(ObjectSeal(trailer: stored.suffix(48), algorithm: .none) == ObjectSeal(of: content))
            try await f.archive.storeHistory(TimelineID(2), content: content)
            let changed = Array("1\t0/6000000\tno recovery target specified\n".utf8)
            let outcome = try await f.archive.storeHistory(TimelineID(2), content: changed)
            #expect(outcome.key.hasPrefix("main/wal/diverged/00000002/00000002.history."), "\(outcome)")
            guard case .diverged(_, let record) = outcome else {
                Issue.record("not kept apart: \(outcome)")
                return
            }
            #expect(record.reason == .conflict(archivedKey: "main/wal/00000002.history", archived: SHA256Hasher.hash(content)))
            try await f.archive.fetch("00000002.history", to: f.directory + "/RECOVERYHISTORY")
            #expect(try f.read(f.directory + "/RECOVERYHISTORY") == content)
            await #expect(throws: WALArchiveError.notFound("00000003.history")) {
                try await f.archive.fetch("00000003.history", to: f.directory + "/RECOVERYHISTORY")
            }
            #expect(try f.read(f.directory + "/RECOVERYHISTORY") == content)
        }
    }

    @Test("storeFile takes every WAL-directory file by its name", arguments: StoreKind.allCases)
    func storeFileByName(kind: StoreKind) async throws {
        try await withArchive(kind) { f in
            let segment = f.segment(1, 0x10)
            let files: [(String, [UInt8], String)] = [
                (segment.name, f.segmentContent(seed: 7), "main/wal/0000000100000000/000000010000000000000010.zst"),
                ("00000002.history", Array("1\t0/10000028\treason\n".utf8), "main/wal/00000002.history"),
                (segment.name + ".00000028.backup", Array("START WAL LOCATION: 0/10000028\n".utf8),
                 "main/wal/0000000100000000/000000010000000000000010.00000028.backup"),
                (segment.name + ".partial", Array(f.segmentContent(seed: 8).prefix(70_000)), "main/wal/partial/000000010000000000000010.partial.zst"),
            ]
            for (name, content, key) in files {
                let path = try f.file(name, content)
                #expect(try await f.archive.storeFile(named: name, contentsOf: path)
                        == .stored(key: key, size: Int64(content.count), storedSize: try await f.store.head(key).size, sha256: SHA256Hasher.hash(content)))
                #expect(try await f.archive.storeFile(named: name, contentsOf: path) == .alreadyArchived(key: key))
                try await f.archive.fetch(name, to: f.directory + "/out")
                #expect(try f.read(f.directory + "/out") == content, "\(name)")
            }
            await #expect(throws: WALNameError.notAWALFileName("RECOVERYXLOG")) {
                try await f.archive.storeFile(named: "RECOVERYXLOG", contentsOf: try f.file("RECOVERYXLOG", [1, 2, 3]))
            }
            await #expect(throws: FileSystemError.self) {
                try await f.archive.storeFile(named: f.segment(1, 0x11).name, contentsOf: f.directory + "/does-not-exist")
            }
        }
    }

    @Test("a missing file is notFound, and nothing is written", arguments: StoreKind.allCases)
    func missingFile(kind: StoreKind) async throws {
        try await withArchive(kind) { f in
            for name in ["000000010000000000000042", "00000002.history", "000000010000000000000042.partial",
                         "000000010000000000000042.00000028.backup"] {
                await #expect(throws: WALArchiveError.notFound(name)) {
                    try await f.archive.fetch(name, to: f.directory + "/out")
                }
            }
            let left = try f.scratchFiles()
            #expect(left.isEmpty)
        }
    }

    @Test("a damaged object fails the fetch and leaves the destination untouched",
          arguments: StoreKind.allCases, compressions)
    func damagedObjectIsNotServed(kind: StoreKind, compression: Compression) async throws {
        try await withArchive(kind, compression: compression) { f in
            let segment = f.segment(1, 9)
            let key = try await f.archive.storeSegment(segment, contentsOf: try f.file(segment.name, f.segmentContent(seed: 9))).key
            let positions: [(Int) -> Int] = [{ $0 / 3 }, { $0 - 30 }, { $0 - 1 }]
            for position in positions {
                _ = try await f.archive.storeSegment(segment, contentsOf: f.directory + "/" + segment.name)  // repair
                try await f.damage(key, at: position)
                let absent = f.directory + "/absent"
                let present = try f.file("present", Array("old content".utf8))
                for destination in [absent, present] {
                    do {
                        try await f.archive.fetch(segment.name, to: destination)
                        Issue.record("a damaged object was served")
                    } catch let error as SealError {
                        #expect(error.object == key)
                        #expect("\(error)".hasPrefix("unable to verify '\(key)': "))
                    }
                }
                #expect(!f.exists(absent))
                #expect(try f.read(present) == Array("old content".utf8))
                #expect(try f.scratchFiles() == [segment.name, "present"], "temporary files left behind")
            }
        }
    }

    @Test("continuity from the store", arguments: StoreKind.allCases)
    func continuityFromTheStore(kind: StoreKind) async throws {
        try await withArchive(kind) { f in
            let path = try f.file("content", f.segmentContent(seed: 10))
            for number: UInt64 in [1, 2, 3, 5] { _ = try await f.archive.storeSegment(f.segment(1, number), contentsOf: path) }
            try await f.archive.storePartial(f.segment(1, 6), contentsOf: path, length: 1000)
            try await f.archive.storeHistory(TimelineID(2), content: Array("1\t0/600000\tx\n".utf8))
            let continuity = try await f.archive.continuity()
            let one = try #require(continuity.timeline(TimelineID(1)))
            #expect(one.ranges.map(\.description) == ["000000010000000000000001…000000010000000000000003", "000000010000000000000005"])
            #expect(one.gaps.map(\.description) == ["000000010000000000000004"])
            #expect(one.partials == [f.segment(1, 6)])
            #expect(continuity.endOfArchive(timeline: TimelineID(1)) == LSN(6 << 20))
            #expect(continuity.latestTimeline == TimelineID(2))
            #expect(continuity.unrecognizedKeys.isEmpty)
        }
    }
}
