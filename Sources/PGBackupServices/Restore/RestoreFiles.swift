import Foundation
import PGBackupFoundations

#if canImport(Glibc)
import Glibc
#endif

/// The POSIX calls a restore makes on its roots and on open descriptors, each throwing
/// `FileSystemError` ("unable to <verb> '<path>': <reason>"); what lies beneath a root is
/// reached through `RestoreRoot`. Blocking: call them through `BlockingIO.run`.
enum RestoreFiles {
    /// What is at `path`, without following a final symbolic link; nil when nothing is.
    static func type(at path: String) throws -> mode_t? {
        var info = stat()
        guard lstat(path, &info) == 0 else {
            if errno == ENOENT { return nil }
            throw FileSystemError(operation: "inspect", path: path, reason: FileSystem.errnoDescription())
        }
        return info.st_mode & S_IFMT
    }

    /// The names in a directory (without `.` and `..`).
    static func names(in directory: String) throws -> [String] {
        guard let dir = opendir(directory) else {
            throw FileSystemError(operation: "list directory", path: directory, reason: FileSystem.errnoDescription())
        }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// Whether `directory` is absent or holds nothing.
    static func isEmptyOrAbsent(_ directory: String) throws -> Bool {
        guard let type = try type(at: directory) else { return true }
        guard type == S_IFDIR else { return false }
        return try names(in: directory).isEmpty
    }

    /// `mkdir -p` of a root, then mode 0700 on it (PostgreSQL wants 0700 or 0750 on the data
    /// directory; we make every directory 0700).
    static func makeRoot(_ path: String) throws {
        try FileSystem.makeDirectories(path, mode: 0o700)
        try check(chmod(path, 0o700), "set the mode of", path)
    }

    static func size(of fd: Int32, path: String) throws -> Int64 {
        var info = stat()
        try check(fstat(fd, &info), "inspect", path)
        return Int64(info.st_size)
    }

    /// Writes all of `buffer` at `offset`, retrying short writes and EINTR.
    static func write(_ fd: Int32, _ buffer: UnsafeRawBufferPointer, at offset: Int64, path: String) throws {
        var done = 0
        while done < buffer.count {
            let n = pwrite(fd, buffer.baseAddress! + done, buffer.count - done, off_t(offset) + off_t(done))
            if n < 0 {
                if errno == EINTR { continue }
                throw FileSystemError(operation: "write", path: path, reason: FileSystem.errnoDescription())
            }
            done += n
        }
    }

    /// Reads `buffer.count` bytes at `offset`; returns how many there were (fewer at the end).
    static func read(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, at offset: Int64, path: String) throws -> Int {
        var done = 0
        while done < buffer.count {
            let n = pread(fd, buffer.baseAddress! + done, buffer.count - done, off_t(offset) + off_t(done))
            if n < 0 {
                if errno == EINTR { continue }
                throw FileSystemError(operation: "read", path: path, reason: FileSystem.errnoDescription())
            }
            if n == 0 { break }
            done += n
        }
        return done
    }

    /// Flushes everything written to the file system `fd` (a directory on it) is on: `syncfs(2)`,
    /// which is what a restore of thousands of files wants — one call per file system instead of
    /// an fsync per file and directory — and reports write-back errors since `fd` was opened
    /// (Linux 5.8 and later). Swift's Glibc module does not declare `syncfs` (a GNU extension),
    /// so it is looked up by name: see `canSyncFileSystems`.
    static func syncFileSystem(_ fd: Int32, path: String) throws {
        guard let syncfs = Self.syncfs else {
            throw FileSystemError(operation: "flush the file system of", path: path, reason: "the C library has no syncfs")
        }
        try check(syncfs(fd), "flush the file system of", path)
    }

    /// Whether `syncFileSystem` works here (glibc 2.14 and later); else fsync file by file.
    static var canSyncFileSystems: Bool { syncfs != nil }

    private typealias SyncFS = @convention(c) (Int32) -> Int32
    private static let syncfs: SyncFS? = {
        // RTLD_DEFAULT is a null handle in glibc.
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "syncfs") else { return nil }
        return unsafeBitCast(symbol, to: SyncFS.self)
    }()

    /// The id of the file system holding `path`.
    static func device(of path: String) throws -> UInt64 {
        var info = stat()
        try check(stat(path, &info), "inspect", path)
        return UInt64(info.st_dev)
    }

    static func check(_ result: Int32, _ operation: String, _ path: String) throws {
        guard result == 0 else { throw FileSystemError(operation: operation, path: path, reason: FileSystem.errnoDescription()) }
    }
}
