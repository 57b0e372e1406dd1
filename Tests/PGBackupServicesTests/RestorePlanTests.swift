import Foundation
import PGBackupFoundations
import PGBackupRepository
import Testing
@testable import PGBackupServices

/// `RestorePlan` (pure: manifest and mapping in, what to write where out, or a refusal) and
/// `TablespaceMap`'s format.
@Suite("Restore plan")
struct RestorePlanTests {
    static let start = Date(timeIntervalSince1970: 1_795_000_000.25)

    static func digest(_ text: String) -> SHA256Digest { SHA256Hasher.hash(Array(text.utf8)) }

    static func manifest(_ files: [BackupManifest.File], tablespaces: [BackupManifest.Tablespace] = []) throws -> BackupManifest {
        BackupManifest(
            id: try BackupID(parsing: "20261122T101500Z"), server: "main", systemIdentifier: 7_311_234_567_890_123_456,
            postgresVersionNumber: 150_018, timeline: TimelineID(1), startLSN: LSN(0x3_0000_0028), stopLSN: LSN(0x3_0200_0100),
            startTime: start, stopTime: start, label: "test", compression: .zstd(level: 1), chunking: .default,
            tablespaces: tablespaces, files: files,
            totals: .init(databaseSize: 0, newChunks: 0, storedNew: 0, deduplicatedChunks: 0, storedDeduplicated: 0),
            serverManifest: nil, wal: .init(start: "000000010000000300000000", stop: "000000010000000300000002"), durationSeconds: 1)
    }

    static let pack = digest("pack")
    static let control = BackupManifest.File(
        path: "global/pg_control", type: .file, mode: 0o600, mtime: start, size: 8192, sha256: digest("control"),
        packed: .init(pack: pack, packSize: 20000, offset: 100))

    static func chunked(_ path: String, tablespace: UInt32? = nil, _ chunks: [(Int64, Int64, String)]) -> BackupManifest.File {
        BackupManifest.File(
            path: path, tablespace: tablespace, type: .file, mode: 0o600, mtime: start, size: chunks.reduce(0) { $0 + $1.1 },
            chunks: chunks.map { .init(offset: $0.0, size: $0.1, sha256: digest($0.2)) })
    }

    @Test func sharedContentIsFetchedOnceAndPgControlAndTheTablespaceMapComeApart() throws {
        let manifest = try Self.manifest([
            .init(path: "./", type: .directory, mode: 0o700, mtime: Self.start, size: 0),
            .init(path: "base/", type: .directory, mode: 0o700, mtime: Self.start, size: 0),
            .init(path: "global", type: .directory, mode: 0o700, mtime: Self.start, size: 0),
            .init(path: "base/5", type: .directory, mode: 0o700, mtime: Self.start, size: 0),
            Self.chunked("base/5/1", [(0, 4 << 20, "a"), (4 << 20, 100, "b")]),
            Self.chunked("base/5/2", [(0, 4 << 20, "a")]),
            Self.chunked("PG_15/5/3", tablespace: 16390, [(0, 100, "b")]),
            .init(path: "PG_VERSION", type: .file, mode: 0o600, mtime: Self.start, size: 3, sha256: Self.digest("15\n"),
                  packed: .init(pack: Self.pack, packSize: 20000, offset: 0)),
            .init(path: "tablespace_map", type: .file, mode: 0o600, mtime: Self.start, size: 20, sha256: Self.digest("map"),
                  packed: .init(pack: Self.pack, packSize: 20000, offset: 3)),
            .init(path: "empty", type: .file, mode: 0o600, mtime: Self.start, size: 0),
            .init(path: "pg_tblspc/16390", type: .symlink, mode: 0o777, mtime: Self.start, size: 0, linkTarget: "/srv/ts1"),
            .init(path: "pg_wal/link", type: .symlink, mode: 0o777, mtime: Self.start, size: 0, linkTarget: "elsewhere"),
            Self.control,
        ], tablespaces: [.init(oid: 16390, location: "/srv/ts1")])
        let plan = try RestorePlan(manifest, dataDirectory: "/restore/data/", tablespaceDirectories: [16390: "/restore/ts"])

        #expect(plan.dataDirectory == "/restore/data")
        #expect(plan.directories.map { plan.entries[$0].relativePath } == ["base", "global", "base/5"])
        #expect(plan.entries.first { $0.display == "pg_tblspc/16390/PG_15/5/3" }?.path == "/restore/ts/PG_15/5/3")
        // The backed-up link to the old location is not restored: the writer links the mapped one.
        #expect(plan.symlinks.map { plan.entries[$0].relativePath } == ["pg_wal/link"])
        #expect(plan.bytesTotal == (4 << 20) + 100 + (4 << 20) + 100 + 3 + 20 + 8192)

        // "a" once for two files, "b" once for a file and a tablespace file, the pack once for
        // PG_VERSION (not for pg_control nor the regenerated tablespace_map).
        #expect(plan.pieces.map(\.sha256) == [Self.digest("a"), Self.digest("b"), Self.pack])
        #expect(plan.pieces[0].targets.map { plan.entries[$0.entry].display } == ["base/5/1", "base/5/2"])
        #expect(plan.pieces[1].targets.map { plan.entries[$0.entry].display } == ["base/5/1", "pg_tblspc/16390/PG_15/5/3"])
        #expect(plan.pieces[1].targets.map(\.fileOffset) == [4 << 20, 0])
        #expect(plan.pieces[2].targets.map(\.sha256) == [Self.digest("15\n")])
        #expect(plan.entries[plan.controlFile].relativePath == "global/pg_control")
        #expect(plan.controlPiece.targets.map(\.sourceOffset) == [100])
        #expect(plan.tablespaceMapEntry.map { plan.entries[$0].relativePath } == "tablespace_map")
        #expect(plan.regeneratesTablespaceMap)

        // Mtimes to the nanosecond the manifest's Date holds.
        #expect(plan.entries[0].mtimeSeconds == 1_795_000_000 && plan.entries[0].mtimeNanoseconds == 250_000_000)
    }

    @Test func whatCannotBeWrittenSafelyIsRefused() throws {
        func refusal(_ files: [BackupManifest.File], tablespaces: [BackupManifest.Tablespace] = [], mapping: [UInt32: String] = [:]) throws -> RestoreError? {
            do {
                _ = try RestorePlan(try Self.manifest(files, tablespaces: tablespaces), dataDirectory: "/restore/data", tablespaceDirectories: mapping)
                return nil
            } catch let error as RestoreError {
                return error
            }
        }
        let file = Self.chunked("base/1", [(0, 10, "x")])
        #expect(try refusal([file]) == .invalidManifest(path: "global/pg_control", reason: "the backup has no (or an empty) global/pg_control"))
        #expect(try refusal([Self.chunked("../etc/passwd", [(0, 10, "x")]), Self.control])
            == .invalidManifest(path: "../etc/passwd", reason: "a path through '..'"))
        #expect(try refusal([Self.chunked("/etc/passwd", [(0, 10, "x")]), Self.control])
            == .invalidManifest(path: "/etc/passwd", reason: "an absolute path"))
        #expect(try refusal([file, file, Self.control]) == .invalidManifest(path: "base/1", reason: "listed twice"))
        #expect(try refusal([Self.chunked("gap", [(0, 10, "x"), (20, 10, "y")]), Self.control])
            == .invalidManifest(path: "gap", reason: "chunk at offset 20 (10 bytes) does not follow the one before (ending at 10)"))
        var short = file
        short.size = 11
        #expect(try refusal([short, Self.control]) == .invalidManifest(path: "base/1", reason: "its chunks hold 10 bytes, the file 11"))
        var outside = Self.control
        outside.packed?.offset = 19000
        #expect(try refusal([outside]) == .invalidManifest(path: "global/pg_control", reason: "bytes 19000..<27192 lie outside its pack of 20000 bytes"))
        var noContent = file
        noContent.chunks = nil
        #expect(try refusal([noContent, Self.control]) == .invalidManifest(path: "base/1", reason: "10 bytes but neither chunks nor a pack"))

        // Tablespaces: every one mapped, to an absolute directory apart from the others.
        let spaces: [BackupManifest.Tablespace] = [.init(oid: 1, location: "/srv/a"), .init(oid: 2, location: "/srv/b")]
        #expect(try refusal([Self.control], tablespaces: spaces, mapping: [1: "/x"]) == .tablespaceNotMapped(oid: 2, location: "/srv/b"))
        #expect(try refusal([Self.control], tablespaces: spaces, mapping: [1: "/x", 2: "relative"])
            == .invalidTablespaceDirectory(oid: 2, path: "relative", reason: "not an absolute path"))
        #expect(try refusal([Self.control], tablespaces: spaces, mapping: [1: "/restore/data/ts", 2: "/y"])
            == .invalidTablespaceDirectory(oid: 1, path: "/restore/data/ts", reason: "it overlaps the data directory '/restore/data'"))
        #expect(try refusal([Self.control], tablespaces: spaces, mapping: [1: "/x", 2: "/x/"])
            == .invalidTablespaceDirectory(oid: 1, path: "/x", reason: "it overlaps tablespace 2's directory '/x'"))
        #expect(try refusal([Self.control], tablespaces: spaces, mapping: [1: "/x", 2: "/y"]) == nil)
        #expect(throws: RestoreError.invalidDataDirectory(path: "data", reason: "not an absolute path")) {
            try RestorePlan(try Self.manifest([Self.control]), dataDirectory: "data", tablespaceDirectories: [:])
        }
    }

    @Test func nothingIsWrittenBeneathALink() throws {
        func refusal(_ files: [BackupManifest.File], tablespaces: [BackupManifest.Tablespace] = [], mapping: [UInt32: String] = [:]) throws -> RestoreError? {
            do {
                _ = try RestorePlan(try Self.manifest(files + [Self.control], tablespaces: tablespaces), dataDirectory: "/restore/data", tablespaceDirectories: mapping)
                return nil
            } catch let error as RestoreError {
                return error
            }
        }
        func link(_ path: String, tablespace: UInt32? = nil) -> BackupManifest.File {
            .init(path: path, tablespace: tablespace, type: .symlink, mode: 0o777, mtime: Self.start, size: 0, linkTarget: "/etc")
        }
        func directory(_ path: String, tablespace: UInt32? = nil) -> BackupManifest.File {
            .init(path: path, tablespace: tablespace, type: .directory, mode: 0o700, mtime: Self.start, size: 0)
        }
        let reason = { (link: String) in "it lies beneath the symbolic link '\(link)', and a restore never writes through a link" }
        // A file, a directory, a link, however deep, beneath a link of the backup.
        #expect(try refusal([link("pg_wal"), Self.chunked("pg_wal/000000010000000000000001", [(0, 10, "x")])])
            == .invalidManifest(path: "pg_wal/000000010000000000000001", reason: reason("pg_wal")))
        #expect(try refusal([directory("evil/sub"), link("evil")]) == .invalidManifest(path: "evil/sub", reason: reason("evil")))
        #expect(try refusal([link("a/b"), link("a/b/c/d")]) == .invalidManifest(path: "a/b/c/d", reason: reason("a/b")))
        // Beneath the pg_tblspc/<oid> link the restore makes for a mapped tablespace.
        let spaces: [BackupManifest.Tablespace] = [.init(oid: 16390, location: "/srv/ts")]
        #expect(try refusal([Self.chunked("pg_tblspc/16390/PG_15/5/1", [(0, 10, "x")])], tablespaces: spaces, mapping: [16390: "/ts"])
            == .invalidManifest(path: "pg_tblspc/16390/PG_15/5/1", reason: reason("pg_tblspc/16390")))
        // Inside a tablespace, beneath one of its own links.
        #expect(try refusal([link("PG_15", tablespace: 16390), directory("PG_15/5", tablespace: 16390)], tablespaces: spaces, mapping: [16390: "/ts"])
            == .invalidManifest(path: "pg_tblspc/16390/PG_15/5", reason: reason("pg_tblspc/16390/PG_15")))
        // Nor as the files the restore writes the recovery settings into.
        for name in ["postgresql.auto.conf", "recovery.signal", "standby.signal"] {
            #expect(try refusal([link(name)]) == .invalidManifest(
                path: name, reason: "a symbolic link where the restore writes the recovery settings, and a restore never writes through a link"))
        }
        // Links next to entries, a same-named entry in another root, and a prefix that is not a
        // parent are fine.
        #expect(try refusal([link("pg_wal/link"), directory("pg_wal"), Self.chunked("pg_wal/file", [(0, 10, "x")])]) == nil)
        #expect(try refusal([link("PG_15"), directory("PG_15/5", tablespace: 16390)], tablespaces: spaces, mapping: [16390: "/ts"]) == nil)
        #expect(try refusal([link("ab"), Self.chunked("abc/file", [(0, 10, "x")])]) == nil)
    }

    @Test func errorsNameTheObjectAndTheFiles() {
        let error = RestoreError.chunkFailed(object: "main/chunks/ab/abc.zst", files: ["base/5/1", "base/5/2", "base/5/3", "base/5/4"], cause: "damaged")
        #expect(error.description == "unable to restore 'base/5/1', 'base/5/2', 'base/5/3' and 1 more files: object 'main/chunks/ab/abc.zst' failed: damaged")
        #expect(RestoreError.chunkFailed(object: "k", files: ["a", "b"], cause: "c").description == "unable to restore 'a' and 'b': object 'k' failed: c")
        #expect(RestoreError.tablespaceNotMapped(oid: 16390, location: "/srv/ts").description.contains("--tablespace-map 16390=DIR"))
    }

    @Test func tablespaceMapEscapesAsPostgreSQLReadsIt() {
        #expect(TablespaceMap.format([:]) == "")
        #expect(TablespaceMap.format([16391: "/b", 16390: "/a dir"]) == "16390 /a dir\n16391 /b\n")
        #expect(TablespaceMap.format([1: "/odd\\name\nwith\rbreaks"]) == "1 /odd\\\\name\\\nwith\\\rbreaks\n")
    }
}
