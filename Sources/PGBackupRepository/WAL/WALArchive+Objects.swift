import PGBackupFoundations
import PGBackupStorage

/// Sealed objects in and out of the store, chunk by chunk (through `SealedObjects`).
extension WALArchive {
    var sealedObjects: SealedObjects { SealedObjects(store: store, pieceSize: Self.chunkSize) }

    /// Streams `length` bytes of `file` (from its current position) through a sealer into `key`.
    /// Returns the seal and what the store reports. Nothing is visible unless it all succeeds.
    func putSealed(
        key: String, from file: LocalFileReader, length: UInt64, compression: Compression
    ) async throws -> (ObjectSeal, ObjectInfo) {
        var remaining = length
        return try await sealedObjects.put(key: key, compression: compression) {
            guard remaining > 0 else { return nil }
            let chunk = try await file.read(maxLength: Int(min(remaining, UInt64(Self.chunkSize))))
            guard !chunk.isEmpty else {
                throw FileSystemError(
                    operation: "read", path: file.path,
                    reason: "the file ended after \(length - remaining) bytes, \(length) expected (it shrank while being read)")
            }
            remaining -= UInt64(chunk.count)
            return chunk
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

    /// The seal of a stored copy that verifies; nil when the object is missing or damaged.
    /// Other failures (the store cannot be read) are thrown.
    func usableSeal(key: String, algorithm: CompressionAlgorithm) async throws -> ObjectSeal? {
        try await sealedObjects.usableSeal(key: key, algorithm: algorithm)
    }
}
