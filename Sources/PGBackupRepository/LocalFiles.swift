import Foundation
import PGBackupFoundations

#if canImport(Glibc)
import Glibc
#endif

/// Sequential reads of a local file, each on a blocking-I/O thread. Owned by one task.
final class LocalFileReader {
    let path: String
    private var fd: Int32

    private init(path: String, fd: Int32) {
        self.path = path
        self.fd = fd
    }

    /// Opens `path` for reading; `FileSystemError` names it when it cannot.
    static func open(_ path: String) async throws -> LocalFileReader {
        let fd = try await BlockingIO.run { () throws -> Int32 in
            let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else {
                throw FileSystemError(operation: "open", path: path, reason: FileSystem.errnoDescription())
            }
            return fd
        }
        return LocalFileReader(path: path, fd: fd)
    }

    deinit {
        if fd >= 0 { Glibc.close(fd) }
    }

    /// The file's size now.
    func size() async throws -> UInt64 {
        let (fd, path) = (self.fd, self.path)
        return try await BlockingIO.run {
            var info = stat()
            guard fstat(fd, &info) == 0 else {
                throw FileSystemError(operation: "stat", path: path, reason: FileSystem.errnoDescription())
            }
            return UInt64(info.st_size)
        }
    }

    /// Goes back to the start of the file.
    func rewind() async throws {
        let (fd, path) = (self.fd, self.path)
        try await BlockingIO.run {
            guard lseek(fd, 0, SEEK_SET) == 0 else {
                throw FileSystemError(operation: "seek in", path: path, reason: FileSystem.errnoDescription())
            }
        }
    }

    /// The next bytes, at most `maxLength`; empty at the end of the file.
    func read(maxLength: Int) async throws -> [UInt8] {
        let (fd, path) = (self.fd, self.path)
        return try await BlockingIO.run {
            var buffer = [UInt8](repeating: 0, count: maxLength)
            var filled = 0
            // Fill the whole buffer unless the file ends: callers count on full chunks.
            while filled < maxLength {
                let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + filled, maxLength - filled) }
                if n < 0 {
                    if errno == EINTR { continue }
                    throw FileSystemError(operation: "read", path: path, reason: FileSystem.errnoDescription())
                }
                if n == 0 { break }
                filled += n
            }
            buffer.removeLast(maxLength - filled)
            return buffer
        }
    }

    func close() {
        if fd >= 0 {
            Glibc.close(fd)
            fd = -1
        }
    }
}

/// Writes a local file atomically, streamed: a `DurableFile` (a temporary file next to it, mode
/// 0600 from the start) made visible by `commit()` (fsync, rename, fsync of the directory).
/// Without `commit()`, the destination keeps whatever it held before (or stays absent) and the
/// temporary file is removed.
final class AtomicFileWriter {
    let path: String
    /// Nil once committed or aborted.
    private var file: DurableFile?

    /// The temporary file's descriptor, for writes on a blocking-I/O thread; valid until
    /// `commit()` or `abort()`.
    let descriptor: Int32
    let temporaryPath: String

    private init(path: String, file: DurableFile) {
        self.path = path
        self.file = file
        self.descriptor = file.descriptor
        self.temporaryPath = file.temporaryPath
    }

    /// Creates the temporary file (mode 0600) in the destination's directory.
    static func create(_ path: String) async throws -> AtomicFileWriter {
        let file = try await BlockingIO.run { try DurableFile.create(path, mode: 0o600) }
        return AtomicFileWriter(path: path, file: file)
    }

    deinit {
        file?.discard()
    }

    func write(_ bytes: [UInt8]) async throws {
        guard !bytes.isEmpty else { return }
        guard let file else { preconditionFailure("write after commit or abort") }
        try await BlockingIO.run { try bytes.withUnsafeBytes { try file.write($0) } }
    }

    /// Extends the file with zeros to `length` bytes (a no-op if it is that long already).
    func extend(to length: UInt64) async throws {
        let (fd, temporaryPath) = (self.descriptor, self.temporaryPath)
        try await BlockingIO.run {
            var info = stat()
            guard fstat(fd, &info) == 0 else {
                throw FileSystemError(operation: "stat", path: temporaryPath, reason: FileSystem.errnoDescription())
            }
            guard UInt64(info.st_size) < length else { return }
            guard ftruncate(fd, off_t(length)) == 0 else {
                throw FileSystemError(operation: "extend", path: temporaryPath, reason: FileSystem.errnoDescription())
            }
        }
    }

    /// Makes the file visible under its name, complete and durable.
    func commit() async throws {
        guard let file else { preconditionFailure("commit after commit or abort") }
        self.file = nil
        try await BlockingIO.run { try file.commit() }
    }

    /// Removes the temporary file; the destination is untouched.
    func abort() {
        file?.discard()
        file = nil
    }
}
