import PGBackupFoundations
import PGBackupStorage
import Synchronization

/// The chunks a server's repository holds, read with one listing of `chunks/` (DESIGN.md,
/// "Repository format"), so that a backup decides "stored already or new" without asking the
/// store about every chunk: on S3 that is a HEAD request per chunk and compression saved.
///
/// Keyed by chunk *name* (`Repository.chunkNaming`: the content's SHA-256, or its keyed HMAC in an
/// encrypted repository), the way the keys under `chunks/` spell it.
///
/// Complete as of its listing, and kept up to date with what this process stores. A chunk that
/// another writer stores after the listing counts as new here and is uploaded again with the
/// same content: harmless (`ChunkStore`'s contract). Memory: about 100 bytes per chunk (a
/// repository of 4 TiB in 4 MiB chunks: about 100 MB).
public final class ChunkIndex: Sendable {
    public struct Entry: Sendable, Hashable {
        public var algorithm: CompressionAlgorithm
        public var storedSize: Int64
    }

    private let entries: Mutex<[SHA256Digest: Entry]>

    public init(_ entries: [SHA256Digest: Entry] = [:]) {
        self.entries = Mutex(entries)
    }

    /// Lists `<server>/chunks/` once. Keys that are not chunks are ignored.
    public static func load(_ repository: Repository) async throws -> ChunkIndex {
        var entries: [SHA256Digest: Entry] = [:]
        let layout = BackupLayout(repository: repository.layout)
        for info in try await repository.store.list(prefix: repository.layout.chunksPrefix) {
            guard let chunk = layout.chunk(ofKey: info.key) else { continue }
            entries[chunk.name] = Entry(algorithm: chunk.algorithm, storedSize: info.size)
        }
        return ChunkIndex(entries)
    }

    public var count: Int { entries.withLock { $0.count } }

    /// The stored chunk with this name (not content digest: `ChunkNaming.name(of:)`).
    public func entry(_ name: SHA256Digest) -> Entry? { entries.withLock { $0[name] } }

    func insert(_ name: SHA256Digest, _ entry: Entry) { entries.withLock { $0[name] = entry } }
}
