import Foundation
import PGBackupFoundations

#if canImport(Glibc)
import Glibc
#endif

/// The daemon's local spool. WAL is written to `<segment>.partial`; a segment that is complete
/// is fsync'd and renamed to `<segment>`, ready for the uploader, which deletes it once the
/// repository holds it. Used by the receiver's thread only (blocking I/O, not Sendable).
final class WALSpool {
    let directory: String
    let segmentSize: WALSegmentSize
    private var current: (name: WALSegmentName, fd: Int32)?

    init(directory: String, segmentSize: WALSegmentSize) throws {
        self.directory = directory
        self.segmentSize = segmentSize
        do {
            try FileSystem.makeDirectories(directory, mode: 0o700)
        } catch {
            throw WALSpoolError.unusableDirectory(error)
        }
    }

    deinit {
        if let current { close(current.fd) }
    }

    func partialPath(_ name: WALSegmentName) -> String { "\(directory)/\(name.name).partial" }
    func completedPath(_ name: WALSegmentName) -> String { "\(directory)/\(name.name)" }

    /// The segment being written, if any.
    var currentSegment: WALSegmentName? { current?.name }

    /// Writes WAL that starts at `start` on `timeline`, across segment boundaries if need be.
    /// Returns the segments this write completed (fsync'd and renamed, in order).
    func write(_ bytes: UnsafeRawBufferPointer, at start: LSN, timeline: TimelineID) throws -> [WALSegmentName] {
        var completed: [WALSegmentName] = []
        var position = start
        var offset = 0
        while offset < bytes.count {
            let name = WALSegmentName(timeline: timeline, containing: position, segmentSize: segmentSize)
            let fd = try open(name)
            let inSegment = Int(segmentSize.offset(of: position))
            let count = min(bytes.count - offset, Int(segmentSize.bytes) - inSegment)
            var written = 0
            while written < count {
                let n = pwrite(fd, bytes.baseAddress! + offset + written, count - written, off_t(inSegment + written))
                if n < 0 {
                    if errno == EINTR { continue }
                    throw FileSystemError(operation: "write", path: partialPath(name), reason: FileSystem.errnoDescription())
                }
                written += n
            }
            offset += count
            position = position + UInt64(count)
            if segmentSize.isSegmentBoundary(position) {
                try completeCurrent()
                completed.append(name)
            }
        }
        return completed
    }

    /// fsyncs the segment being written.
    func sync() throws {
        guard let current else { return }
        guard fsync(current.fd) == 0 else {
            throw FileSystemError(operation: "fsync", path: partialPath(current.name), reason: FileSystem.errnoDescription())
        }
    }

    /// Stops writing the current segment without completing it (a timeline switch or the end of
    /// the stream): fsyncs it and leaves it as `.partial`.
    func closeCurrent() throws {
        try sync()
        if let current { close(current.fd) }
        current = nil
    }

    /// Removes a spool file the repository now holds.
    func remove(_ path: String) {
        unlink(path)
    }

    /// Completed segments waiting for upload (a previous run died before uploading them), oldest first.
    func pendingSegments() -> [WALSegmentName] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.compactMap { try? WALSegmentName(parsing: $0, segmentSize: segmentSize) }.sorted()
    }

    /// The `.partial` files a previous run left, oldest first, with their sizes. Their WAL may
    /// have been reported as *written* (with `--synchronous`, acknowledged to clients) and the
    /// server may be gone: they go to the repository before anything else, and are removed only
    /// once it holds their bytes.
    func partialFiles() -> [(segment: WALSegmentName, path: String, size: Int)] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.compactMap { name -> (WALSegmentName, String, Int)? in
            guard name.hasSuffix(".partial"),
                  let segment = try? WALSegmentName(parsing: name.dropLast(".partial".count), segmentSize: segmentSize) else { return nil }
            let path = "\(directory)/\(name)"
            var info = stat()
            guard stat(path, &info) == 0 else { return nil }
            return (segment, path, Int(info.st_size))
        }.sorted { $0.0 < $1.0 }
    }

    private func open(_ name: WALSegmentName) throws -> Int32 {
        if let current, current.name == name { return current.fd }
        try closeCurrent()
        let path = partialPath(name)
        let fd = Glibc.open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw FileSystemError(operation: "create", path: path, reason: FileSystem.errnoDescription())
        }
        try FileSystem.syncDirectory(directory)
        current = (name, fd)
        return fd
    }

    private func completeCurrent() throws {
        guard let (name, _) = current else { return }
        try closeCurrent()
        guard rename(partialPath(name), completedPath(name)) == 0 else {
            throw FileSystemError(operation: "rename", path: partialPath(name), reason: FileSystem.errnoDescription())
        }
        try FileSystem.syncDirectory(directory)
    }
}
