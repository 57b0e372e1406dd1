import Foundation
import PGBackupFoundations
import PGBackupRepository
import PGBackupStorage

/// The content of a restore: streams each distinct chunk and pack of the plan once
/// (`ChunkStore.stream` verifies it against its seal and its digest at the end), `jobs` at a
/// time, writing each decoded piece with `pwrite` at every place it belongs (`PieceWriter`).
/// A delta restore first hashes the local bytes of each place and fetches only what differs.
struct PieceRestorer: Sendable {
    let chunkStore: ChunkStore
    let jobs: Int
    let plan: RestorePlan
    let roots: RestoreRoots

    /// Progress is reported at most this often (plus once at the end).
    static let progressInterval = Duration.milliseconds(250)

    struct Outcome: Sendable {
        var fetched = false
        var fetchedBytes: Int64 = 0
        /// Entries some content was written to.
        var written: [Int] = []
        var bytesWritten: Int64 = 0
        var bytesUnchanged: Int64 = 0
    }

    /// Restores every piece of the plan (not `global/pg_control`'s): `check` says, by entry,
    /// whether its local bytes are compared first, `create` whether missing files are created.
    /// Adds to `stats` and marks in `changed` the entries written to.
    func run(
        check: [Bool], create: Bool, stats: inout RestoreWriteStats, changed: inout [Bool],
        onProgress: (@Sendable (Int64, Int64) -> Void)?
    ) async throws {
        var done: Int64 = 0
        var lastReport = ContinuousClock.now
        onProgress?(0, plan.bytesTotal)
        try await withThrowingTaskGroup(of: Outcome.self) { group in
            var running = 0
            func collect(_ outcome: Outcome) {
                if outcome.fetched {
                    stats.chunksFetched += 1
                    stats.bytesFetched += outcome.fetchedBytes
                }
                stats.bytesWritten += outcome.bytesWritten
                stats.bytesUnchanged += outcome.bytesUnchanged
                for entry in outcome.written { changed[entry] = true }
                done += outcome.bytesWritten + outcome.bytesUnchanged
                if let onProgress, ContinuousClock.now - lastReport >= Self.progressInterval {
                    lastReport = ContinuousClock.now
                    onProgress(done, plan.bytesTotal)
                }
            }
            for piece in plan.pieces {
                if running == jobs, let outcome = try await group.next() {
                    collect(outcome)
                    running -= 1
                }
                group.addTask { try await restore(piece, check: check, create: create) }
                running += 1
            }
            for try await outcome in group { collect(outcome) }
        }
    }

    /// One chunk or pack: (delta) hashes the local bytes of each place it belongs, then fetches
    /// it unless they all match, and writes it where they do not.
    private func restore(_ piece: RestorePlan.Piece, check: [Bool], create: Bool) async throws -> Outcome {
        var outcome = Outcome()
        var pending = piece.targets
        if pending.contains(where: { check[$0.entry] }) {
            let targets = pending
            let matches: [Bool] = try await BlockingIO.run {
                let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 64)
                defer { buffer.deallocate() }
                return try targets.map { target in
                    guard check[target.entry] else { return false }
                    let entry = plan.entries[target.entry]
                    let local = try roots.root(of: entry.tablespace).sha256(
                        of: entry.relativePath, offset: target.fileOffset, length: target.length, buffer: buffer)
                    return local == (target.sha256 ?? piece.sha256)
                }
            }
            pending = []
            for (target, match) in zip(targets, matches) {
                if match { outcome.bytesUnchanged += target.length } else { pending.append(target) }
            }
            if pending.isEmpty { return outcome }
        }

        let targets = pending
        // Over an older copy, only the pages that differ are written.
        let writer = PieceWriter(
            pack: piece.sha256, targets: targets, entries: plan.entries, roots: roots, create: create,
            compare: targets.map { check[$0.entry] })
        do {
            try await chunkStore.stream(sha256: piece.sha256, size: piece.size) { try writer.write($0) }
            try await BlockingIO.run { try writer.finish() }
        } catch is CancellationError {
            throw CancellationError()
        } catch let error as RestoreError {
            throw error
        } catch let error as FileSystemError {
            throw error
        } catch {
            throw RestoreError.chunkFailed(
                object: objectName(of: piece.sha256, failure: error),
                files: Array(Set(piece.targets.map { plan.entries[$0.entry].display })).sorted(), cause: "\(error)")
        }
        outcome.fetched = true
        outcome.fetchedBytes = piece.size
        outcome.written = targets.map(\.entry)
        outcome.bytesWritten = writer.bytesWritten
        outcome.bytesUnchanged += targets.reduce(0) { $0 + $1.length } - writer.bytesWritten
        return outcome
    }

    /// Fetches `global/pg_control`'s content and checks it against its own SHA-256.
    func controlFileContent() async throws -> [UInt8] {
        let piece = plan.controlPiece
        let entry = plan.entries[plan.controlFile]
        let content: [UInt8]
        do {
            content = try await chunkStore.fetch(sha256: piece.sha256, size: piece.size)
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw RestoreError.chunkFailed(object: objectName(of: piece.sha256, failure: error), files: [entry.display], cause: "\(error)")
        }
        let target = piece.targets[0]
        let bytes = Array(content[Int(target.sourceOffset)..<Int(target.sourceOffset + target.length)])
        if let expected = target.sha256 {
            let actual = SHA256Hasher.hash(bytes)
            guard actual == expected else {
                throw RestoreError.packedFileMismatch(path: entry.display, pack: piece.sha256, expected: expected, actual: actual)
            }
        }
        return bytes
    }

    /// The key a failure names, or the chunk's keys with any extension when none does.
    private func objectName(of sha256: SHA256Digest, failure: any Error) -> String {
        switch failure {
        case let error as SealError: return error.object
        case let ChunkStoreError.contentMismatch(key, _): return key
        case let ChunkStoreError.sizeMismatch(key, _, _): return key
        case let StorageError.notFound(key, _): return key
        case let StorageError.failed(_, key, _, _): return key
        default:
            let key = chunkStore.key(of: sha256, chunkStore.compression.algorithm)
            return String(key[..<(key.lastIndex(of: ".") ?? key.endIndex)]) + ".*"
        }
    }
}
