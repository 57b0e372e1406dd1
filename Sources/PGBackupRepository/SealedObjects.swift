import PGBackupFoundations
import PGBackupStorage

/// Sealed objects (`ObjectSeal`) in and out of a store, piece by piece: the one place the
/// repository writes, verifies and reads them. The WAL archive, the chunk store and the backup
/// catalog all go through it.
///
/// Contract:
/// - A put streams its content through an `ObjectSealer` in pieces of at most `pieceSize` and
///   is visible only if it all succeeds (the store's atomic put); on any error the writer is
///   aborted and the key keeps its previous content, or none.
/// - Every read checks the whole object against its seal before returning: a damaged object is
///   a `SealError` naming its key; a missing one is `StorageError.notFound`.
struct SealedObjects: Sendable {
    let store: any ObjectStore
    /// The unit content is fed to the sealer and objects are read in.
    let pieceSize: Int

    init(store: any ObjectStore, pieceSize: Int = 1 << 20) {
        self.store = store
        self.pieceSize = pieceSize
    }

    /// Streams the pieces `next` returns (until it returns nil) into the sealed object `key`.
    /// Returns the seal and what the store reports.
    func put(
        key: String, compression: Compression, next: () async throws -> [UInt8]?
    ) async throws -> (ObjectSeal, ObjectInfo) {
        try await put(key: key, sealer: try ObjectSealer(compression: compression)) { sealer in
            guard let piece = try await next() else { return nil }
            var output: [UInt8] = []
            try sealer.update(piece) { output.append(contentsOf: $0) }
            return output
        }
    }

    /// Stores `content` (already in memory: a chunk, a manifest) as the sealed object `key`,
    /// `pieceSize` at a time. `sha256`: the content's digest when the caller has just computed
    /// it (the content is then not hashed again). `ifAbsent`: a create-if-absent put
    /// (`StorageError.alreadyExists` when the key is taken, see `ObjectWriter.commit(ifAbsent:)`).
    func put(
        key: String, content: [UInt8], compression: Compression, sha256: SHA256Digest? = nil, ifAbsent: Bool = false
    ) async throws -> (ObjectSeal, ObjectInfo) {
        let sealer = try sha256.map { digest throws(CompressionError) in try ObjectSealer(compression: compression, sha256: digest) }
            ?? ObjectSealer(compression: compression)
        var offset = 0
        let pieceSize = self.pieceSize
        return try await put(key: key, sealer: sealer, ifAbsent: ifAbsent) { sealer in
            guard offset < content.count else { return nil }
            let end = min(content.count, offset + pieceSize)
            defer { offset = end }
            // Compressed output is never much larger than its input: one piece's worth, allocated
            // once rather than grown block by block.
            var output: [UInt8] = []
            output.reserveCapacity(end - offset + 4096)
            try content.withUnsafeBytes { raw in
                try sealer.update(UnsafeRawBufferPointer(rebasing: raw[offset..<end])) { output.append(contentsOf: $0) }
            }
            return output
        }
    }

    /// The put itself: `sealed` feeds the next piece of content to the sealer and returns its
    /// output (possibly empty), or nil at the end. On any error the writer is aborted.
    private func put(
        key: String, sealer: ObjectSealer, ifAbsent: Bool = false, sealed: (ObjectSealer) async throws -> [UInt8]?
    ) async throws -> (ObjectSeal, ObjectInfo) {
        let writer = try await store.writer(for: key)
        do {
            while let output = try await sealed(sealer) {
                if !output.isEmpty { try await writer.write(output) }
            }
            var output: [UInt8] = []
            let seal = try sealer.finish { output.append(contentsOf: $0) }
            try await writer.write(output)
            let info = try await writer.commit(ifAbsent: ifAbsent)
            return (seal, info)
        } catch {
            await writer.abort()
            throw error
        }
    }

    /// Reads the whole object, hands its content to `sink` piece by piece as it is decoded, and
    /// checks it against its seal; returns the seal. Content reaches `sink` *before* it is
    /// verified: a caller keeps it provisional until this returns.
    @discardableResult
    func read(
        key: String, algorithm: CompressionAlgorithm, into sink: (UnsafeRawBufferPointer) throws -> Void
    ) async throws -> ObjectSeal {
        let reader = try await store.reader(for: key)
        do {
            let opener = try ObjectOpener(algorithm: algorithm, object: key)
            while true {
                let piece = try await reader.read(maxLength: pieceSize)
                if piece.isEmpty { break }
                try opener.update(piece, into: sink)
            }
            let seal = try opener.finish(into: sink)
            await reader.close()
            return seal
        } catch {
            await reader.close()
            throw error
        }
    }

    /// As `read`, but decodes and calls `sink` on blocking-I/O threads, one piece at a time and
    /// in order: for sinks that write files. Content reaches `sink` *before* it is verified.
    @discardableResult
    func readOffloading(
        key: String, algorithm: CompressionAlgorithm, into sink: @escaping @Sendable (UnsafeRawBufferPointer) throws -> Void
    ) async throws -> ObjectSeal {
        try await readOffloading(from: try await store.reader(for: key), key: key, algorithm: algorithm, into: sink)
    }

    /// As `readOffloading(key:…)`, from a reader the caller opened (to learn that the object
    /// exists before preparing the sink); closes it.
    func readOffloading(
        from reader: any ObjectReader, key: String, algorithm: CompressionAlgorithm,
        into sink: @escaping @Sendable (UnsafeRawBufferPointer) throws -> Void
    ) async throws -> ObjectSeal {
        do {
            let opening = OffloadedOpening(opener: try ObjectOpener(algorithm: algorithm, object: key), sink: sink)
            while true {
                let piece = try await reader.read(maxLength: pieceSize)
                if piece.isEmpty { break }
                try await BlockingIO.run { try opening.update(piece) }
            }
            let seal = try await BlockingIO.run { try opening.finish() }
            await reader.close()
            return seal
        } catch {
            await reader.close()
            throw error
        }
    }

    /// The verified content of a small object (a chunk, a manifest), at most `limit` bytes:
    /// `StorageError.tooLarge` past it, so memory stays bounded.
    func content(key: String, algorithm: CompressionAlgorithm, limit: Int) async throws -> [UInt8] {
        var content: [UInt8] = []
        let location = store.location
        try await read(key: key, algorithm: algorithm) { piece in
            guard content.count + piece.count <= limit else {
                throw StorageError.tooLarge(key: key, limit: limit, store: location)
            }
            content.append(contentsOf: piece)
        }
        return content
    }

    /// Reads the whole object and checks it against its seal; returns the seal.
    func verify(key: String, algorithm: CompressionAlgorithm) async throws -> ObjectSeal {
        try await read(key: key, algorithm: algorithm) { _ in }
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

/// An `ObjectOpener` fed from blocking-I/O threads.
///
/// `@unchecked Sendable` because it holds a non-Sendable `ObjectOpener`:
/// `SealedObjects.readOffloading(from:…)` is its only user and calls `update`/`finish` one at a
/// time, each awaited (`BlockingIO.run`) before the next starts, so no two threads ever touch it at
/// once and each call happens after the previous one.
private final class OffloadedOpening: @unchecked Sendable {
    private let opener: ObjectOpener
    private let sink: @Sendable (UnsafeRawBufferPointer) throws -> Void

    init(opener: ObjectOpener, sink: @escaping @Sendable (UnsafeRawBufferPointer) throws -> Void) {
        self.opener = opener
        self.sink = sink
    }

    func update(_ piece: [UInt8]) throws {
        try opener.update(piece, into: sink)
    }

    func finish() throws -> ObjectSeal {
        try opener.finish(into: sink)
    }
}
