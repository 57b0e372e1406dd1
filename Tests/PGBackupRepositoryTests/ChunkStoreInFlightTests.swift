import Foundation
import PGBackupFoundations
import PGBackupStorage
import Synchronization
import Testing
@testable import PGBackupRepository

/// Identical chunks stored at once (the zero-filled chunks of a backup, say) are uploaded once.
@Suite("Chunk store: identical chunks in flight")
struct ChunkStoreInFlightTests {
    @Test(arguments: StoreKind.allCases, [false, true])
    func identicalChunksInFlightAreUploadedOnce(kind: StoreKind, listed: Bool) async throws {
        try await withRepository(kind) { fixture in
            // Each put takes a while, so all the stores below are in flight at once.
            let store = SlowStore(fixture.store, delay: .milliseconds(300))
            let chunks = ChunkStore(
                repository: Repository(store: store, server: "main"), compression: .zstd(level: 1),
                index: listed ? ChunkIndex() : nil)
            let bytes = relationBytes(pages: 8, seed: 11)
            let refs = try await withThrowingTaskGroup(of: ChunkRef.self) { group in
                for _ in 0..<6 { group.addTask { try await chunks.store(bytes) } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(refs.count == 6)
            #expect(refs.filter(\.new).count == 1, "one upload; the others wait for it")
            #expect(store.writersOpened == 1)
            #expect(Set(refs.map(\.storedSize)).count == 1)
            #expect(try await fixture.chunkKeys().count == 1)
            #expect(try await chunks.fetch(refs[0]) == bytes)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func aWaiterUploadsItselfWhenTheUploadItWaitedForFails(kind: StoreKind) async throws {
        try await withRepository(kind) { fixture in
            let store = SlowStore(fixture.store, delay: .milliseconds(300), failingCommits: 1)
            let chunks = ChunkStore(repository: Repository(store: store, server: "main"), compression: .zstd(level: 1), index: ChunkIndex())
            let bytes = relationBytes(pages: 4, seed: 12)
            let outcomes = await withTaskGroup(of: Result<ChunkRef, any Error>.self) { group in
                for _ in 0..<2 {
                    group.addTask {
                        do { return .success(try await chunks.store(bytes)) } catch { return .failure(error) }
                    }
                }
                return await group.reduce(into: []) { $0.append($1) }
            }
            let stored = outcomes.compactMap { try? $0.get() }
            #expect(stored.count == 1, "the failed upload's error is its caller's alone: \(outcomes)")
            #expect(stored.first?.new == true)
            #expect(store.writersOpened == 2)
            let ref = try #require(stored.first)
            #expect(try await chunks.fetch(ref) == bytes)
        }
    }
}

/// Wraps a store: each commit waits `delay` first, and the first `failingCommits` fail.
final class SlowStore: ObjectStore {
    let inner: any ObjectStore
    let delay: Duration
    private let counts: Mutex<(opened: Int, failuresLeft: Int)>

    init(_ inner: any ObjectStore, delay: Duration, failingCommits: Int = 0) {
        (self.inner, self.delay) = (inner, delay)
        counts = Mutex((0, failingCommits))
    }

    var writersOpened: Int { counts.withLock { $0.opened } }

    var location: String { inner.location }
    func writer(for key: String) async throws -> any ObjectWriter {
        counts.withLock { $0.opened += 1 }
        return SlowWriter(inner: try await inner.writer(for: key), store: self)
    }
    func reader(for key: String) async throws -> any ObjectReader { try await inner.reader(for: key) }
    func head(_ key: String) async throws -> ObjectInfo { try await inner.head(key) }
    func list(prefix: String) async throws -> [ObjectInfo] { try await inner.list(prefix: prefix) }
    func delete(_ keys: [String]) async throws { try await inner.delete(keys) }

    final class SlowWriter: ObjectWriter {
        let inner: any ObjectWriter
        let store: SlowStore
        init(inner: any ObjectWriter, store: SlowStore) { (self.inner, self.store) = (inner, store) }
        func write(_ bytes: [UInt8]) async throws { try await inner.write(bytes) }
        func commit(ifAbsent: Bool) async throws -> ObjectInfo {
            try await Task.sleep(for: store.delay)
            let fail = store.counts.withLock { counts in
                guard counts.failuresLeft > 0 else { return false }
                counts.failuresLeft -= 1
                return true
            }
            if fail { throw StorageError.failed(operation: "write", key: "test", store: store.location, reason: "injected failure") }
            return try await inner.commit(ifAbsent: ifAbsent)
        }
        func abort() async { await inner.abort() }
    }
}
