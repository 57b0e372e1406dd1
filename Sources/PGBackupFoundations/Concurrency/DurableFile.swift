import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Who a written file belongs to (`fchown`), for a writer running as root on behalf of another
/// user: a restore into a data directory that `postgres` owns.
public struct FileOwner: Sendable, Hashable {
    public var uid: uid_t
    public var gid: gid_t

    public init(uid: uid_t, gid: gid_t) {
        self.uid = uid
        self.gid = gid
    }
}

/// The one way pgbackup replaces a local file: readers see the old content or the new, whole,
/// never a mix, and once `commit()` returns the new content and its name survive a crash.
///
/// 1. A temporary file `.pgbackup-tmp.<name>.<pid>.<16 random hex digits>` is created in the
///    target's directory with `O_CREAT | O_EXCL | O_NOFOLLOW`: never an existing file, never
///    through a link planted at that name (`EEXIST` draws a new name).
/// 2. Its owner (when asked) and mode are set with `fchown`/`fchmod` before the first byte, so a
///    secret is never readable by anyone else, not even for a moment.
/// 3. The bytes are written (short writes and `EINTR` retried), the modification time set when
///    asked, the file fsync'd, renamed over the target (a link at the target is replaced, not
///    written through), and the directory fsync'd.
///
/// Any failure removes the temporary file and leaves the target as it was. The directory is
/// reached by path or, for writers that must not follow links above the file either (a restore,
/// `RestoreRoot`), by a descriptor the caller opened. Blocking: call through `BlockingIO.run`.
///
/// The `file://` object store's deferred puts (`DeferredDurability`) are the one exception: they
/// batch the fsyncs of many objects and keep their own contract.
public struct DurableFile: Sendable {
    /// The target's path, for messages.
    public let path: String
    /// The temporary file's path, for messages.
    public let temporaryPath: String
    /// The temporary file, open for writing until `commit()` or `discard()`.
    public let descriptor: Int32
    /// The target's directory (a descriptor of our own), open until `commit()` or `discard()`.
    private let directory: Int32
    private let directoryPath: String
    private let name: String
    private let temporaryName: String

    /// The prefix of every temporary file's name (the `file://` store's sweep looks for it).
    public static let temporaryPrefix = ".pgbackup-tmp."

    // MARK: one call

    /// Writes `contents` to `path` as described above, replacing whatever is there.
    public static func write(
        _ path: String, contents: [UInt8], mode: mode_t = 0o600, owner: FileOwner? = nil, modificationTime: timespec? = nil
    ) throws {
        try write(path, contents: contents, mode: mode, owner: owner, modificationTime: modificationTime, writeAll: FileSystem.writeAll)
    }

    /// Writes `contents` to `name` in the open directory `directory` (whose path, for messages,
    /// is `directoryPath`) as described above; `directory` stays open.
    public static func write(
        _ name: String, in directory: Int32, directoryPath: String, contents: [UInt8], mode: mode_t = 0o600,
        owner: FileOwner? = nil, modificationTime: timespec? = nil
    ) throws {
        let file = try create(name, in: directory, directoryPath: directoryPath, mode: mode, owner: owner)
        try file.finish(contents, modificationTime: modificationTime, writeAll: FileSystem.writeAll)
    }

    /// `write(_:contents:…)` with the write call given, so tests can make it fail.
    static func write(
        _ path: String, contents: [UInt8], mode: mode_t, owner: FileOwner?, modificationTime: timespec?,
        writeAll: (Int32, UnsafeRawBufferPointer) throws -> Void
    ) throws {
        let file = try create(path, mode: mode, owner: owner)
        try file.finish(contents, modificationTime: modificationTime, writeAll: writeAll)
    }

    private func finish(_ contents: [UInt8], modificationTime: timespec?, writeAll: (Int32, UnsafeRawBufferPointer) throws -> Void) throws {
        do {
            try contents.withUnsafeBytes { buffer in
                do {
                    try writeAll(descriptor, buffer)
                } catch let error as FileSystemError {
                    throw FileSystemError(operation: "write", path: temporaryPath, reason: error.reason)
                }
            }
        } catch {
            discard()
            throw error
        }
        try commit(modificationTime: modificationTime)
    }

    // MARK: step by step, for writers that stream

    /// Creates the temporary file for `path` (mode and owner already set); write to
    /// `descriptor`, then `commit()` or `discard()`.
    public static func create(_ path: String, mode: mode_t = 0o600, owner: FileOwner? = nil) throws -> DurableFile {
        try create(path, mode: mode, owner: owner, suffix: randomSuffix)
    }

    /// `create(_:mode:owner:)` with the random part of the name given, so tests can plant a
    /// file or a link at the name it tries first (the `file://` store's tests make names collide).
    public static func create(_ path: String, mode: mode_t, owner: FileOwner?, suffix: () -> String) throws -> DurableFile {
        let directoryPath = FileSystem.directory(of: path)
        let directory = open(directoryPath, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard directory >= 0 else {
            throw FileSystemError(operation: "open directory", path: directoryPath, reason: FileSystem.errnoDescription())
        }
        defer { Glibc.close(directory) }
        let name = path.lastIndex(of: "/").map { String(path[path.index(after: $0)...]) } ?? path
        return try create(name, in: directory, directoryPath: directoryPath, mode: mode, owner: owner, suffix: suffix)
    }

    /// Creates the temporary file for `name` in the open directory `directory` (duplicated: the
    /// caller's descriptor stays the caller's).
    public static func create(_ name: String, in directory: Int32, directoryPath: String, mode: mode_t = 0o600, owner: FileOwner? = nil) throws -> DurableFile {
        try create(name, in: directory, directoryPath: directoryPath, mode: mode, owner: owner, suffix: randomSuffix)
    }

    static func create(
        _ name: String, in directory: Int32, directoryPath: String, mode: mode_t, owner: FileOwner?, suffix: () -> String
    ) throws -> DurableFile {
        let path = directoryPath == "/" ? "/" + name : directoryPath + "/" + name
        for _ in 0..<16 {
            let temporaryName = "\(temporaryPrefix)\(name).\(getpid()).\(suffix())"
            let temporaryPath = directoryPath == "/" ? "/" + temporaryName : directoryPath + "/" + temporaryName
            // Mode 0 until fchmod: nobody can open it meanwhile, whatever the umask.
            let fd = openat(directory, temporaryName, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0)
            guard fd >= 0 else {
                if errno == EEXIST { continue }
                throw FileSystemError(operation: "create", path: temporaryPath, reason: FileSystem.errnoDescription())
            }
            let ownDirectory = fcntl(directory, F_DUPFD_CLOEXEC, 0)
            let failure: String? =
                if ownDirectory < 0 { "duplicate the descriptor of the directory of" }
                else if let owner, fchown(fd, owner.uid, owner.gid) != 0 { "change the owner of" }
                else if fchmod(fd, mode) != 0 { "set the mode of" }
                else { nil }
            if let failure {
                let reason = FileSystem.errnoDescription()
                unlinkat(directory, temporaryName, 0)
                Glibc.close(fd)
                if ownDirectory >= 0 { Glibc.close(ownDirectory) }
                throw FileSystemError(operation: failure, path: temporaryPath, reason: reason)
            }
            return DurableFile(
                path: path, temporaryPath: temporaryPath, descriptor: fd, directory: ownDirectory,
                directoryPath: directoryPath, name: name, temporaryName: temporaryName)
        }
        throw FileSystemError(operation: "create", path: "\(directoryPath)/\(temporaryPrefix)\(name).*", reason: "every name tried was taken")
    }

    /// Writes all of `bytes` at the end of the temporary file.
    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        do {
            try FileSystem.writeAll(descriptor, bytes)
        } catch let error as FileSystemError {
            throw FileSystemError(operation: "write", path: temporaryPath, reason: error.reason)
        }
    }

    /// Sets the modification time (when given), fsyncs the file, renames it over the target and
    /// fsyncs the directory. Closes both descriptors, whatever happens; on failure the temporary
    /// file is removed (the target may then be the new file only if the directory fsync failed).
    public func commit(modificationTime: timespec? = nil) throws {
        var renamed = false
        defer {
            if !renamed { unlinkat(directory, temporaryName, 0) }
            close()
        }
        if let modificationTime {
            guard futimens(descriptor, [modificationTime, modificationTime]) == 0 else {
                throw FileSystemError(operation: "set the modification time of", path: temporaryPath, reason: FileSystem.errnoDescription())
            }
        }
        guard fsync(descriptor) == 0 else {
            throw FileSystemError(operation: "fsync", path: temporaryPath, reason: FileSystem.errnoDescription())
        }
        guard renameat(directory, temporaryName, directory, name) == 0 else {
            throw FileSystemError(operation: "rename into place", path: path, reason: FileSystem.errnoDescription())
        }
        renamed = true
        // As `FileSystem.syncDirectory`: EINVAL and EBADF mean nothing to flush.
        guard fsync(directory) == 0 || errno == EINVAL || errno == EBADF else {
            throw FileSystemError(operation: "fsync directory", path: directoryPath, reason: FileSystem.errnoDescription())
        }
    }

    /// Closes both descriptors and leaves the temporary file to the caller, who renamed (or
    /// linked) it into place itself: the `file://` store's deferred and create-if-absent puts.
    public func close() {
        Glibc.close(descriptor)
        Glibc.close(directory)
    }

    /// Removes the temporary file and closes both descriptors; the target is untouched.
    public func discard() {
        unlinkat(directory, temporaryName, 0)
        close()
    }

    /// The random part of a temporary name: 64 bits, 16 hex digits.
    public static func randomSuffix() -> String {
        let hex = String(UInt64.random(in: .min ... .max), radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }
}
