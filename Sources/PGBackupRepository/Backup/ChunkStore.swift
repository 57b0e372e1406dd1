import PGBackupFoundations
import PGBackupStorage
import Synchronization

/// The content-addressed chunk store of one server: `<server>/chunks/<ab>/<sha256>.<ext>`
/// (`BackupLayout`), shared by every backup of the server.
///
/// Contract:
/// - A chunk's key is its name: the SHA-256 of its *uncompressed* content, or in an encrypted
///   repository a keyed HMAC of it (`Repository.chunkNaming`), so one content is stored once
///   whatever the compression: `store` uploads nothing when an object for that digest exists in
///   any compression (`ChunkRef.new == false`).
/// - A new chunk is compressed with `compression`, sealed (`ObjectSeal`) and put atomically: a
///   chunk object is complete or absent. Identical chunks stored at once through one `ChunkStore`
///   (and its copies) are uploaded once (`ChunkUploadsInFlight`): exactly one caller gets
///   `new == true`. Two writers in different processes storing the same content at once write
///   the same bytes; whichever put lands last wins, harmlessly.
/// - `store` trusts an existing object by its key (one `head`, or an entry of the `ChunkIndex`
///   listed at the start of a backup; no read-back): a chunk damaged
///   after it was written is found by `fetch` and by `pgbackup verify`, not by deduplication.
/// - `fetch` verifies the object against its seal *and* that the content's SHA-256 is the key's:
///   a damaged object is a `SealError`, a wrong one `ChunkStoreError.contentMismatch`, both
///   naming the object's key.
/// - Memory: `fetch`, one chunk (at most `maximumChunkSize`) plus the codec's buffers; `stream`,
///   the codec's buffers.
/// - Chunks are never deleted here: they are shared, and only a mark-and-sweep over every
///   manifest (and every backup in progress) may remove one.
public struct ChunkStore: Sendable {
    public let repository: Repository
    /// How new chunks are compressed; fetches take any compression.
    public let compression: Compression
    public let layout: BackupLayout

    /// The largest chunk `store` accepts and `fetch` reads: a bound on memory, well above the
    /// default chunk size (`ChunkingPolicy.defaultChunkSize`, 4 MiB).
    public static let maximumChunkSize = 64 << 20

    /// What the repository holds, when the caller listed it (`ChunkIndex.load`): `store` then
    /// asks the index instead of the store whether a chunk exists.
    public let index: ChunkIndex?

    /// The digests being stored now, shared by this store's copies.
    private let inFlight = ChunkUploadsInFlight()

    public init(repository: Repository, compression: Compression, index: ChunkIndex? = nil) {
        self.repository = repository
        self.compression = compression
        self.layout = BackupLayout(repository: repository.layout)
        self.index = index
    }

    var store: any ObjectStore { repository.store }
    var objects: SealedObjects { SealedObjects(store: store) }

    /// Stores `bytes` as a chunk unless a chunk with their SHA-256 is stored already.
    public func store(_ bytes: [UInt8]) async throws -> ChunkRef {
        guard bytes.count <= Self.maximumChunkSize else {
            throw ChunkStoreError.tooLarge(size: bytes.count, limit: Self.maximumChunkSize)
        }
        let sha256 = SHA256Hasher.hash(bytes)
        let name = repository.chunkNaming.name(of: sha256)
        if let known = index?.entry(name) {
            return ChunkRef(sha256: sha256, size: Int64(bytes.count), storedSize: known.storedSize, algorithm: known.algorithm, new: false)
        }
        // One caller per digest from here on: a chunk that another caller was storing is found
        // stored once its turn comes.
        await inFlight.begin(sha256)
        defer { inFlight.end(sha256) }
        if let index {
            if let known = index.entry(name) {
                return ChunkRef(sha256: sha256, size: Int64(bytes.count), storedSize: known.storedSize, algorithm: known.algorithm, new: false)
            }
        } else if let existing = try await storedObject(name, preferring: compression.algorithm) {
            return ChunkRef(sha256: sha256, size: Int64(bytes.count), storedSize: existing.info.size, algorithm: existing.algorithm, new: false)
        }
        try Task.checkCancellation()
        let key = layout.chunkKey(name, compression.algorithm)
        let (_, info) = try await objects.put(key: key, content: bytes, compression: compression, sha256: sha256)
        index?.insert(name, ChunkIndex.Entry(algorithm: compression.algorithm, storedSize: info.size))
        return ChunkRef(sha256: sha256, size: Int64(bytes.count), storedSize: info.size, algorithm: compression.algorithm, new: true)
    }

    /// The chunk's content, verified. Looks for the object in `ref.algorithm` first, then in the
    /// other compressions; `ChunkStoreError.missing` when there is none.
    public func fetch(_ ref: ChunkRef) async throws -> [UInt8] {
        try await fetch(sha256: ref.sha256, size: ref.size, preferring: ref.algorithm)
    }

    /// The content of the chunk `sha256` of `size` bytes (as a manifest records it), verified.
    public func fetch(sha256: SHA256Digest, size: Int64, preferring algorithm: CompressionAlgorithm? = nil) async throws -> [UInt8] {
        var content: [UInt8] = []
        try await readVerified(sha256, size: size, preferring: algorithm) { key, candidate in
            content.removeAll(keepingCapacity: true)
            // One allocation of the recorded size, not a doubling series of copies.
            content.reserveCapacity(Int(min(max(0, size), Int64(Self.maximumChunkSize))))
            return try await objects.read(key: key, algorithm: candidate) { piece in
                guard content.count + piece.count <= Self.maximumChunkSize else {
                    throw ChunkStoreError.sizeMismatch(key: key, expected: size, actual: Int64(content.count + piece.count))
                }
                content.append(contentsOf: piece)
            }
        }
        return content
    }

    /// Streams the content of chunk `sha256` (`size` bytes) into `sink` as it is decoded, on
    /// blocking-I/O threads, one piece at a time and in order, then verifies it as `fetch` does.
    /// The content reaches `sink` *before* it is verified: the caller keeps what it wrote
    /// provisional until this returns (a restore's directory is unusable until the end). Memory:
    /// the codec's buffers and one read piece, not the chunk.
    public func stream(
        sha256: SHA256Digest, size: Int64, preferring algorithm: CompressionAlgorithm? = nil,
        into sink: @escaping @Sendable (UnsafeRawBufferPointer) throws -> Void
    ) async throws {
        try await readVerified(sha256, size: size, preferring: algorithm) { key, candidate in
            let received = Mutex<Int64>(0)
            return try await objects.readOffloading(key: key, algorithm: candidate) { piece in
                let total = received.withLock { count in
                    count += Int64(piece.count)
                    return count
                }
                guard total <= size else { throw ChunkStoreError.sizeMismatch(key: key, expected: size, actual: total) }
                try sink(piece)
            }
        }
    }

    /// Reads the chunk's object with `read` (which returns its seal) in each compression,
    /// `preferring`'s first (else the store's), until one is stored; then checks that the content
    /// is the digest's and of `size` bytes. `ChunkStoreError.missing` when none is stored.
    private func readVerified(
        _ sha256: SHA256Digest, size: Int64, preferring algorithm: CompressionAlgorithm?,
        _ read: (_ key: String, _ algorithm: CompressionAlgorithm) async throws -> ObjectSeal
    ) async throws {
        let name = repository.chunkNaming.name(of: sha256)
        for candidate in Self.searchOrder(preferring: algorithm ?? compression.algorithm) {
            let key = layout.chunkKey(name, candidate)
            let seal: ObjectSeal
            do {
                seal = try await read(key, candidate)
            } catch StorageError.notFound {
                continue  // not stored in this compression
            }
            guard seal.sha256 == sha256 else { throw ChunkStoreError.contentMismatch(key: key, content: seal.sha256) }
            guard Int64(seal.length) == size else {
                throw ChunkStoreError.sizeMismatch(key: key, expected: size, actual: Int64(seal.length))
            }
            return
        }
        throw ChunkStoreError.missing(sha256: sha256, location: store.location)
    }

    /// Whether a chunk with this digest is stored, in any compression.
    public func contains(_ sha256: SHA256Digest) async throws -> Bool {
        try await storedObject(repository.chunkNaming.name(of: sha256), preferring: compression.algorithm) != nil
    }

    /// The key of the chunk with this content digest in `algorithm`'s compression.
    public func key(of sha256: SHA256Digest, _ algorithm: CompressionAlgorithm) -> String {
        layout.chunkKey(repository.chunkNaming.name(of: sha256), algorithm)
    }

    /// The stored object of the chunk named `name`, looking in `preferring`'s key first (the usual hit).
    private func storedObject(
        _ name: SHA256Digest, preferring: CompressionAlgorithm
    ) async throws -> (info: ObjectInfo, algorithm: CompressionAlgorithm)? {
        for candidate in Self.searchOrder(preferring: preferring) {
            do {
                return (try await store.head(layout.chunkKey(name, candidate)), candidate)
            } catch StorageError.notFound {
                continue
            }
        }
        return nil
    }

    private static func searchOrder(preferring first: CompressionAlgorithm) -> [CompressionAlgorithm] {
        [first] + CompressionAlgorithm.allCases.filter { $0 != first }
    }
}
