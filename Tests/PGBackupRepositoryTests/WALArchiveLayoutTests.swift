import PGBackupFoundations
import Testing
@testable import PGBackupRepository

@Suite("WAL archive layout")
struct WALArchiveLayoutTests {
    let layout = WALArchiveLayout(repository: RepositoryLayout(server: "main"))
    let size = WALSegmentSize.default

    func segment(_ name: String) throws -> WALSegmentName { try WALSegmentName(parsing: name, segmentSize: size) }

    @Test func keysFollowDesignMD() throws {
        let segment = try segment("00000002000000A1000000FE")
        #expect(layout.key(of: .segment(segment, .zstd)) == "main/wal/00000002000000A1/00000002000000A1000000FE.zst")
        #expect(layout.key(of: .segment(segment, .gzip)) == "main/wal/00000002000000A1/00000002000000A1000000FE.gz")
        #expect(layout.key(of: .segment(segment, .none)) == "main/wal/00000002000000A1/00000002000000A1000000FE.raw")
        #expect(layout.key(of: .partial(segment, .zstd)) == "main/wal/partial/00000002000000A1000000FE.partial.zst")
        #expect(layout.key(of: .history(TimelineID(0x1A))) == "main/wal/0000001A.history")
        #expect(layout.key(of: .backupHistory(segment, offset: 0x28)) == "main/wal/00000002000000A1/00000002000000A1000000FE.00000028.backup")
    }

    @Test func everyKeyParsesBackToItsEntry() throws {
        let segment = try segment("000000010000000000000003")
        let entries: [WALArchiveEntry] = CompressionAlgorithm.allCases.flatMap { [.segment(segment, $0), .partial(segment, $0)] }
            + [.history(TimelineID(2)), .backupHistory(segment, offset: 0x60)]
        for entry in entries {
            #expect(layout.entry(forKey: layout.key(of: entry), segmentSize: size) == entry, "\(entry)")
        }
    }

    @Test(arguments: [
        "other/wal/0000000100000000/000000010000000000000003.zst",  // another server
        "main/wal/0000000100000001/000000010000000000000003.zst",  // the wrong directory
        "main/wal/0000000100000000/000000010000000000000003.lz4",  // unknown compression
        "main/wal/0000000100000000/000000010000000000000003",  // no extension
        "main/wal/0000000100000000/000000010000000000000003.partial.zst",  // a partial outside partial/
        "main/wal/partial/000000010000000000000003.zst",  // a segment inside partial/
        "main/wal/00000001.history.zst",  // history files carry no extension
        "main/wal/0000000100000000/00000001.history",
        "main/wal/0000000000000000/000000000000000000000003.zst",  // timeline 0
        "main/wal/0000000100000000/000000010000000000000100.zst",  // segment 0x100 does not exist with 16 MiB
        "main/wal/README",
        "main/wal/a/b/c",
    ])
    func foreignKeysAreNotEntries(key: String) {
        #expect(layout.entry(forKey: key, segmentSize: size) == nil)
    }
}
