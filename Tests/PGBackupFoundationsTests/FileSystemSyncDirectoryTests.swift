import Foundation
import Testing
@testable import PGBackupFoundations

#if canImport(Glibc)
import Glibc
#endif

@Suite("FileSystem.syncDirectory reports what it could not make durable")
struct FileSystemSyncDirectoryTests {
    let directory = FileManager.default.temporaryDirectory.path + "/pgbackup-sync-\(UUID().uuidString)"

    init() throws { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) }

    @Test func aHealthyDirectorySyncs() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileSystem.syncDirectory(directory)
    }

    /// A directory fsync that fails on a healthy disk cannot be provoked portably (it takes a
    /// failing device, e.g. dm-error): the fsync call is replaced by one that fails as a dying
    /// disk's does.
    @Test(arguments: [EIO, ENOSPC])
    func aFailedFsyncIsAnErrorNamingTheDirectory(code: Int32) throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect {
            try FileSystem.syncDirectory(directory, fsync: { _ in errno = code; return -1 })
        } throws: { error in
            "\(error)" == "unable to fsync directory '\(directory)': \(String(cString: strerror(code)))"
        }
    }

    /// As PostgreSQL's fsync_fname: file systems that refuse fsync on directories say EINVAL.
    @Test func aFileSystemWithoutDirectoryFsyncIsNotAnError() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileSystem.syncDirectory(directory, fsync: { _ in errno = EINVAL; return -1 })
    }

    @Test func aPathThatIsNotADirectoryIsAnError() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let file = directory + "/file"
        try Data("x".utf8).write(to: URL(fileURLWithPath: file))
        #expect {
            try FileSystem.syncDirectory(file)
        } throws: { error in "\(error)".hasPrefix("unable to open directory '\(file)'") }
    }
}
