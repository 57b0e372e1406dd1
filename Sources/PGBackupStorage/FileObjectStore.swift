import Foundation
import PGBackupFoundations

#if canImport(Glibc)
import Glibc
#endif

/// The `file://` driver: one file per object under a root directory.
///
/// A put writes a temporary file next to its final name, fsyncs it, renames it into place and
/// fsyncs the directory, so an object is visible only complete and survives a power loss once
/// `commit()` returns. Temporary files (`.pgbackup-tmp.*`, named anew for every attempt and
/// locked by their writer: `FileTemporaryFile`) are invisible to `list` and `head`; a dead
/// writer's leftover never blocks a put, and `removeAbandonedTemporaryFiles()` clears them.
/// Inside a `DeferredDurability` batch, the fsyncs and the rename wait for the batch's flush.
/// A create-if-absent put (`commit(ifAbsent: true)`) links the temporary file to its final name
/// instead of renaming it, so that a taken name fails (`EEXIST`); it is never deferred.
public struct FileObjectStore: ObjectStore {
    /// The absolute path of the root directory.
    public let root: String

    public var location: String { "file://" + root }

    static let temporaryPrefix = FileTemporaryFile.prefix

    /// The random part of each temporary file's name (tests make it collide on purpose).
    var temporarySuffix: @Sendable () -> String = DurableFile.randomSuffix

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
        let suffix = temporarySuffix
        let deferral = DeferredDurability.current
        let temporary = try await BlockingIO.run { () throws -> FileTemporaryFile in
            do {
                if let deferral {
                    try deferral.makeDirectories(FileSystem.directory(of: path))
                } else {
                    try FileSystem.makeDirectories(FileSystem.directory(of: path))
                }
            } catch {
                throw StorageError.failed(operation: "create the directory of", key: key, store: location, reason: "\(error)")
            }
            do {
                return try FileTemporaryFile.create(for: path, suffix: suffix)
            } catch {
                throw StorageError.failed(operation: "create", key: key, store: location, reason: (error as? FileSystemError)?.reason ?? "\(error)")
            }
        }
        return FileObjectWriter(key: key, path: path, temporary: temporary, store: location, deferral: deferral)
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

    /// Removes the temporary files that writers which died mid-put left behind, and returns
    /// their count. Never removes one whose writer lives, in this process or another (see
    /// `FileTemporaryFile`); with `age`, spares files modified in the last `age` seconds too.
    /// Walks the whole store: run it at start-up, not per put.
    @discardableResult
    public func removeAbandonedTemporaryFiles(olderThan age: TimeInterval = 0) async throws -> Int {
        let (root, location) = (self.root, self.location)
        return try await BlockingIO.run {
            do {
                return try FileTemporaryFile.sweep(root: root, olderThan: age)
            } catch {
                throw StorageError.failed(operation: "remove abandoned temporary files from", key: root, store: location, reason: "\(error)")
            }
        }
    }
}

/// Writes one object to a temporary file, then renames it into place on commit.
final class FileObjectWriter: ObjectWriter {
    let key: String
    let path: String
    let store: String
    /// Nil once committed or aborted.
    private var temporary: FileTemporaryFile?
    private var written: Int64 = 0
    /// The batch that makes this put visible and durable, when the caller deferred that.
    let deferral: DeferredDurability?

    init(key: String, path: String, temporary: FileTemporaryFile, store: String, deferral: DeferredDurability? = nil) {
        self.key = key
        self.path = path
        self.temporary = temporary
        self.store = store
        self.deferral = deferral
    }

    deinit {
        // Neither committed nor aborted: the caller failed; leave nothing visible or open.
        temporary?.discard()
    }

    func write(_ bytes: [UInt8]) async throws {
        guard let fd = temporary?.fd else { preconditionFailure("write after commit or abort") }
        let (key, store) = (self.key, self.store)
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

    /// Without `ifAbsent`, `DurableFile.commit` (fsync, rename, fsync of the directory), or the
    /// batch's flush inside a `DeferredDurability` batch. With `ifAbsent`, the fsynced temporary
    /// file is hard-linked to the final name (`link(2)` fails with `EEXIST` when the name is
    /// taken, atomically, also across processes and on NFS) and then unlinked; never deferred.
    func commit(ifAbsent: Bool) async throws -> ObjectInfo {
        guard let temporary else { preconditionFailure("commit after commit or abort") }
        let (key, store, path) = (self.key, self.store, self.path)
        self.temporary = nil
        if let deferral, !ifAbsent {
            try await BlockingIO.run { try deferral.add(.init(temporary: temporary, path: path, key: key, store: store)) }
            return ObjectInfo(key: key, size: written, modified: Date())
        }
        try await BlockingIO.run {
            guard ifAbsent else {
                do {
                    try temporary.commit()
                } catch let error as FileSystemError {
                    throw StorageError.failed(operation: error.operation, key: key, store: store, reason: error.reason)
                }
                return
            }
            guard fsync(temporary.fd) == 0 else {
                let reason = FileSystem.errnoDescription()
                temporary.discard()
                throw StorageError.failed(operation: "fsync", key: key, store: store, reason: reason)
            }
            // On NFS a retransmitted LINK can answer EEXIST for a link that was made: the
            // temporary file's link count tells (2: the final name is this file).
            let code = link(temporary.path, path) == 0 ? 0 : errno
            var info = stat()
            guard code == 0 || (code == EEXIST && fstat(temporary.fd, &info) == 0 && info.st_nlink == 2) else {
                temporary.discard()
                if code == EEXIST { throw StorageError.alreadyExists(key: key, store: store) }
                throw StorageError.failed(
                    operation: "create", key: key, store: store,
                    reason: FileSystem.errnoDescription(code) + " (HINT: the repository's file system must support hard links)")
            }
            // The object has its name; the temporary one goes, unlinked while still locked.
            temporary.discard()
            try FileSystem.syncDirectory(FileSystem.directory(of: path))
        }
        return ObjectInfo(key: key, size: written, modified: Date())
    }

    func abort() async {
        temporary?.discard()
        temporary = nil
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
