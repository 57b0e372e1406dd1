import Foundation
import PGBackupFoundations
import Testing
@testable import PGBackupServices

#if canImport(Glibc)
import Glibc
#endif

/// `RestoreRoot`: every path beneath a restore's root is reached without following links, so
/// a link inside the tree (left by an older copy, or planted) never takes a write outside.
@Suite("Restore root")
struct RestoreRootTests {
    /// A root, a directory outside it holding one file, and a link `root/escape` → outside.
    struct Fixture {
        let base: String
        var root: String { base + "/root" }
        var outside: String { base + "/outside" }

        init() throws {
            base = FileManager.default.temporaryDirectory.path + "/restore-root-\(UUID().uuidString)"
            try FileManager.default.createDirectory(atPath: base + "/root/dir", withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: base + "/outside", withIntermediateDirectories: true)
            try Data("mine".utf8).write(to: URL(fileURLWithPath: base + "/outside/file"))
            try FileManager.default.createSymbolicLink(atPath: base + "/root/escape", withDestinationPath: base + "/outside")
            try FileManager.default.createSymbolicLink(atPath: base + "/root/dir/escape", withDestinationPath: base + "/outside")
            try FileManager.default.createSymbolicLink(atPath: base + "/root/dir/conf", withDestinationPath: base + "/outside/file")
        }

        func outsideNames() throws -> [String] { try FileManager.default.contentsOfDirectory(atPath: outside).sorted() }
        func remove() { try? FileManager.default.removeItem(atPath: base) }
    }

    @Test func nothingIsWrittenThroughALinkInsideTheTree() throws {
        let fixture = try Fixture()
        defer { fixture.remove() }
        let root = try RestoreRoot.open(fixture.root)
        defer { root.close() }

        func refused(_ what: String, _ body: () throws -> Void) {
            do {
                try body()
                Issue.record("\(what) went through the link")
            } catch let error as FileSystemError {
                #expect(error.reason.contains("symbolic link") && error.path.hasPrefix(fixture.root + "/"), "\(what): \(error)")
            } catch {
                Issue.record("\(what): \(error)")
            }
        }
        refused("create a file") { _ = try root.openFile("escape/planted", flags: O_WRONLY, create: true) }
        refused("open a file") { _ = try root.openFile("escape/file", flags: O_WRONLY) }
        refused("create a directory") { try root.makeDirectory("escape/sub") }
        refused("create a link") { try root.makeSymlink("escape/link", target: "/") }
        refused("write a file") { try root.writeDurably("escape/file", Array("theirs".utf8)) }
        refused("create under a deeper link") { _ = try root.openFile("dir/escape/planted", flags: O_WRONLY, create: true) }
        refused("open the link as a file") { _ = try root.openFile("escape", flags: O_WRONLY) }
        refused("read through a link to a file") { _ = try root.contents(of: "dir/conf") }
        refused("inspect beneath the link") { _ = try root.type("escape/file") }
        // A file written whole over a link to a file replaces the link (`DurableFile`'s rename).
        try root.writeDurably("dir/conf", Array("theirs".utf8))
        #expect(try root.type("dir/conf") == S_IFREG)
        #expect(try root.contents(of: "dir/conf") == Array("theirs".utf8))
        #expect(try fixture.outsideNames() == ["file"])
        #expect(FileManager.default.contents(atPath: fixture.outside + "/file") == Data("mine".utf8))

        // Removing a directory holding a link removes the link, not what it points to.
        try root.remove("dir")
        try root.remove("escape")
        #expect(try fixture.outsideNames() == ["file"])
        #expect(try root.names(in: "").isEmpty)
    }

    @Test func filesAndTheirMissingParentsAreCreatedInsideTheRoot() throws {
        let fixture = try Fixture()
        defer { fixture.remove() }
        let root = try RestoreRoot.open(fixture.root)
        defer { root.close() }
        let fd = try root.openFile("base/5/1", flags: O_WRONLY, create: true, mode: 0o600)
        close(fd)
        #expect(try root.type("base/5/1") == S_IFREG)
        #expect(try root.type("base/5") == S_IFDIR)
        #expect(try root.type("base/6/1") == nil)
        #expect(try root.makeSymlink("pg_tblspc/16390", target: "/srv/ts"))
        #expect(try !root.makeSymlink("pg_tblspc/16390", target: "/srv/ts"))  // that very link: unchanged
        #expect(try root.type("pg_tblspc/16390") == S_IFLNK)
        try root.writeDurably("PG_VERSION", Array("15\n".utf8))
        #expect(FileManager.default.contents(atPath: fixture.root + "/PG_VERSION") == Data("15\n".utf8))
        #expect(try root.contents(of: "PG_VERSION") == Array("15\n".utf8))
        #expect(try root.contents(of: "postgresql.auto.conf") == nil)
        #expect(try root.names(in: "").sorted() == ["PG_VERSION", "base", "dir", "escape", "pg_tblspc"])
        // Removing what is not there (nor its parent) is no error.
        try root.remove("global/pg_control")
        try root.remove("base/6/1")
        try root.remove("base/5/1")
        #expect(try root.names(in: "base/5").isEmpty)
    }
}
