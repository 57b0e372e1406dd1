import Foundation
import PGBackupFoundations
import PGBackupStorage
import Synchronization
import Testing
@testable import PGBackupRepository

/// A store that remembers the largest piece written to or read from it in one call.
final class RecordingStore: ObjectStore {
    let inner = MemoryObjectStore()
    let largestWrite = Mutex(0)
    let largestRead = Mutex(0)

    var location: String { inner.location }

    func writer(for key: String) async throws -> any ObjectWriter {
        RecordingWriter(inner: try await inner.writer(for: key), store: self)
    }

    func reader(for key: String) async throws -> any ObjectReader {
        RecordingReader(inner: try await inner.reader(for: key), store: self)
    }

    func head(_ key: String) async throws -> ObjectInfo { try await inner.head(key) }
    func list(prefix: String) async throws -> [ObjectInfo] { try await inner.list(prefix: prefix) }
    func delete(_ keys: [String]) async throws { try await inner.delete(keys) }

    final class RecordingWriter: ObjectWriter {
        let inner: any ObjectWriter
        let store: RecordingStore
        init(inner: any ObjectWriter, store: RecordingStore) { (self.inner, self.store) = (inner, store) }
        func write(_ bytes: [UInt8]) async throws {
            store.largestWrite.withLock { $0 = max($0, bytes.count) }
            try await inner.write(bytes)
        }
        func commit(ifAbsent: Bool) async throws -> ObjectInfo { try await inner.commit(ifAbsent: ifAbsent) }
        func abort() async { await inner.abort() }
    }

    final class RecordingReader: ObjectReader {
        let inner: any ObjectReader
        let store: RecordingStore
        init(inner: any ObjectReader, store: RecordingStore) { (self.inner, self.store) = (inner, store) }
        func read(maxLength: Int) async throws -> [UInt8] {
            store.largestRead.withLock { $0 = max($0, maxLength) }
            return try await inner.read(maxLength: maxLength)
        }
        func close() async { await inner.close() }
    }
}

/// Memory stays bounded (DESIGN.md invariant 7): a 16 MiB segment crosses the store in pieces of
/// about one chunk, however (in)compressible it is.
@Suite("WAL archive bounded memory")
struct WALArchiveMemoryTests {
    @Test(arguments: [Compression.none, .zstd(level: 1)])
    func segmentsStreamInChunks(compression: Compression) async throws {
        let store = RecordingStore()
        let size = try WALSegmentSize(megabytes: 16)
        let archive = WALArchive(repository: Repository(store: store, server: "main"), segmentSize: size, compression: compression)
        let directory = FileManager.default.temporaryDirectory.path + "/pgbackup-walmemory-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var generator = SystemRandomNumberGenerator()
        // Incompressible: compressed output is as large as the input, the worst case for writes.
        let content = (0..<(Int(size.bytes) / 8)).map { _ in generator.next() }.withUnsafeBytes { Array($0) }
        let segment = WALSegmentName(timeline: TimelineID(1), segmentNumber: 7, segmentSize: size)
        let path = directory + "/" + segment.name
        try Data(content).write(to: URL(fileURLWithPath: path))

        _ = try await archive.storeSegment(segment, contentsOf: path)
        try await archive.fetch(segment.name, to: directory + "/RECOVERYXLOG")
        #expect(Array(try Data(contentsOf: URL(fileURLWithPath: directory + "/RECOVERYXLOG"))) == content)
        let chunk = WALArchive.chunkSize
        #expect(store.largestWrite.withLock { $0 } <= chunk + chunk / 32, "a write of \(store.largestWrite.withLock { $0 }) bytes")
        #expect(store.largestRead.withLock { $0 } <= chunk)
    }
}
