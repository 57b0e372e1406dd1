import Foundation
import PGBackupFoundations

#if canImport(Glibc)
import Glibc
#endif

/// One root of a restore (the data directory, or a tablespace's directory), open for the whole
/// restore, and the entries beneath it. Every entry is reached from the root's descriptor one
/// component at a time with `O_NOFOLLOW` (`openat`, `mkdirat`, `fstatat`, `unlinkat`, …): a
/// symbolic link inside the tree, whether an older copy left it (delta) or the backup holds it,
/// is never followed, so nothing is ever created, written, moded, timed or removed outside the
/// root. The root's own path may go through links: the operator chose it.
///
/// Relative paths are the plan's (`RestorePlan.Entry.relativePath`: no empty, `.` or `..`
/// component; "" is the root itself). Errors are `FileSystemError`s naming the absolute path; a
/// link met where a directory must be is refused as such. Blocking: call through `BlockingIO.run`.
struct RestoreRoot: Sendable {
    /// The root's absolute path, for messages.
    let path: String
    /// `O_DIRECTORY`, open until `close()`.
    let descriptor: Int32

    /// Opens the root directory, which must exist (`RestoreFiles.makeRoot`).
    static func open(_ path: String) throws -> RestoreRoot {
        let fd = Glibc.open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw FileSystemError(operation: "open directory", path: path, reason: FileSystem.errnoDescription()) }
        return RestoreRoot(path: path, descriptor: fd)
    }

    func close() { _ = Glibc.close(descriptor) }

    /// The absolute path of an entry, for messages.
    func absolute(_ relative: String) -> String {
        relative.isEmpty ? path : path + "/" + relative
    }

    // MARK: directories

    /// Opens the directory `relative` (a new descriptor the caller closes), creating missing
    /// directories (0700) on the way when `create`.
    func openDirectory(_ relative: String, create: Bool = false) throws -> Int32 {
        guard let fd = try walk(to: relative, create: create) else {
            throw FileSystemError(operation: "open directory", path: absolute(relative), reason: FileSystem.errnoDescription(ENOENT))
        }
        return fd
    }

    /// `openDirectory`, or nil when a component is missing (and not `create`).
    private func walk(to relative: String, create: Bool) throws -> Int32? {
        var fd = dup(descriptor)
        guard fd >= 0 else { throw FileSystemError(operation: "open directory", path: path, reason: FileSystem.errnoDescription()) }
        var walked = ""
        for component in relative.split(separator: "/") {
            let name = String(component)
            walked = walked.isEmpty ? name : walked + "/" + name
            var next = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            if next < 0 && errno == ENOENT {
                guard create else {
                    _ = Glibc.close(fd)
                    return nil
                }
                if mkdirat(fd, name, 0o700) != 0 && errno != EEXIST {
                    let reason = FileSystem.errnoDescription()
                    _ = Glibc.close(fd)
                    throw FileSystemError(operation: "create directory", path: absolute(walked), reason: reason)
                }
                next = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            }
            guard next >= 0 else {
                let failure = Self.failure("open directory", absolute(walked), parent: fd, name: name)
                _ = Glibc.close(fd)
                throw failure
            }
            _ = Glibc.close(fd)
            fd = next
        }
        return fd
    }

    /// Runs `body` with the directory holding `relative` (opened as `openDirectory` does) and
    /// the entry's name in it.
    func withParent<T>(of relative: String, create: Bool = false, _ body: (_ directory: Int32, _ name: String) throws -> T) throws -> T {
        let slash = relative.lastIndex(of: "/")
        let parent = slash.map { String(relative[..<$0]) } ?? ""
        let name = slash.map { String(relative[relative.index(after: $0)...]) } ?? relative
        let fd = try openDirectory(parent, create: create)
        defer { _ = Glibc.close(fd) }
        return try body(fd, name)
    }

    /// What is at `relative` (a link is a link); nil when nothing is.
    func type(_ relative: String) throws -> mode_t? {
        guard !relative.isEmpty else { return S_IFDIR }
        let slash = relative.lastIndex(of: "/")
        guard let directory = try walk(to: slash.map { String(relative[..<$0]) } ?? "", create: false) else { return nil }
        defer { _ = Glibc.close(directory) }
        let name = slash.map { String(relative[relative.index(after: $0)...]) } ?? relative
        var info = stat()
        guard fstatat(directory, name, &info, AT_SYMLINK_NOFOLLOW) == 0 else {
            if errno == ENOENT { return nil }
            throw FileSystemError(operation: "inspect", path: absolute(relative), reason: FileSystem.errnoDescription())
        }
        return info.st_mode & S_IFMT
    }

    /// The names in the directory `relative` (without `.` and `..`).
    func names(in relative: String) throws -> [String] {
        let fd = try openDirectory(relative)
        defer { _ = Glibc.close(fd) }
        return try Self.names(fd, path: absolute(relative))
    }

    /// A directory (mode 0700) unless one is there already; then sets its mode to 0700.
    func makeDirectory(_ relative: String) throws {
        let fd = try openDirectory(relative, create: true)
        defer { _ = Glibc.close(fd) }
        try RestoreFiles.check(fchmod(fd, 0o700), "set the mode of", absolute(relative))
    }

    // MARK: files and links

    /// Opens the regular file `relative` with `flags` (plus `O_NOFOLLOW | O_CLOEXEC`); with
    /// `create`, creates it with `mode`, and its missing parent directories.
    func openFile(_ relative: String, flags: Int32, create: Bool = false, mode: UInt32 = 0o600) throws -> Int32 {
        try withParent(of: relative, create: create) { directory, name in
            let fd = openat(directory, name, flags | O_NOFOLLOW | O_CLOEXEC | (create ? O_CREAT : 0), mode_t(mode))
            guard fd >= 0 else { throw Self.failure("open", absolute(relative), parent: directory, name: name) }
            return fd
        }
    }

    /// A symbolic link `relative` → `target`, replacing whatever is there unless it is that very
    /// link. Returns whether it changed anything.
    @discardableResult
    func makeSymlink(_ relative: String, target: String) throws -> Bool {
        try withParent(of: relative, create: true) { directory, name in
            var info = stat()
            if fstatat(directory, name, &info, AT_SYMLINK_NOFOLLOW) == 0 {
                if info.st_mode & S_IFMT == S_IFLNK, Self.linkTarget(directory, name) == target { return false }
                try Self.remove(name, in: directory, path: absolute(relative))
            }
            try RestoreFiles.check(symlinkat(target, directory, name), "create symbolic link", absolute(relative))
            return true
        }
    }

    /// Removes a file, a link (never what it points to) or a directory with everything in it;
    /// nothing when nothing is there.
    func remove(_ relative: String) throws {
        precondition(!relative.isEmpty, "a restore never removes a root")
        let slash = relative.lastIndex(of: "/")
        guard let directory = try walk(to: slash.map { String(relative[..<$0]) } ?? "", create: false) else { return }
        defer { _ = Glibc.close(directory) }
        try Self.remove(slash.map { String(relative[relative.index(after: $0)...]) } ?? relative, in: directory, path: absolute(relative))
    }

    /// Sets the modification (and access) time of `relative`, a link's own.
    func setModificationTime(_ relative: String, seconds: Int, nanoseconds: Int) throws {
        try withParent(of: relative) { directory, name in
            let time = timespec(tv_sec: seconds, tv_nsec: nanoseconds)
            var times = [time, time]
            try RestoreFiles.check(utimensat(directory, name, &times, AT_SYMLINK_NOFOLLOW), "set the modification time of", absolute(relative))
        }
    }

    /// Replaces a small file atomically and durably (`DurableFile`: a new file of `mode`, fsync'd,
    /// renamed over the old one, the directory fsync'd); a link at `relative` is replaced.
    func writeDurably(_ relative: String, _ bytes: [UInt8], mode: UInt32 = 0o600, modificationTime: timespec? = nil) throws {
        try withParent(of: relative, create: true) { directory, name in
            let slash = relative.lastIndex(of: "/")
            let parent = absolute(slash.map { String(relative[..<$0]) } ?? "")
            try DurableFile.write(
                name, in: directory, directoryPath: parent, contents: bytes, mode: mode_t(mode), modificationTime: modificationTime)
        }
    }

    /// The whole content of a small regular file; nil when nothing is there.
    func contents(of relative: String) throws -> [UInt8]? {
        guard try type(relative) != nil else { return nil }
        let fd = try openFile(relative, flags: O_RDONLY)
        defer { _ = Glibc.close(fd) }
        var content: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let got = try buffer.withUnsafeMutableBytes { try RestoreFiles.read(fd, into: $0, at: Int64(content.count), path: absolute(relative)) }
            content.append(contentsOf: buffer[..<got])
            if got < buffer.count { return content }
        }
    }

    /// The SHA-256 of bytes `offset ..< offset + length` of a file; nil when it is shorter.
    func sha256(of relative: String, offset: Int64, length: Int64, buffer: UnsafeMutableRawBufferPointer) throws -> SHA256Digest? {
        let fd = try openFile(relative, flags: O_RDONLY)
        defer { _ = Glibc.close(fd) }
        var hasher = SHA256Hasher()
        var position = offset
        let end = offset + length
        while position < end {
            let want = Int(min(Int64(buffer.count), end - position))
            let got = try RestoreFiles.read(fd, into: UnsafeMutableRawBufferPointer(rebasing: buffer[..<want]), at: position, path: absolute(relative))
            guard got == want else { return nil }
            hasher.update(UnsafeRawBufferPointer(rebasing: buffer[..<got]))
            position += Int64(got)
        }
        return hasher.finalize()
    }

    /// fsyncs every regular file and directory of the tree (not following links), children first.
    func fsyncTree() throws {
        func sync(_ fd: Int32, _ relative: String) throws {
            for name in try Self.names(fd, path: absolute(relative)) {
                let child = relative.isEmpty ? name : relative + "/" + name
                var info = stat()
                try RestoreFiles.check(fstatat(fd, name, &info, AT_SYMLINK_NOFOLLOW), "inspect", absolute(child))
                let type = info.st_mode & S_IFMT
                guard type == S_IFDIR || type == S_IFREG else { continue }
                let childFD = openat(fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | (type == S_IFDIR ? O_DIRECTORY : 0))
                guard childFD >= 0 else { throw FileSystemError(operation: "open", path: absolute(child), reason: FileSystem.errnoDescription()) }
                defer { _ = Glibc.close(childFD) }
                if type == S_IFDIR { try sync(childFD, child) } else { try RestoreFiles.check(fsync(childFD), "fsync", absolute(child)) }
            }
            try RestoreFiles.check(fsync(fd), "fsync", absolute(relative))
        }
        try sync(descriptor, "")
    }

    // MARK: plumbing

    /// The names in the open directory `fd` (without `.` and `..`); `fd` stays open.
    private static func names(_ fd: Int32, path: String) throws -> [String] {
        let copy = dup(fd)
        guard copy >= 0, let dir = fdopendir(copy) else {
            let reason = FileSystem.errnoDescription()
            if copy >= 0 { _ = Glibc.close(copy) }
            throw FileSystemError(operation: "list directory", path: path, reason: reason)
        }
        defer { closedir(dir) }
        rewinddir(dir)  // a dup shares the offset with `fd`, which an earlier listing may have moved
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// The error for a failed `openat` of `name` in `parent`: a symbolic link is named as such.
    private static func failure(_ operation: String, _ path: String, parent: Int32, name: String) -> FileSystemError {
        let reason = FileSystem.errnoDescription()
        var info = stat()
        if fstatat(parent, name, &info, AT_SYMLINK_NOFOLLOW) == 0, info.st_mode & S_IFMT == S_IFLNK {
            return FileSystemError(operation: operation, path: path, reason: "it is a symbolic link, and a restore never writes through one")
        }
        return FileSystemError(operation: operation, path: path, reason: reason)
    }

    private static func linkTarget(_ directory: Int32, _ name: String) -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let length = readlinkat(directory, name, &buffer, buffer.count - 1)
        guard length >= 0 else { return nil }
        return String(decoding: buffer[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Removes `name` in `directory`: a file or link with `unlinkat`, a directory with its
    /// content first (each level opened `O_NOFOLLOW`).
    private static func remove(_ name: String, in directory: Int32, path: String) throws {
        var info = stat()
        guard fstatat(directory, name, &info, AT_SYMLINK_NOFOLLOW) == 0 else {
            if errno == ENOENT { return }
            throw FileSystemError(operation: "inspect", path: path, reason: FileSystem.errnoDescription())
        }
        guard info.st_mode & S_IFMT == S_IFDIR else {
            guard unlinkat(directory, name, 0) == 0 || errno == ENOENT else {
                throw FileSystemError(operation: "remove", path: path, reason: FileSystem.errnoDescription())
            }
            return
        }
        let fd = openat(directory, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { throw FileSystemError(operation: "open directory", path: path, reason: FileSystem.errnoDescription()) }
        do {
            defer { _ = Glibc.close(fd) }
            for child in try names(fd, path: path) { try remove(child, in: fd, path: path + "/" + child) }
        }
        try RestoreFiles.check(unlinkat(directory, name, AT_REMOVEDIR), "remove directory", path)
    }
}
