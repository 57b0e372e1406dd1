import PGBackupTestSupport
import Foundation
import PGBackupFoundations
import Testing

/// Checks the reader and writer against the system's GNU tar.
@Suite
struct TarInteropTests {
    static let longDirectory = "base/" + String(repeating: "d", count: 120) + "/" + String(repeating: "e", count: 90)
    static let longFile = String(repeating: "f", count: 150)
    static let longTarget = "/" + (0..<12).map { _ in "tablespace" }.joined(separator: "/")

    /// Files made on disk: path → contents; directories; symlinks.
    static let files: [String: [UInt8]] = [
        "PG_VERSION": Array("15\n".utf8),
        "global/pg_control": (0..<8192).map { UInt8(truncatingIfNeeded: $0 &* 7) },
        "empty": [],
        "base/1/1259": (0..<(3 * 8192 + 17)).map { UInt8(truncatingIfNeeded: $0 &* 31) },
        longDirectory + "/" + longFile: Array("deep\n".utf8),
        "ünïcödé name": Array("u\n".utf8),
    ]
    static let symlinks: [String: String] = ["pg_tblspc/16385": longTarget, "pg_wal": "/srv/wal"]

    private func makeTree(in root: URL) throws {
        let manager = FileManager.default
        for (path, data) in Self.files {
            let url = root.appendingPathComponent(path)
            try manager.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(data).write(to: url)
        }
        try manager.createDirectory(at: root.appendingPathComponent("pg_tblspc"), withIntermediateDirectories: true)
        for (path, target) in Self.symlinks {
            try manager.createSymbolicLink(atPath: root.appendingPathComponent(path).path, withDestinationPath: target)
        }
    }

    @Test(arguments: ["gnu", "pax", "posix", "oldgnu"])
    func readsWhatSystemTarWrites(format: String) throws {
        try withTemporaryDirectory { directory in
            let tree = directory.appendingPathComponent("data")
            try makeTree(in: tree)
            try run(["tar", "--format=\(format)", "-cf", "../archive.tar", "."], in: tree)
            let archive = try [UInt8](Data(contentsOf: directory.appendingPathComponent("archive.tar")))
            var rng = SeededGenerator(seed: UInt64(format.utf8.count))
            let entries = try readTar(archive, chunkSizes: { rng.chunkSize() })

            let byName = Dictionary(entries.map { ($0.header.name.hasPrefix("./") ? String($0.header.name.dropFirst(2)) : $0.header.name, $0) },
                                    uniquingKeysWith: { first, _ in first })
            for (path, data) in Self.files {
                #expect(byName[path]?.header.type == .file, "\(path)")
                #expect(byName[path]?.data == data, "\(path)")
            }
            for (path, target) in Self.symlinks {
                #expect(byName[path]?.header.type == .symlink, "\(path)")
                #expect(byName[path]?.header.linkTarget == target, "\(path)")
            }
            #expect(byName[Self.longDirectory]?.header.type == .directory)
            #expect(byName["base/1"]?.header.mode == 0o755 || byName["base/1"]?.header.mode == 0o775)
        }
    }

    @Test(arguments: [TarWriter.Format.pax, .gnu])
    func systemTarReadsWhatWeWrite(format: TarWriter.Format) throws {
        let mtime: Int64 = 1_763_800_000
        var entries: [TarTestEntry] = [
            TarTestEntry(header: TarHeader(name: "base", type: .directory, mode: 0o700, modificationTime: mtime), data: []),
            TarTestEntry(header: TarHeader(name: Self.longDirectory, type: .directory, mode: 0o700, modificationTime: mtime), data: []),
            TarTestEntry(header: TarHeader(name: "pg_tblspc", type: .directory, mode: 0o700, modificationTime: mtime), data: []),
            TarTestEntry(header: TarHeader(name: "pg_tblspc/16385", type: .symlink, mode: 0o777, modificationTime: mtime,
                                           linkTarget: Self.longTarget), data: []),
        ]
        for (path, data) in Self.files.sorted(by: { $0.key < $1.key }) {
            if path.contains("/"), !path.hasPrefix(Self.longDirectory) {
                let parent = String(path[..<path.lastIndex(of: "/")!])
                if !entries.contains(where: { $0.header.name == parent }) {
                    entries.append(TarTestEntry(header: TarHeader(name: parent, type: .directory, mode: 0o700, modificationTime: mtime), data: []))
                }
            }
            entries.append(TarTestEntry(header: TarHeader(name: path, mode: 0o640, size: UInt64(data.count), modificationTime: mtime,
                                                          userName: "postgres", groupName: "postgres"), data: data))
        }
        let archive = try writeTar(entries, format: format)
        try withTemporaryDirectory { directory in
            try Data(archive).write(to: directory.appendingPathComponent("ours.tar"))
            let listing = try run(["tar", "--quoting-style=literal", "-tf", "ours.tar"], in: directory)
            let names = listing.split(separator: "\n").map { $0.hasSuffix("/") ? String($0.dropLast()) : String($0) }
            #expect(names == entries.map(\.header.name))
            let verbose = try run(["tar", "-tvf", "ours.tar"], in: directory)
            #expect(verbose.contains("-> " + Self.longTarget))
            #expect(verbose.contains("postgres/postgres"))

            let out = directory.appendingPathComponent("out")
            try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
            try run(["tar", "--no-same-owner", "-xf", "../ours.tar"], in: out)
            for (path, data) in Self.files {
                let url = out.appendingPathComponent(path)
                #expect(try [UInt8](Data(contentsOf: url)) == data, "\(path)")
                let attributes = try FileManager.default.attributesOfItem(atPath: url.path)
                #expect((attributes[.posixPermissions] as? Int) == 0o640, "\(path)")
                #expect((attributes[.modificationDate] as? Date)?.timeIntervalSince1970 == Double(mtime), "\(path)")
            }
            #expect(try FileManager.default.destinationOfSymbolicLink(atPath: out.appendingPathComponent("pg_tblspc/16385").path)
                == Self.longTarget)
        }
    }

    @Test func systemTarExtractsBigSparseNumbers() throws {
        // Values that need pax or base-256: a uid beyond 7 octal digits, a time before 1970.
        for format in [TarWriter.Format.pax, .gnu] {
            let entries = [TarTestEntry(header: TarHeader(name: "old", mode: 0o600, uid: 3_000_000, gid: 3_000_001, size: 1,
                                                          modificationTime: -86400), data: [42])]
            let archive = try writeTar(entries, format: format)
            try withTemporaryDirectory { directory in
                try Data(archive).write(to: directory.appendingPathComponent("a.tar"))
                let verbose = try run(["TZ=UTC", "tar", "--numeric-owner", "-tvf", "a.tar"], in: directory)
                #expect(verbose.contains("3000000/3000001"), "\(format): \(verbose)")
                #expect(verbose.contains("1969-12-31"), "\(format): \(verbose)")
            }
            #expect(try readTar(archive) == entries)
        }
    }
}
