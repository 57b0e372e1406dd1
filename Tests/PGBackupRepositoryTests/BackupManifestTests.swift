import Foundation
import PGBackupFoundations
import Testing
@testable import PGBackupRepository

@Suite("Backup manifest")
struct BackupManifestTests {
    let id = try! BackupID(parsing: "20261122T101500Z")

    @Test
    func roundTripsThroughRepositoryJSON() throws {
        let manifest = sampleManifest(id: id)
        let decoded = try RepositoryJSON.decode(BackupManifest.self, from: try RepositoryJSON.encode(manifest))
        #expect(decoded == manifest)
    }

    /// The keys of backup.json are its format: renaming one breaks every reader.
    @Test
    func keysAreStableAndSorted() throws {
        let bytes = try RepositoryJSON.encode(sampleManifest(id: id))
        #expect(try RepositoryJSON.encode(sampleManifest(id: id)) == bytes)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
        #expect(object.keys.sorted() == [
            "chunking", "compression", "durationSeconds", "encryption", "files", "formatVersion", "id", "label", "pinned",
            "postgresVersionNumber", "server", "startLSN", "startTime", "stopLSN", "stopTime", "systemIdentifier",
            "tablespaces", "timeline", "totals", "wal",
        ])
        let files = try #require(object["files"] as? [[String: Any]])
        #expect(files[1].keys.sorted() == ["chunks", "mode", "mtime", "path", "sha256", "size", "type"])
        #expect(files[2].keys.sorted() == ["mode", "mtime", "packed", "path", "sha256", "size", "type"])
        #expect(files[3].keys.sorted() == ["mode", "mtime", "path", "size", "tablespace", "type"])
        #expect(files[4].keys.sorted() == ["linkTarget", "mode", "mtime", "path", "size", "type"])
        #expect((object["totals"] as? [String: Any])?.keys.sorted()
            == ["databaseSize", "deduplicatedChunks", "newChunks", "storedDeduplicated", "storedNew"])
        // Sorted keys in the text itself, so the same manifest is always the same bytes.
        let text = String(decoding: bytes, as: UTF8.self)
        let positions = ["\"chunking\"", "\"compression\"", "\"durationSeconds\"", "\"wal\""].map { text.range(of: $0)!.lowerBound }
        #expect(positions == positions.sorted())
    }

    @Test
    func valuesAreWrittenTheWayOperatorsReadThem() throws {
        let text = String(decoding: try RepositoryJSON.encode(sampleManifest(id: id)), as: UTF8.self)
        for expected in [
            #""id" : "20261122T101500Z""#, #""systemIdentifier" : "7311234567890123456""#,
            #""startLSN" : "3/28""#, #""stopLSN" : "3/2000100""#, #""timeline" : 2"#,
            #""compression" : "zstd:1""#, #""encryption" : "none""#, #""pinned" : false"#,
            #""startTime" : "2026-11-22T10:15:00.250Z""#,
            #""start" : "000000020000000300000000""#, #""stop" : "000000020000000300000002""#,
        ] {
            #expect(text.contains(expected), "\(expected)")
        }
    }

    @Test
    func theWALRangeEndsInTheSegmentTheStopLSNEndsIn() throws {
        let size = try WALSegmentSize(megabytes: 16)
        // A stop LSN on a segment boundary ends in the previous segment, as PostgreSQL names it.
        let range = BackupManifest.WALRange(timeline: TimelineID(1), start: LSN(0x200_0028), stop: LSN(0x300_0000), segmentSize: size)
        #expect(range == .init(start: "000000010000000000000002", stop: "000000010000000000000002"))
        let longer = BackupManifest.WALRange(timeline: TimelineID(1), start: LSN(0x200_0028), stop: LSN(0x300_0001), segmentSize: size)
        #expect(longer.stop == "000000010000000000000003")
    }

    @Test
    func totalsCountNewAndDeduplicatedChunks() throws {
        var totals = BackupManifest.Totals(databaseSize: 0, newChunks: 0, storedNew: 0, deduplicatedChunks: 0, storedDeduplicated: 0)
        let digest = SHA256Hasher.hash([1])
        totals.add(ChunkRef(sha256: digest, size: 10, storedSize: 7, algorithm: .zstd, new: true))
        totals.add(ChunkRef(sha256: digest, size: 10, storedSize: 7, algorithm: .zstd, new: false))
        totals.add(ChunkRef(sha256: digest, size: 20, storedSize: 5, algorithm: .zstd, new: false))
        #expect(totals == .init(databaseSize: 0, newChunks: 1, storedNew: 7, deduplicatedChunks: 2, storedDeduplicated: 12))
    }
}
