import PGBackupFoundations
import PGBackupRepository

#if canImport(Glibc)
import Glibc
#endif

/// Writes one chunk or pack into every place it belongs as its content streams in
/// (`ChunkStore.stream`): each decoded piece goes, with `pwrite`, to the part of each target file
/// it covers, and a packed file's slice is hashed on the way and checked by `finish`.
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
    /// Position in the chunk of the next byte.
    private var received: Int64 = 0
    /// SHA-256 of each packed file's slice so far, by target index.
    private var hashers: [Int: SHA256Hasher] = [:]
    /// Open files by entry, at most `maximumOpenFiles` (a chunk of zeros may belong in hundreds
    /// of places; a few of them stay open across pieces).
    private var open: [Int: Int32] = [:]

    /// Per writer, so that `jobs` writers stay far below the descriptor limit.
    static let maximumOpenFiles = 16

    /// `targets`: the piece's targets that need writing; `entries`: the plan's; `roots`: where
    /// they go; `create`: whether missing files are created.
    init(pack: SHA256Digest, targets: [RestorePlan.Target], entries: [RestorePlan.Entry], roots: RestoreRoots, create: Bool) {
        self.pack = pack
        self.targets = targets
        self.entries = entries
        self.roots = roots
        self.create = create
        for (index, target) in targets.enumerated() where target.sha256 != nil { hashers[index] = SHA256Hasher() }
    }

    deinit {
        closeAll()
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
            try RestoreFiles.write(try descriptor(for: entry), slice, at: target.fileOffset + (from - target.sourceOffset), path: entry.path)
        }
    }

    /// After the whole chunk was streamed: starts writing it back to disk, closes the files and
    /// checks every packed file's slice against its own SHA-256.
    func finish() throws {
        for target in targets {
            guard let fd = open[entries[target.entry].index] else { continue }
            RestoreFiles.startWriteback(fd, offset: target.fileOffset, length: target.length)
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

    private func descriptor(for entry: RestorePlan.Entry) throws -> Int32 {
        if let fd = open[entry.index] { return fd }
        if open.count == Self.maximumOpenFiles { closeAll() }
        let fd = try roots.root(of: entry.tablespace).openFile(entry.relativePath, flags: O_WRONLY, create: create, mode: entry.mode)
        open[entry.index] = fd
        return fd
    }

    private func closeAll() {
        for fd in open.values { close(fd) }
        open = [:]
    }
}
