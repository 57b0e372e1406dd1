import Foundation
import Testing
@testable import PGBackupFoundations

#if canImport(Glibc)
import Glibc
#endif

@Suite("DurableFile replaces a file whole, with its mode from the first byte, never through a link")
struct DurableFileTests {
    let directory = FileManager.default.temporaryDirectory.path + "/pgbackup-durable-\(UUID().uuidString)"

    init() throws { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) }

    private func names() throws -> [String] { try FileManager.default.contentsOfDirectory(atPath: directory).sorted() }

    private func mode(_ path: String) -> mode_t {
        var info = stat()
        return lstat(path, &info) == 0 ? info.st_mode & 0o7777 : 0
    }

    @Test(arguments: [mode_t(0o600), 0o640, 0o644])
    func writesTheContentWithTheMode(mode: mode_t) throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/settings.yaml"
        try DurableFile.write(path, contents: Array("a: 1\n".utf8), mode: mode)
        #expect(FileManager.default.contents(atPath: path) == Data("a: 1\n".utf8))
        #expect(self.mode(path) == mode)
        #expect(try names() == ["settings.yaml"])
    }

    /// The mode (and, as root, the owner) is the file's before anything is written to it.
    @Test func theModeAndOwnerAreSetBeforeTheFirstByte() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let owner = geteuid() == 0 ? FileOwner(uid: 65534, gid: 65534) : nil
        var seen: [(mode: mode_t, uid: uid_t, size: Int)] = []
        try DurableFile.write(directory + "/key", contents: Array("secret".utf8), mode: 0o600, owner: owner, modificationTime: nil) { fd, buffer in
            var info = stat()
            #expect(fstat(fd, &info) == 0)
            seen.append((info.st_mode & 0o7777, info.st_uid, Int(info.st_size)))
            try FileSystem.writeAll(fd, buffer)
        }
        #expect(seen.count == 1)
        #expect(seen.first?.mode == 0o600 && seen.first?.size == 0)
        if let owner {
            #expect(seen.first?.uid == owner.uid)
            var info = stat()
            #expect(stat(directory + "/key", &info) == 0 && info.st_uid == owner.uid && info.st_gid == owner.gid)
        }
    }

    @Test func anExistingFileIsReplacedByANewOne() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/postgresql.auto.conf"
        try Data("old content, longer than the new\n".utf8).write(to: URL(fileURLWithPath: path))
        // A reader that had the old file open keeps reading the old content: a new inode took the name.
        let reader = open(path, O_RDONLY)
        defer { close(reader) }
        try DurableFile.write(path, contents: Array("new\n".utf8), mode: 0o600)
        #expect(FileManager.default.contents(atPath: path) == Data("new\n".utf8))
        var buffer = [UInt8](repeating: 0, count: 64)
        let n = read(reader, &buffer, buffer.count)
        #expect(n > 0 && String(decoding: buffer[..<n], as: UTF8.self) == "old content, longer than the new\n")
        #expect(try names() == ["postgresql.auto.conf"])
    }

    @Test func theModificationTimeIsSetWhenAsked() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/pg_control"
        try DurableFile.write(path, contents: [1, 2, 3], mode: 0o600, modificationTime: timespec(tv_sec: 1_000_000_000, tv_nsec: 5))
        var info = stat()
        #expect(stat(path, &info) == 0 && info.st_mtim.tv_sec == 1_000_000_000 && info.st_mtim.tv_nsec == 5)
    }

    /// A link at the target is replaced by the file; what it pointed to is untouched.
    @Test func aLinkAtTheTargetIsReplacedNotWrittenThrough() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let victim = directory + "/victim"
        try Data("keep".utf8).write(to: URL(fileURLWithPath: victim))
        #expect(symlink(victim, directory + "/recovery.signal") == 0)
        try DurableFile.write(directory + "/recovery.signal", contents: [], mode: 0o600)
        #expect(FileManager.default.contents(atPath: victim) == Data("keep".utf8))
        var info = stat()
        #expect(lstat(directory + "/recovery.signal", &info) == 0 && info.st_mode & S_IFMT == S_IFREG && info.st_size == 0)
    }

    /// A link (or a file) planted at the temporary name is never opened: a new name is drawn,
    /// and the planted entry is left as it was.
    @Test func aLinkAtTheTemporaryNameIsNotFollowed() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let victim = directory + "/victim"
        try Data("keep".utf8).write(to: URL(fileURLWithPath: victim))
        let planted = "\(DurableFile.temporaryPrefix)target.\(getpid()).first"
        #expect(symlink(victim, directory + "/" + planted) == 0)
        var suffixes = ["first", "second"][...]
        let file = try DurableFile.create(directory + "/target", mode: 0o600, owner: nil) { suffixes.popFirst() ?? "later" }
        try Array("new".utf8).withUnsafeBytes { try file.write($0) }
        try file.commit()
        #expect(FileManager.default.contents(atPath: victim) == Data("keep".utf8))
        #expect(FileManager.default.contents(atPath: directory + "/target") == Data("new".utf8))
        #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: directory + "/" + planted)) == victim)
        #expect(try names() == [planted, "target", "victim"].sorted())
    }

    /// A failed write leaves the old file as it was and no temporary file.
    @Test func aFailedWriteLeavesTheOldFileAndNoTemporaryFile() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/standby.signal"
        try Data("old".utf8).write(to: URL(fileURLWithPath: path))
        #expect {
            try DurableFile.write(path, contents: Array("new".utf8), mode: 0o600, owner: nil, modificationTime: nil) { fd, buffer in
                try FileSystem.writeAll(fd, UnsafeRawBufferPointer(rebasing: buffer.prefix(1)))
                errno = ENOSPC
                throw FileSystemError(operation: "write", path: "fd \(fd)", reason: FileSystem.errnoDescription())
            }
        } throws: { error in
            "\(error)".hasPrefix("unable to write '\(directory)/\(DurableFile.temporaryPrefix)standby.signal.")
                && "\(error)".hasSuffix(String(cString: strerror(ENOSPC)))
        }
        #expect(FileManager.default.contents(atPath: path) == Data("old".utf8))
        #expect(try names() == ["standby.signal"])
    }

    /// A rename that fails (a non-empty directory holds the name) leaves that directory as it
    /// was and no temporary file.
    @Test func aFailedRenameLeavesTheTargetAndNoTemporaryFile() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/occupied"
        try FileManager.default.createDirectory(atPath: path + "/inside", withIntermediateDirectories: true)
        #expect {
            try DurableFile.write(path, contents: Array("new".utf8))
        } throws: { error in
            "\(error)" == "unable to rename into place '\(path)': \(String(cString: strerror(EISDIR)))"
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: path) == ["inside"])
        #expect(try names() == ["occupied"])
    }

    @Test func aMissingDirectoryIsAnErrorNamingIt() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect {
            try DurableFile.write(directory + "/absent/file", contents: [1])
        } throws: { error in
            "\(error)" == "unable to open directory '\(directory)/absent': \(String(cString: strerror(ENOENT)))"
        }
    }

    /// Streamed writes, then a discard: the target never changes.
    @Test func aDiscardedFileLeavesTheTarget() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/000000010000000000000003"
        try Data("old".utf8).write(to: URL(fileURLWithPath: path))
        let file = try DurableFile.create(path, mode: 0o600)
        for piece in ["a", "b"] { try Array(piece.utf8).withUnsafeBytes { try file.write($0) } }
        #expect(try names().count == 2)
        file.discard()
        #expect(FileManager.default.contents(atPath: path) == Data("old".utf8))
        #expect(try names() == ["000000010000000000000003"])
    }

    /// Through a directory descriptor, as a restore writes beneath its roots.
    @Test func writesInADirectoryGivenByDescriptor() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let fd = open(directory, O_RDONLY | O_DIRECTORY)
        defer { close(fd) }
        try DurableFile.write("RESTORE_FAILED", in: fd, directoryPath: directory, contents: Array("in progress".utf8), mode: 0o600)
        try DurableFile.write("RESTORE_FAILED", in: fd, directoryPath: directory, contents: Array("failed".utf8), mode: 0o600)
        #expect(FileManager.default.contents(atPath: directory + "/RESTORE_FAILED") == Data("failed".utf8))
        #expect(try names() == ["RESTORE_FAILED"])
        #expect(fcntl(fd, F_GETFD) >= 0)  // the caller's descriptor stays open
    }
}
