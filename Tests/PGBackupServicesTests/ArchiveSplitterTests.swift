import Testing
@testable import PGBackupServices

/// `ArchiveSplitter` on the names of `BASE_BACKUP`'s archives: `base.tar` and `<oid>.tar` of a
/// listed tablespace, and nothing else (a name that does not parse is an error, never files
/// dropped into the data directory).
@Suite("Archive splitter")
struct ArchiveSplitterTests {
    final class DiscardingSink: ChunkSink {
        func reserve(capacity: Int) throws -> [UInt8] { [] }
        func submit(_ job: ChunkJob) throws {}
    }

    @Test func archiveNamesParseToTheirTablespace() throws {
        #expect(try ArchiveSplitter.tablespace(ofArchive: "base.tar") == nil)
        #expect(try ArchiveSplitter.tablespace(ofArchive: "16390.tar") == 16390)
        #expect(try ArchiveSplitter.tablespace(ofArchive: "4294967295.tar") == 4_294_967_295)
    }

    @Test(arguments: ["", "base", "base.tar.gz", "16390", "16390.tar.gz", ".tar", "0.tar", "-5.tar", "+5.tar", "4294967296.tar", "ts.tar", "../16390.tar", "16390 .tar", "pg_wal.tar"])
    func anyOtherNameIsAnError(name: String) throws {
        #expect(throws: BackupError.self) { try ArchiveSplitter.tablespace(ofArchive: name) }
        let splitter = ArchiveSplitter(policy: .default, sink: DiscardingSink())
        let error = #expect(throws: BackupError.self) { try splitter.beginArchive(named: name, tablespaces: [16390]) }
        #expect("\(error.map { "\($0)" } ?? "")".contains("the server sent an archive named '\(name)'"))
    }

    @Test func aTablespaceTheServerDidNotListIsAnError() throws {
        let splitter = ArchiveSplitter(policy: .default, sink: DiscardingSink())
        try splitter.beginArchive(named: "base.tar", tablespaces: [])
        try splitter.beginArchive(named: "16390.tar", tablespaces: [16390])
        let error = #expect(throws: BackupError.self) { try splitter.beginArchive(named: "16391.tar", tablespaces: [16390]) }
        #expect("\(error.map { "\($0)" } ?? "")".contains("the server listed no tablespace 16391 (it listed 16390)"))
    }
}
