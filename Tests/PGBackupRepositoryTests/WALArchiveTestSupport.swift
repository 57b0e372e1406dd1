import Foundation
import PGBackupFoundations
import PGBackupStorage
import PGBackupTestSupport
import Testing
@testable import PGBackupRepository

/// The stores every WAL archive test runs against.
enum StoreKind: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case memory, file
    var testDescription: String { rawValue }
}

/// A WAL archive over a fresh store, with a scratch directory for local files; 1 MiB segments
/// keep the tests fast.
struct ArchiveFixture {
    let store: any ObjectStore
    let archive: WALArchive
    let directory: String
    let segmentSize = try! WALSegmentSize(megabytes: 1)

    init(_ kind: StoreKind, compression: Compression = .zstd(level: 1)) throws {
        directory = FileManager.default.temporaryDirectory.path + "/pgbackup-walarchive-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        switch kind {
        case .memory: store = MemoryObjectStore()
        case .file: store = try FileObjectStore(root: directory + "/repo", create: true)
        }
        archive = WALArchive(repository: Repository(store: store, server: "main"), segmentSize: segmentSize, compression: compression)
    }

    /// A WAL archive over `store` (S3 on moto), with a fresh scratch directory.
    init(store: any ObjectStore, compression: Compression = .zstd(level: 1)) throws {
        directory = FileManager.default.temporaryDirectory.path + "/pgbackup-walarchive-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        self.store = store
        archive = WALArchive(repository: Repository(store: store, server: "main"), segmentSize: segmentSize, compression: compression)
    }

    /// The same store, written with another compression.
    func archive(compression: Compression) -> WALArchive {
        WALArchive(repository: archive.repository, segmentSize: segmentSize, compression: compression)
    }

    func remove() { try? FileManager.default.removeItem(atPath: directory) }

    func segment(_ timeline: UInt32 = 1, _ number: UInt64) -> WALSegmentName {
        WALSegmentName(timeline: TimelineID(timeline), segmentNumber: number, segmentSize: segmentSize)
    }

    /// Segment-sized content shaped like WAL: a compressible start, random bytes, zeros to the end.
    func segmentContent(seed: UInt64) -> [UInt8] {
        var generator = SeededGenerator(seed: seed)
        let used = Int(segmentSize.bytes) / 2
        var bytes = [UInt8](repeating: 0, count: Int(segmentSize.bytes))
        for index in 0..<used where index % 3 != 0 { bytes[index] = UInt8(truncatingIfNeeded: generator.next()) }
        return bytes
    }

    /// Writes `bytes` to a new file in the scratch directory; returns its path.
    func file(_ name: String, _ bytes: [UInt8]) throws -> String {
        let path = directory + "/" + name
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    func read(_ path: String) throws -> [UInt8] {
        Array(try Data(contentsOf: URL(fileURLWithPath: path)))
    }

    func exists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: path) }

    /// Flips one byte of a stored object in place (an atomic put of the damaged copy).
    func damage(_ key: String, at offset: (Int) -> Int) async throws {
        var bytes = try await store.get(key)
        bytes[offset(bytes.count)] ^= 0x20
        try await store.put(key, bytes: bytes)
    }

    /// Files in the scratch directory other than the repository: temporary files must not linger.
    func scratchFiles() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0 != "repo" }.sorted()
    }
}

func withArchive(
    _ kind: StoreKind, compression: Compression = .zstd(level: 1), _ body: (ArchiveFixture) async throws -> Void
) async throws {
    let fixture = try ArchiveFixture(kind, compression: compression)
    defer { fixture.remove() }
    try await body(fixture)
}
