import PGBackupFoundations
import PGBackupStorage

extension WALArchive {
    /// Fetches a file by its PostgreSQL name (segment, `NNNNNNNN.history`, `*.backup`,
    /// `*.partial`) into `destination`, verified, atomically: the content goes to a temporary file
    /// next to `destination`, and only a copy that matches its seal is fsynced and renamed into
    /// place. On any failure `destination` is left as it was (absent, or its old content).
    ///
    /// A segment that is only held as a partial copy is served zero-padded to the segment size:
    /// recovery replays it up to the end of its WAL and stops there, as with a segment PostgreSQL
    /// itself was writing. A missing file throws `WALArchiveError.notFound(name)`; a name that is
    /// not a WAL file name throws `WALNameError`; a damaged object throws `SealError`.
    public func fetch(_ name: String, to destination: String) async throws {
        let source: (key: String, algorithm: CompressionAlgorithm, padTo: UInt64?)
        switch try WALFileName(parsing: name, segmentSize: segmentSize) {
        case .segment(let segment):
            if let copy = try await storedCopies(of: segment).first {
                source = (copy.key, copy.algorithm, nil)
            } else if let partial = try await storedPartial(of: segment) {
                source = (partial.key, partial.algorithm, segmentSize.bytes)
            } else {
                throw WALArchiveError.notFound(name)
            }
        case .partialSegment(let segment):
            guard let partial = try await storedPartial(of: segment) else { throw WALArchiveError.notFound(name) }
            source = (partial.key, partial.algorithm, nil)
        case .history(let timeline):
            source = (layout.key(of: .history(timeline)), .none, nil)
        case let .backupHistory(segment, offset):
            source = (layout.key(of: .backupHistory(segment, offset: offset)), .none, nil)
        }
        do {
            try await copy(key: source.key, algorithm: source.algorithm, to: destination, padTo: source.padTo)
        } catch StorageError.notFound {
            throw WALArchiveError.notFound(name)
        }
    }

    /// The stored partial copy of a segment, if any.
    func storedPartial(of segment: WALSegmentName) async throws -> (key: String, algorithm: CompressionAlgorithm)? {
        try await store.list(prefix: layout.partialKeyPrefix(segment)).lazy.compactMap { info in
            guard case let .partial(stored, algorithm)? = layout.entry(forKey: info.key, segmentSize: segmentSize),
                  stored == segment else { return nil }
            return (info.key, algorithm)
        }.first
    }

    /// Streams the object through an opener into a temporary file, verifies it, pads it, and
    /// renames it to `destination`. The reader is opened first: a missing object creates no file.
    private func copy(key: String, algorithm: CompressionAlgorithm, to destination: String, padTo: UInt64?) async throws {
        let reader = try await store.reader(for: key)
        let output: AtomicFileWriter
        do {
            output = try await AtomicFileWriter.create(destination)
        } catch {
            await reader.close()
            throw error
        }
        do {
            let (fd, path) = (output.descriptor, output.temporaryPath)
            let seal = try await sealedObjects.readOffloading(from: reader, key: key, algorithm: algorithm) { piece in
                do {
                    try FileSystem.writeAll(fd, piece)
                } catch let error as FileSystemError {
                    throw FileSystemError(operation: "write", path: path, reason: error.reason)
                }
            }
            if let padTo {
                guard seal.length <= padTo else {
                    throw WALArchiveError.partialTooLong(name: key, length: seal.length, segmentSize: segmentSize)
                }
                try await output.extend(to: padTo)
            }
            try await output.commit()
        } catch {
            output.abort()
            throw error
        }
    }
}
