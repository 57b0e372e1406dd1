/// How a backup cuts files into chunks (see `ChunkingPlan`).
public struct ChunkingPolicy: Sendable, Hashable, Codable {
    /// Size of a chunk; the last chunk of a file may be shorter.
    public var chunkSize: Int
    /// Files smaller than this are packed together instead of being chunked on their own.
    public var smallFileLimit: Int
    /// The most content one pack holds.
    public var packSize: Int

    /// 4 MiB: large enough that a terabyte is about 250,000 objects, small enough that a page
    /// rewritten in a big relation costs one 4 MiB chunk, and that compressing chunks in
    /// parallel keeps memory at a few MiB per job.
    public static let defaultChunkSize = 4 << 20
    /// 64 KiB: PostgreSQL's small files (visibility and free-space maps, `pg_xact`, configuration,
    /// empty relations) are mostly below it.
    public static let defaultSmallFileLimit = 64 << 10

    public static let `default` = ChunkingPolicy()

    /// The pack size defaults to the chunk size: a pack is stored as one chunk.
    public init(
        chunkSize: Int = defaultChunkSize, smallFileLimit: Int = defaultSmallFileLimit, packSize: Int? = nil
    ) {
        self.chunkSize = chunkSize
        self.smallFileLimit = smallFileLimit
        self.packSize = packSize ?? chunkSize
    }

    /// Throws `ChunkingPolicyError` unless 0 < chunkSize ≤ `ChunkStore.maximumChunkSize`,
    /// 0 ≤ smallFileLimit ≤ packSize ≤ `ChunkStore.maximumChunkSize`.
    public func validate() throws(ChunkingPolicyError) {
        guard chunkSize > 0, chunkSize <= ChunkStore.maximumChunkSize else {
            throw ChunkingPolicyError(reason: "the chunk size must be between 1 and \(ChunkStore.maximumChunkSize) bytes, not \(chunkSize)")
        }
        guard packSize > 0, packSize <= ChunkStore.maximumChunkSize else {
            throw ChunkingPolicyError(reason: "the pack size must be between 1 and \(ChunkStore.maximumChunkSize) bytes, not \(packSize)")
        }
        guard smallFileLimit >= 0, smallFileLimit <= packSize else {
            throw ChunkingPolicyError(reason: "the small-file limit (\(smallFileLimit)) must be between 0 and the pack size (\(packSize))")
        }
    }

    /// Whether a file of `size` bytes is packed: non-empty, below `smallFileLimit`, and no
    /// larger than a pack (which a validated policy implies).
    public func isPacked(size: Int64) -> Bool {
        size > 0 && size < Int64(smallFileLimit) && size <= Int64(packSize)
    }

    /// The chunks of a file of `size` bytes that is not packed: fixed offsets 0, chunkSize,
    /// 2·chunkSize, …; every chunk `chunkSize` long but the last. None for an empty file.
    public func chunkSpans(ofFileSize size: Int64) -> [ChunkSpan] {
        stride(from: Int64(0), to: size, by: chunkSize).map { offset in
            ChunkSpan(offset: offset, size: min(Int64(chunkSize), size - offset))
        }
    }
}

/// A byte range of a file that becomes one chunk.
public struct ChunkSpan: Sendable, Hashable {
    public var offset: Int64
    public var size: Int64

    public init(offset: Int64, size: Int64) {
        self.offset = offset
        self.size = size
    }
}

/// A chunking policy that cannot work.
public struct ChunkingPolicyError: Error, Sendable, Hashable, CustomStringConvertible {
    public var reason: String
    public var description: String { "invalid chunking settings: \(reason)" }
}
