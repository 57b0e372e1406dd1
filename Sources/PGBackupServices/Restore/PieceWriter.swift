import PGBackupFoundations
import PGBackupRepository

#if canImport(Glibc)
import Glibc
#endif

/// Writes one chunk or pack into every place it belongs as its content streams in
/// (`ChunkStore.stream`): each decoded piece goes, with `pwrite`, to the part of each target file
/// it covers, and a packed file's slice is hashed on the way and checked by `finish`.
///
/// Over an older copy (a delta restore, `compare`), a target's bytes are compared with the file's
/// block by block (`blockSize`, PostgreSQL's page) and only the blocks that differ are written:
/// a relation whose every 4 MiB chunk changed in a page or two costs those pages, not the chunks.
///
/// No chunk is ever held whole in memory. What it writes is provisional until the chunk store
/// has verified the whole object: the restore's directory carries `RESTORE_FAILED` and has no
/// `global/pg_control` until every piece is written and verified.
///
/// `@unchecked Sendable` because its state is mutable without a lock: `RestoreWriter` gives one
/// writer to one `ChunkStore.stream` call, which calls `write` one piece at a time, each on a
/// blocking-I/O thread and awaited before the next starts, and calls `finish` only after that
/// call returned; so no two threads ever touch it at once and each call happens after the
/// previous one.
final class PieceWriter: @unchecked Sendable {
    private let pack: SHA256Digest
    private let targets: [RestorePlan.Target]
    private let entries: [RestorePlan.Entry]
    private let roots: RestoreRoots
    /// Whether a file that is not there yet is created (a fresh restore), with its mode.
    private let create: Bool
    /// By target: whether the file's bytes are compared first and only differing blocks written.
    private let compare: [Bool]
    /// The file's bytes, read for the comparison.
    private var scratch: UnsafeMutableRawBufferPointer?
    /// Bytes actually written to files.
    private(set) var bytesWritten: Int64 = 0
    /// Position in the chunk of the next byte.
    private var received: Int64 = 0
    /// SHA-256 of each packed file's slice so far, by target index.
    private var hashers: [Int: SHA256Hasher] = [:]
    /// Open files by entry, at most `maximumOpenFiles` (a chunk of zeros may belong in hundreds
    /// of places; a few of them stay open across pieces).
    private var open: [Int: Int32] = [:]

    /// Per writer, so that `jobs` writers stay far below the descriptor limit.
    static let maximumOpenFiles = 16
    /// The unit of comparison over an older copy: PostgreSQL's page.
    static let blockSize: Int64 = 8192
    /// How much of a file is read at once for the comparison.
    static let scratchSize = 1 << 20

    /// `targets`: the piece's targets that need writing; `entries`: the plan's; `roots`: where
    /// they go; `create`: whether missing files are created; `compare`, by target: whether only
    /// the blocks that differ from the file's are written (nil: none compared).
    init(pack: SHA256Digest, targets: [RestorePlan.Target], entries: [RestorePlan.Entry], roots: RestoreRoots, create: Bool,
         compare: [Bool]? = nil) {
        self.pack = pack
        self.targets = targets
        self.entries = entries
        self.roots = roots
        self.create = create
        self.compare = compare ?? Array(repeating: false, count: targets.count)
        for (index, target) in targets.enumerated() where target.sha256 != nil { hashers[index] = SHA256Hasher() }
    }

    deinit {
        closeAll()
        scratch?.deallocate()
    }

    /// The next decoded bytes of the chunk.
    func write(_ piece: UnsafeRawBufferPointer) throws {
        let start = received
        let end = start + Int64(piece.count)
        received = end
        for (index, target) in targets.enumerated() {
            let from = max(start, target.sourceOffset)
            let to = min(end, target.sourceOffset + target.length)
            guard from < to else { continue }
            let slice = UnsafeRawBufferPointer(rebasing: piece[Int(from - start)..<Int(to - start)])
            hashers[index]?.update(slice)
            let entry = entries[target.entry]
            let offset = target.fileOffset + (from - target.sourceOffset)
            if compare[index] {
                bytesWritten += try writeDiffering(try descriptor(for: entry, readable: true), slice, at: offset, path: entry.path)
            } else {
                try RestoreFiles.write(try descriptor(for: entry), slice, at: offset, path: entry.path)
                bytesWritten += Int64(slice.count)
            }
        }
    }

    /// Writes the `blockSize` blocks of `slice` (aligned to the file's offsets) whose bytes differ
    /// from the file's at `offset`; returns how many bytes it wrote.
    private func writeDiffering(_ fd: Int32, _ slice: UnsafeRawBufferPointer, at offset: Int64, path: String) throws -> Int64 {
        let scratch = self.scratch ?? UnsafeMutableRawBufferPointer.allocate(byteCount: Self.scratchSize, alignment: 4096)
        self.scratch = scratch
        var written: Int64 = 0
        var position = 0
        while position < slice.count {
            let window = min(scratch.count, slice.count - position)
            let have = try RestoreFiles.read(
                fd, into: UnsafeMutableRawBufferPointer(rebasing: scratch[0..<window]), at: offset + Int64(position), path: path)
            var block = position
            while block < position + window {
                let fileOffset = offset + Int64(block)
                let end = min(position + window, block + Int(Self.blockSize - fileOffset % Self.blockSize))
                let local = block - position
                let same = local + (end - block) <= have
                    && memcmp(scratch.baseAddress! + local, slice.baseAddress! + block, end - block) == 0
                if !same {
                    try RestoreFiles.write(fd, UnsafeRawBufferPointer(rebasing: slice[block..<end]), at: fileOffset, path: path)
                    written += Int64(end - block)
                }
                block = end
            }
            position += window
        }
        return written
    }

    /// After the whole chunk was streamed: starts writing it back to disk, closes the files and
    /// checks every packed file's slice against its own SHA-256.
    func finish() throws {
        for target in targets {
            guard let fd = open[entries[target.entry].index] else { continue }
            FileSystem.startWriteback(fd, offset: target.fileOffset, length: target.length)
        }
        closeAll()
        for (index, target) in targets.enumerated() {
            guard let expected = target.sha256, let hasher = hashers[index] else { continue }
            let actual = hasher.finalize()
            guard actual == expected else {
                throw RestoreError.packedFileMismatch(path: entries[target.entry].display, pack: pack, expected: expected, actual: actual)
            }
        }
    }

    /// The entry's open file; `readable` opens it for reading too (a file is opened once per
    /// writer, with what its first use needs: a target is compared or not, the same for all
    /// pieces of one entry).
    private func descriptor(for entry: RestorePlan.Entry, readable: Bool = false) throws -> Int32 {
        if let fd = open[entry.index] { return fd }
        if open.count == Self.maximumOpenFiles { closeAll() }
        let fd = try roots.root(of: entry.tablespace).openFile(
            entry.relativePath, flags: readable ? O_RDWR : O_WRONLY, create: create, mode: entry.mode)
        open[entry.index] = fd
        return fd
    }

    private func closeAll() {
        for fd in open.values { close(fd) }
        open = [:]
    }
}
