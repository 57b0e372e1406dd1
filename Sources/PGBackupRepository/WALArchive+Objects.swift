import PGBackupFoundations
import PGBackupStorage

/// Sealed objects in and out of the store, chunk by chunk.
extension WALArchive {
    /// Streams `length` bytes of `file` (from its current position) through a sealer into `key`.
    /// Returns the seal and what the store reports. Nothing is visible unless it all succeeds.
    func putSealed(
        key: String, from file: LocalFileReader, length: UInt64, compression: Compression
    ) async throws -> (ObjectSeal, ObjectInfo) {
        let writer = try await store.writer(for: key)
        do {
            let sealer = try ObjectSealer(compression: compression)
            var remaining = length
            while remaining > 0 {
                let chunk = try await file.read(maxLength: Int(min(remaining, UInt64(Self.chunkSize))))
                guard !chunk.isEmpty else {
                    throw FileSystemError(
                        operation: "read", path: file.path,
                        reason: "the file ended after \(length - remaining) bytes, \(length) expected (it shrank while being read)")
                }
                // Compressed output is never much larger than its input: one chunk's worth at most.
                var output: [UInt8] = []
                try sealer.update(chunk) { output.append(contentsOf: $0) }
                if !output.isEmpty { try await writer.write(output) }
                remaining -= UInt64(chunk.count)
            }
            var output: [UInt8] = []
            let seal = try sealer.finish { output.append(contentsOf: $0) }
            try await writer.write(output)
            let info = try await writer.commit()
            return (seal, info)
        } catch {
            await writer.abort()
            throw error
        }
    }

    /// The seal `length` bytes of `file` (from its current position) would get, without storing.
    func hash(_ file: LocalFileReader, length: UInt64) async throws -> ObjectSeal {
        var hasher = SHA256Hasher()
        var remaining = length
        while remaining > 0 {
            let chunk = try await file.read(maxLength: Int(min(remaining, UInt64(Self.chunkSize))))
            guard !chunk.isEmpty else {
                throw FileSystemError(operation: "read", path: file.path, reason: "the file ended early (it shrank while being read)")
            }
            hasher.update(chunk)
            remaining -= UInt64(chunk.count)
        }
        return ObjectSeal(sha256: hasher.finalize(), length: length)
    }

    /// Reads the whole object and checks it against its seal; returns the seal. Throws
    /// `SealError` for a damaged object, `StorageError.notFound` for a missing one.
    func verify(key: String, algorithm: CompressionAlgorithm) async throws -> ObjectSeal {
        let reader = try await store.reader(for: key)
        do {
            let opener = try ObjectOpener(algorithm: algorithm, object: key)
            while true {
                let piece = try await reader.read(maxLength: Self.chunkSize)
                if piece.isEmpty { break }
                try opener.update(piece) { _ in }
            }
            let seal = try opener.finish { _ in }
            await reader.close()
            return seal
        } catch {
            await reader.close()
            throw error
        }
    }

    /// The seal of a stored copy that verifies; nil when the object is missing or damaged.
    /// Other failures (the store cannot be read) are thrown.
    func usableSeal(key: String, algorithm: CompressionAlgorithm) async throws -> ObjectSeal? {
        do {
            return try await verify(key: key, algorithm: algorithm)
        } catch is SealError {
            return nil
        } catch StorageError.notFound {
            return nil
        }
    }
}
