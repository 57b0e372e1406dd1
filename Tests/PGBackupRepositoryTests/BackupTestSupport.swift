import Foundation
import PGBackupFoundations
import PGBackupStorage
import PGBackupTestSupport
import Synchronization
@testable import PGBackupRepository

/// A repository for server `main` over a fresh store of `kind` (a temporary directory for `file`).
struct RepositoryFixture {
    let store: any ObjectStore
    let repository: Repository
    let directory: String

    init(_ kind: StoreKind) throws {
        directory = FileManager.default.temporaryDirectory.path + "/pgbackup-backups-\(UUID().uuidString)"
        switch kind {
        case .memory: store = MemoryObjectStore()
        case .file: store = try FileObjectStore(root: directory, create: true)
        }
        repository = Repository(store: store, server: "main")
    }

    func remove() { try? FileManager.default.removeItem(atPath: directory) }

    func chunkStore(_ compression: Compression = .zstd(level: 1)) -> ChunkStore {
        ChunkStore(repository: repository, compression: compression)
    }

    var catalog: BackupCatalog { BackupCatalog(repository: repository) }

    /// Every key under `<server>/chunks/`.
    func chunkKeys() async throws -> [String] {
        try await store.list(prefix: repository.layout.chunksPrefix).map(\.key)
    }

    /// Rewrites a stored object with one byte flipped (an atomic put of the damaged copy).
    func damage(_ key: String, at offset: (Int) -> Int) async throws {
        var bytes = try await store.get(key)
        bytes[offset(bytes.count)] ^= 0x20
        try await store.put(key, bytes: bytes)
    }
}

func withRepository(_ kind: StoreKind, _ body: (RepositoryFixture) async throws -> Void) async throws {
    let fixture = try RepositoryFixture(kind)
    defer { fixture.remove() }
    try await body(fixture)
}

/// Bytes shaped like a relation file: `pages` 8 KiB pages, each half random, half zeros.
func relationBytes(pages: Int, seed: UInt64) -> [UInt8] {
    var generator = SeededGenerator(seed: seed)
    var bytes: [UInt8] = []
    bytes.reserveCapacity(pages * 8192)
    for _ in 0..<pages {
        bytes += generator.bytes(4096)
        bytes += [UInt8](repeating: 0, count: 4096)
    }
    return bytes
}

/// A plausible manifest of backup `id` with a chunked file, a packed file, a directory and a link.
func sampleManifest(id: BackupID, server: String = "main", label: String = "nightly") -> BackupManifest {
    let digest = SHA256Hasher.hash(Array("chunk".utf8))
    let pack = SHA256Hasher.hash(Array("pack".utf8))
    let start = id.date.addingTimeInterval(0.25)
    return BackupManifest(
        id: id, server: server, systemIdentifier: 7_311_234_567_890_123_456, postgresVersionNumber: 150_018,
        timeline: TimelineID(2), startLSN: LSN(0x3_0000_0028), stopLSN: LSN(0x3_0200_0100),
        startTime: start, stopTime: start.addingTimeInterval(12.5), label: label, compression: .zstd(level: 1),
        chunking: .default,
        tablespaces: [.init(oid: 16_390, location: "/srv/ts1", name: "fast")],
        files: [
            .init(path: "base", type: .directory, mode: 0o700, mtime: start, size: 0),
            .init(
                path: "base/5/16384", type: .file, mode: 0o600, mtime: start, size: 5 << 20, sha256: digest,
                chunks: [.init(offset: 0, size: 4 << 20, sha256: digest), .init(offset: 4 << 20, size: 1 << 20, sha256: digest)]),
            .init(path: "PG_VERSION", type: .file, mode: 0o600, mtime: start, size: 3, sha256: digest,
                  packed: .init(pack: pack, packSize: 1000, offset: 42)),
            .init(path: "16384/1", tablespace: 16_390, type: .file, mode: 0o600, mtime: start, size: 0),
            .init(path: "pg_wal", type: .symlink, mode: 0o777, mtime: start, size: 0, linkTarget: "/srv/wal"),
        ],
        totals: .init(databaseSize: 5 << 20 + 3, newChunks: 2, storedNew: 1234, deduplicatedChunks: 1, storedDeduplicated: 99),
        serverManifest: nil,
        wal: .init(timeline: TimelineID(2), start: LSN(0x3_0000_0028), stop: LSN(0x3_0200_0100), segmentSize: try! WALSegmentSize(megabytes: 16)),
        durationSeconds: 13.25)
}

/// Wraps a store and counts the objects committed through it.
final class CountingStore: ObjectStore {
    let inner: any ObjectStore
    let commits = Mutex(0)

    init(_ inner: any ObjectStore) { self.inner = inner }

    var location: String { inner.location }
    func writer(for key: String) async throws -> any ObjectWriter {
        CountingWriter(inner: try await inner.writer(for: key), store: self)
    }
    func reader(for key: String) async throws -> any ObjectReader { try await inner.reader(for: key) }
    func head(_ key: String) async throws -> ObjectInfo { try await inner.head(key) }
    func list(prefix: String) async throws -> [ObjectInfo] { try await inner.list(prefix: prefix) }
    func delete(_ keys: [String]) async throws { try await inner.delete(keys) }

    var commitCount: Int { commits.withLock { $0 } }

    final class CountingWriter: ObjectWriter {
        let inner: any ObjectWriter
        let store: CountingStore
        init(inner: any ObjectWriter, store: CountingStore) { (self.inner, self.store) = (inner, store) }
        func write(_ bytes: [UInt8]) async throws { try await inner.write(bytes) }
        func commit(ifAbsent: Bool) async throws -> ObjectInfo {
            let info = try await inner.commit(ifAbsent: ifAbsent)
            store.commits.withLock { $0 += 1 }
            return info
        }
        func abort() async { await inner.abort() }
    }
}

/// An S3 store on the shared moto server (signatures checked) under a fresh prefix that starts
/// with `name`, so that tests running in parallel never see each other's objects.
func motoStore(named name: String) async throws -> S3ObjectStore {
    let moto = try await MotoServer.shared()
    return try S3ObjectStore(configuration: S3Configuration(
        bucket: moto.bucket, prefix: "\(name)-\(UUID().uuidString.prefix(8))/repo", endpoint: moto.endpoint,
        region: moto.region, pathStyle: true,
        credentials: .fixed(S3Credentials(accessKeyID: moto.accessKeyID, secretAccessKey: moto.secretAccessKey))))
}
