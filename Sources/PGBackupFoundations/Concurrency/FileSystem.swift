import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A file-system call failed; the description carries the path and the system's reason.
public struct FileSystemError: Error, Sendable, CustomStringConvertible {
    public var operation: String
    public var path: String
    public var reason: String

    public init(operation: String, path: String, reason: String) {
        self.operation = operation
        self.path = path
        self.reason = reason
    }

    public var description: String { "unable to \(operation) '\(path)': \(reason)" }
}

/// Small POSIX helpers shared by everything that writes durably to local disk.
public enum FileSystem {
    /// `strerror(errno)`, for messages.
    public static func errnoDescription(_ code: Int32 = errno) -> String {
        String(cString: strerror(code))
    }

    /// The directory part of an absolute path (`/` for a top-level entry).
    public static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    /// `mkdir -p`, fsyncing each parent whose entries changed, so new directories are durable.
    public static func makeDirectories(_ path: String, mode: mode_t = 0o750) throws {
        var info = stat()
        if stat(path, &info) == 0 {
            guard info.st_mode & S_IFMT == S_IFDIR else {
                throw FileSystemError(operation: "create directory", path: path, reason: "a file of that name exists")
            }
            return
        }
        let parent = directory(of: path)
        if parent != path { try makeDirectories(parent, mode: mode) }
        if mkdir(path, mode) != 0 && errno != EEXIST {
            throw FileSystemError(operation: "create directory", path: path, reason: errnoDescription())
        }
        try syncDirectory(parent)
    }

    /// fsyncs a directory so renames and new entries in it survive a crash. Throws when the
    /// directory cannot be opened or its fsync fails (EIO, ENOSPC, …: the entries may not be on
    /// disk). As PostgreSQL's `fsync_fname`, EINVAL and EBADF are not errors: some file systems
    /// refuse fsync on directories, which then have nothing to flush. A directory that does not
    /// exist has no entries to flush either.
    public static func syncDirectory(_ path: String) throws {
        try syncDirectory(path, fsync: { fsync($0) })
    }

    /// `syncDirectory` with the fsync call given, so tests can make it fail (a failing directory
    /// fsync cannot be provoked portably on a healthy disk).
    static func syncDirectory(_ path: String, fsync: (Int32) -> Int32) throws {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ENOENT { return }
            throw FileSystemError(operation: "open directory", path: path, reason: errnoDescription())
        }
        defer { close(fd) }
        guard fsync(fd) == 0 || errno == EINVAL || errno == EBADF else {
            throw FileSystemError(operation: "fsync directory", path: path, reason: errnoDescription())
        }
    }

    /// Asks the kernel to start writing `length` bytes of `fd` at `offset` (0, 0: the whole file)
    /// back to disk, without waiting (`sync_file_range(2)` with `SYNC_FILE_RANGE_WRITE`, as
    /// PostgreSQL's own `pg_flush_data` does): a later fsync finds little left to write, and many
    /// files started together reach the disk in one journal commit rather than one each. Best
    /// effort: durability still comes from that fsync, which also reports any write-back error.
    /// Swift's Glibc module does not declare it (a GNU extension): looked up by name.
    public static func startWriteback(_ fd: Int32, offset: Int64 = 0, length: Int64 = 0) {
        _ = syncFileRange?(fd, offset, length, 2 /* SYNC_FILE_RANGE_WRITE */)
    }

    private typealias SyncFileRange = @convention(c) (Int32, Int64, Int64, UInt32) -> Int32
    private static let syncFileRange: SyncFileRange? = {
        // RTLD_DEFAULT is a null handle in glibc.
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "sync_file_range") else { return nil }
        return unsafeBitCast(symbol, to: SyncFileRange.self)
    }()

    /// Writes the whole buffer, retrying short writes and EINTR.
    public static func writeAll(_ fd: Int32, _ buffer: UnsafeRawBufferPointer) throws {
        var offset = 0
        while offset < buffer.count {
            let n = write(fd, buffer.baseAddress! + offset, buffer.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                throw FileSystemError(operation: "write", path: "fd \(fd)", reason: errnoDescription())
            }
            offset += n
        }
    }

    /// The modification time of a `stat` result.
    public static func modificationDate(_ info: stat) -> Date {
        Date(timeIntervalSince1970: TimeInterval(info.st_mtim.tv_sec) + TimeInterval(info.st_mtim.tv_nsec) / 1e9)
    }

    /// Calls `visit` with the `/`-separated path (relative to `root`) and `lstat` of every regular
    /// file below `root/relativeDirectory`. A missing start directory visits nothing.
    public static func walk(root: String, relativeDirectory: String, _ visit: (String, stat) throws -> Void) throws {
        let start = relativeDirectory.isEmpty ? root : root + "/" + relativeDirectory
        guard let dir = opendir(start) else {
            if errno == ENOENT || errno == ENOTDIR { return }
            throw FileSystemError(operation: "list directory", path: start, reason: errnoDescription())
        }
        defer { closedir(dir) }
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name == "." || name == ".." { continue }
            let relative = relativeDirectory.isEmpty ? name : relativeDirectory + "/" + name
            var info = stat()
            guard lstat(root + "/" + relative, &info) == 0 else { continue }  // vanished meanwhile
            switch info.st_mode & S_IFMT {
            case S_IFDIR: try walk(root: root, relativeDirectory: relative, visit)
            case S_IFREG: try visit(relative, info)
            default: continue
            }
        }
    }
}
