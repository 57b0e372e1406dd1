/// Where each file's bytes go in a backup: the pure planner between a list of files (as a
/// `BASE_BACKUP` tar stream announces them) and the chunk store. No I/O.
///
/// ## Design
///
/// - **Big files** (≥ `smallFileLimit`) are cut into fixed-size chunks at fixed offsets
///   (`ChunkingPolicy.chunkSpans`). PostgreSQL rewrites relation files in place, 8 KiB page by
///   page, and never shifts bytes (DESIGN.md, "Chunking"), so an unchanged 4 MiB range of a file
///   is the same chunk in every backup: fixed offsets deduplicate as well as content-defined
///   chunking, with no rolling hash. A page changed in a range makes that one chunk new.
/// - **Small files** (non-empty, < `smallFileLimit`) are packed: whole files, in the order given,
///   are concatenated into packs of at most `packSize` bytes, a file never split across packs
///   (the next file that does not fit starts a new pack). A pack is stored like any chunk, in the
///   content-addressed chunk store: a pack whose files did not change deduplicates against the
///   previous backup, and one mark-and-sweep covers chunks and packs alike. Each packed file
///   records its pack's SHA-256, its offset inside the pack, its size and its own SHA-256.
///   A backup of thousands of tiny files thus writes about (their total size / packSize) objects.
/// - **Empty files**, directories and symbolic links have no content to store.
///
/// The same rules work on a stream: `PackPlanner` makes the packing decision one file at a time,
/// holding at most one open pack, which is what a backup streaming a tar archive uses; the plan
/// of a whole list is that planner run over the list.
public struct ChunkingPlan: Sendable, Hashable {
    /// A file as the planner sees it.
    public struct File: Sendable, Hashable {
        public var path: String
        public var size: Int64
        public init(path: String, size: Int64) {
            self.path = path
            self.size = size
        }
    }

    /// Where one file's content goes.
    public enum Placement: Sendable, Hashable {
        /// Nothing to store (an empty file).
        case empty
        /// Its own chunks, at these offsets.
        case chunks([ChunkSpan])
        /// Inside pack number `pack` (an index into `packs`), at `offset`.
        case packed(pack: Int, offset: Int64)
    }

    /// One pack: its files (indices into `files`) in order, and its total size.
    public struct Pack: Sendable, Hashable {
        public var members: [Int]
        public var size: Int64
    }

    public let policy: ChunkingPolicy
    public let files: [File]
    /// `placements[i]` is where `files[i]` goes.
    public let placements: [Placement]
    public let packs: [Pack]

    public init(files: [File], policy: ChunkingPolicy = .default) {
        self.policy = policy
        self.files = files
        var planner = PackPlanner(policy: policy)
        var placements: [Placement] = []
        var packs: [Pack] = []
        for (index, file) in files.enumerated() {
            if policy.isPacked(size: file.size) {
                let slot = planner.place(size: file.size)
                if slot.pack == packs.count { packs.append(Pack(members: [], size: 0)) }
                packs[slot.pack].members.append(index)
                packs[slot.pack].size = slot.offset + file.size
                placements.append(.packed(pack: slot.pack, offset: slot.offset))
            } else if file.size == 0 {
                placements.append(.empty)
            } else {
                placements.append(.chunks(policy.chunkSpans(ofFileSize: file.size)))
            }
        }
        self.placements = placements
        self.packs = packs
    }

    /// The number of objects the plan stores at most: every chunk and every pack.
    public var objectCount: Int {
        packs.count + placements.reduce(0) { count, placement in
            if case .chunks(let spans) = placement { return count + spans.count }
            return count
        }
    }
}

/// The packing decision, one small file at a time (see `ChunkingPlan`). Pure and incremental:
/// a streaming backup asks it where each small file goes as the file arrives, and seals the
/// open pack (stores it as a chunk) when `place` moves on to the next pack number.
public struct PackPlanner: Sendable, Hashable {
    public let policy: ChunkingPolicy
    /// The pack being filled, and how full it is.
    public private(set) var currentPack = 0
    public private(set) var currentSize: Int64 = 0

    public init(policy: ChunkingPolicy) { self.policy = policy }

    /// Where a small file of `size` bytes goes: the open pack if it fits, else the next one
    /// (the open pack is then complete). `size` must be at most `policy.packSize`.
    public mutating func place(size: Int64) -> (pack: Int, offset: Int64) {
        precondition(size <= Int64(policy.packSize), "a packed file must fit in a pack")
        if currentSize > 0 && currentSize + size > Int64(policy.packSize) {
            currentPack += 1
            currentSize = 0
        }
        defer { currentSize += size }
        return (currentPack, currentSize)
    }
}
