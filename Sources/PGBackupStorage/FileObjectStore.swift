import Foundation
import PGBackupFoundations

#if canImport(Glibc)
import Glibc
#endif

/// The `file://` driver: one file per object under a root directory.
///
/// A put writes a temporary file next to its final name, fsyncs it, renames it into place and
/// fsyncs the directory, so an object is visible only complete and survives a power loss once
/// `commit()` returns. Temporary files (`.pgbackup-tmp.*`) are invisible to `list` and `head`;
/// `removeAbandonedTemporaryFiles()` clears those a crash left behind.
public struct FileObjectStore: ObjectStore {
    /// The absolute path of the root directory.
    public let root: String

    public var location: String { "file://" + root }

    static let temporaryPrefix = ".pgbackup-tmp."

    /// Opens the store at `root`, an absolute path. With `create`, makes the directory (and its
    /// parents) when missing; otherwise a missing root is `StorageError.unusableStore`.
    public init(root: String, create: Bool = false) throws {
        guard root.hasPrefix("/") else {
            throw StorageError.unusableStore(store: "file://" + root, reason: "the path must be absolute")
        }
        var normalized = root
        while normalized.count > 1 && normalized.hasSuffix("/") { normalized.removeLast() }
        self.root = normalized
        var info = stat()
        if stat(normalized, &info) == 0 {
            guard info.st_mode & S_IFMT == S_IFDIR else {
                throw StorageError.unusableStore(store: location, reason: "'\(normalized)' is not a directory")
            }
        } else if create {
            do {
                try FileSystem.makeDirectories(normalized)
            } catch {
                throw StorageError.unusableStore(store: location, reason: "\(error)")
            }
        } else {
            throw StorageError.unusableStore(
                store: location,
                reason: "directory '\(normalized)' does not exist (HINT: run `pgbackup init` to create the repository)")
        }
    }

    func path(of key: String) throws -> String {
        try validateObjectKey(key)
        for component in key.split(separator: "/") where component.hasPrefix(Self.temporaryPrefix) {
            throw StorageError.invalidKey(key, reason: "'\(Self.temporaryPrefix)' names are reserved")
        }
        return root + "/" + key
    }

    public func writer(for key: String) async throws -> any ObjectWriter {
        let path = try path(of: key)
        let location = self.location
        let fd = try await BlockingIO.run { () throws -> Int32 in
            // A `delete` may remove the directory, empty, between its creation and the open:
            // then create it again.
            var attempt = 0
            while true {
                attempt += 1
                do {
                    try FileSystem.makeDirectories(FileSystem.directory(of: path))
                } catch {
                    throw StorageError.failed(operation: "create the directory of", key: key, store: location, reason: "\(error)")
                }
                let temporary = FileObjectWriter.temporaryPath(for: path)
                let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o640)
                if fd >= 0 { return fd }
                guard errno == ENOENT, attempt < 5 else {
                    throw StorageError.failed(operation: "create", key: key, store: location, reason: FileSystem.errnoDescription())
                }
            }
        }
        return FileObjectWriter(key: key, path: path, fd: fd, store: location)
    }

    public func reader(for key: String) async throws -> any ObjectReader {
        let path = try path(of: key)
        let location = self.location
        let fd = try await BlockingIO.run { () throws -> Int32 in
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else {
                if errno == ENOENT { throw StorageError.notFound(key: key, store: location) }
                throw StorageError.failed(operation: "open", key: key, store: location, reason: FileSystem.errnoDescription())
            }
            return fd
        }
        return FileObjectReader(key: key, fd: fd, store: location)
    }

    public func head(_ key: String) async throws -> ObjectInfo {
        let path = try path(of: key)
        let location = self.location
        return try await BlockingIO.run {
            var info = stat()
            guard stat(path, &info) == 0 else {
                if errno == ENOENT || errno == ENOTDIR { throw StorageError.notFound(key: key, store: location) }
                throw StorageError.failed(operation: "stat", key: key, store: location, reason: FileSystem.errnoDescription())
            }
            guard info.st_mode & S_IFMT == S_IFREG else { throw StorageError.notFound(key: key, store: location) }
            return ObjectInfo(key: key, size: Int64(info.st_size), modified: FileSystem.modificationDate(info))
        }
    }

    public func list(prefix: String) async throws -> [ObjectInfo] {
        let root = self.root
        let location = self.location
        return try await BlockingIO.run {
            // Walk only the deepest directory the prefix names; filter the rest by string.
            let directoryPart = prefix.contains("/") ? String(prefix[..<prefix.lastIndex(of: "/")!]) : ""
            var result: [ObjectInfo] = []
            do {
                try FileSystem.walk(root: root, relativeDirectory: directoryPart) { key, info in
                    guard key.hasPrefix(prefix),
                          !key.split(separator: "/").last!.hasPrefix(Self.temporaryPrefix) else { return }
                    result.append(ObjectInfo(key: key, size: Int64(info.st_size), modified: FileSystem.modificationDate(info)))
                }
            } catch {
                throw StorageError.failed(operation: "list", key: prefix, store: location, reason: "\(error)")
            }
            return result.sorted { $0.key < $1.key }
        }
    }

    public func delete(_ keys: [String]) async throws {
        let paths = try keys.map { try path(of: $0) }
        let location = self.location
        try await BlockingIO.run {
            var directories = Set<String>()
            for (key, path) in zip(keys, paths) {
                if unlink(path) != 0 && errno != ENOENT && errno != ENOTDIR {
                    throw StorageError.failed(operation: "delete", key: key, store: location, reason: FileSystem.errnoDescription())
                }
                directories.insert(FileSystem.directory(of: path))
            }
            for directory in directories { try FileSystem.syncDirectory(directory) }
            // Directories left empty go too (deepest first), as on an object store, where a
            // prefix exists only while objects have it. rmdir(2) removes only empty ones.
            for directory in directories.sorted(by: { $0.count > $1.count }) {
                var current = directory
                while current.count > root.count, current.hasPrefix(root + "/"), rmdir(current) == 0 {
                    current = FileSystem.directory(of: current)
                }
            }
        }
    }

    /// Removes temporary files older than `age` that crashed writers left behind; returns their count.
    @discardableResult
    public func removeAbandonedTemporaryFiles(olderThan age: TimeInterval = 3600) async throws -> Int {
        let root = self.root
        let deadline = Date().addingTimeInterval(-age)
        return try await BlockingIO.run {
            var removed = 0
            try FileSystem.walk(root: root, relativeDirectory: "") { key, info in
                if key.split(separator: "/").last!.hasPrefix(Self.temporaryPrefix),
                   FileSystem.modificationDate(info) < deadline,
                   unlink(root + "/" + key) == 0 {
                    removed += 1
                }
            }
            return removed
        }
    }
}

/// Writes one object to a temporary file, then renames it into place on commit.
final class FileObjectWriter: ObjectWriter {
    let key: String
    let path: String
    let temporaryPath: String
    let store: String
    private var fd: Int32
    private var written: Int64 = 0

    static func temporaryPath(for path: String) -> String {
        let directory = FileSystem.directory(of: path)
        let name = path[path.index(after: path.lastIndex(of: "/")!)...]
        return "\(directory)/\(FileObjectStore.temporaryPrefix)\(name).\(getpid())"
    }

    init(key: String, path: String, fd: Int32, store: String) {
        self.key = key
        self.path = path
        self.temporaryPath = Self.temporaryPath(for: path)
        self.fd = fd
        self.store = store
    }

    deinit {
        // Neither committed nor aborted: the caller failed; leave nothing visible or open.
        if fd >= 0 {
            close(fd)
            unlink(temporaryPath)
        }
    }

    func write(_ bytes: [UInt8]) async throws {
        guard fd >= 0 else { preconditionFailure("write after commit or abort") }
        let (fd, key, store) = (self.fd, self.key, self.store)
        try await BlockingIO.run {
            try bytes.withUnsafeBytes { buffer in
                do {
                    try FileSystem.writeAll(fd, buffer)
                } catch {
                    throw StorageError.failed(operation: "write", key: key, store: store, reason: "\(error)")
                }
            }
        }
        written += Int64(bytes.count)
    }

    func commit() async throws -> ObjectInfo {
        guard fd >= 0 else { preconditionFailure("commit after commit or abort") }
        let (fd, key, store, path, temporaryPath) = (self.fd, self.key, self.store, self.path, self.temporaryPath)
        self.fd = -1
        try await BlockingIO.run {
            defer { close(fd) }
            guard fsync(fd) == 0 else {
                let reason = FileSystem.errnoDescription()
                unlink(temporaryPath)
                throw StorageError.failed(operation: "fsync", key: key, store: store, reason: reason)
            }
            guard rename(temporaryPath, path) == 0 else {
                let reason = FileSystem.errnoDescription()
                unlink(temporaryPath)
                throw StorageError.failed(operation: "rename into place", key: key, store: store, reason: reason)
            }
            try FileSystem.syncDirectory(FileSystem.directory(of: path))
        }
        return ObjectInfo(key: key, size: written, modified: Date())
    }

    func abort() async {
        guard fd >= 0 else { return }
        close(fd)
        unlink(temporaryPath)
        fd = -1
    }
}

/// Reads one object file sequentially.
final class FileObjectReader: ObjectReader {
    let key: String
    let store: String
    private var fd: Int32

    init(key: String, fd: Int32, store: String) {
        self.key = key
        self.fd = fd
        self.store = store
    }

    deinit {
        if fd >= 0 { Glibc.close(fd) }
    }

    func read(maxLength: Int) async throws -> [UInt8] {
        guard fd >= 0 else { preconditionFailure("read after close") }
        let (fd, key, store) = (self.fd, self.key, self.store)
        return try await BlockingIO.run {
            // Uninitialized: a chunk object is often far smaller than maxLength, and zeroing
            // the whole buffer first showed in restore profiles.
            try [UInt8](unsafeUninitializedCapacity: maxLength) { raw, count in
                while true {
                    let n = Glibc.read(fd, raw.baseAddress, raw.count)
                    if n >= 0 {
                        count = n
                        return
                    }
                    if errno == EINTR { continue }
                    throw StorageError.failed(operation: "read", key: key, store: store, reason: FileSystem.errnoDescription())
                }
            }
        }
    }

    func close() async {
        if fd >= 0 {
            Glibc.close(fd)
            fd = -1
        }
    }
}
