import Foundation
import PGBackupFoundations
import PGBackupStorage
import PGBackupTestSupport
import Testing
@testable import PGBackupRepository

@Suite("Chunk store")
struct ChunkStoreTests {
    @Test(arguments: StoreKind.allCases)
    func storesUnderTheDigestOfTheUncompressedContentAndFetchesItBack(kind: StoreKind) async throws {
        try await withRepository(kind) { fixture in
            let chunks = fixture.chunkStore()
            let bytes = relationBytes(pages: 16, seed: 1)
            let ref = try await chunks.store(bytes)
            let hex = SHA256Hasher.hash(bytes).description
            #expect(ref.sha256.description == hex)
            #expect(ref.size == Int64(bytes.count))
            #expect(ref.new)
            #expect(ref.algorithm == .zstd)
            #expect(try await fixture.chunkKeys() == ["main/chunks/\(hex.prefix(2))/\(hex).zst"])
            // Compressed: half of every page is zeros.
            #expect(ref.storedSize < Int64(bytes.count))
            #expect(try await fixture.store.head("main/chunks/\(hex.prefix(2))/\(hex).zst").size == ref.storedSize)
            #expect(try await chunks.fetch(ref) == bytes)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func theSameContentIsUploadedOnce(kind: StoreKind) async throws {
        try await withRepository(kind) { fixture in
            let store = CountingStore(fixture.store)
            let chunks = ChunkStore(repository: Repository(store: store, server: "main"), compression: .zstd(level: 1))
            let bytes = relationBytes(pages: 4, seed: 2)
            let first = try await chunks.store(bytes)
            let commitsAfterFirst = store.commitCount
            let second = try await chunks.store(bytes)
            #expect(first.new)
            #expect(!second.new)
            #expect(commitsAfterFirst == 1)
            #expect(store.commitCount == 1)
            #expect(second.sha256 == first.sha256)
            #expect(second.storedSize == first.storedSize)
            #expect(try await fixture.chunkKeys().count == 1)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func aChunkStoredInAnotherCompressionIsNotStoredAgain(kind: StoreKind) async throws {
        try await withRepository(kind) { fixture in
            let bytes = relationBytes(pages: 2, seed: 3)
            let gzip = try await fixture.chunkStore(.gzip(level: 1)).store(bytes)
            let again = try await fixture.chunkStore(.zstd(level: 1)).store(bytes)
            #expect(gzip.new && gzip.algorithm == .gzip)
            #expect(!again.new)
            #expect(again.algorithm == .gzip)
            #expect(try await fixture.chunkKeys().count == 1)
            // A manifest records only the digest and size: found in whichever compression holds it.
            #expect(try await fixture.chunkStore(.none).fetch(sha256: gzip.sha256, size: gzip.size) == bytes)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func aDamagedChunkIsAnErrorNamingIt(kind: StoreKind) async throws {
        try await withRepository(kind) { fixture in
            let chunks = fixture.chunkStore(.none)
            let ref = try await chunks.store(relationBytes(pages: 2, seed: 4))
            let key = try #require(try await fixture.chunkKeys().first)
            try await fixture.damage(key) { _ in 100 }
            let error = await #expect(throws: SealError.self) { try await chunks.fetch(ref) }
            #expect(error?.object == key)
            #expect(error?.description.hasPrefix("unable to verify '\(key)': SHA-256 mismatch") == true)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func aChunkWhoseContentIsNotItsKeyIsAnError(kind: StoreKind) async throws {
        try await withRepository(kind) { fixture in
            let chunks = fixture.chunkStore()
            let real = try await chunks.store(Array(repeating: 7, count: 10_000))
            // A well-sealed object holding other content, put under the real chunk's key.
            let key = try #require(try await fixture.chunkKeys().first)
            let other = Array(repeating: UInt8(8), count: 10_000)
            try await fixture.store.put(key, bytes: try ObjectSealer.seal(other, compression: .zstd(level: 1)))
            let error = await #expect(throws: ChunkStoreError.self) { try await chunks.fetch(real) }
            #expect(error == .contentMismatch(key: key, content: SHA256Hasher.hash(other)))
            #expect(error?.description.hasPrefix("unable to verify '\(key)': its content hashes to \(SHA256Hasher.hash(other))") == true)
        }
    }

    @Test
    func aMissingChunkIsAnErrorNamingItsDigest() async throws {
        try await withRepository(.memory) { fixture in
            let digest = SHA256Hasher.hash([1, 2, 3])
            let error = await #expect(throws: ChunkStoreError.self) {
                try await fixture.chunkStore().fetch(sha256: digest, size: 3)
            }
            #expect(error?.description.hasPrefix("unable to fetch chunk '\(digest)' from memory://: no stored object holds it") == true)
        }
    }

    @Test
    func aChunkOfAnotherSizeThanRecordedIsAnError() async throws {
        try await withRepository(.memory) { fixture in
            let ref = try await fixture.chunkStore().store([1, 2, 3, 4])
            let error = await #expect(throws: ChunkStoreError.self) {
                try await fixture.chunkStore().fetch(sha256: ref.sha256, size: 5)
            }
            #expect(error == .sizeMismatch(key: fixture.chunkStore().layout.chunkKey(ref.sha256, .zstd), expected: 5, actual: 4))
        }
    }

    /// DESIGN.md, "Chunking": a relation file rewritten in one 8 KiB page costs one new chunk.
    @Test(arguments: StoreKind.allCases)
    func onePageChangedMakesExactlyOneNewChunk(kind: StoreKind) async throws {
        try await withRepository(kind) { fixture in
            let chunks = fixture.chunkStore()
            let policy = ChunkingPolicy(chunkSize: 64 << 10, smallFileLimit: 16 << 10)
            var file = relationBytes(pages: 64, seed: 5)  // 512 KiB: 8 chunks
            func backUp() async throws -> [ChunkRef] {
                let plan = ChunkingPlan(files: [.init(path: "base/5/16384", size: Int64(file.count))], policy: policy)
                guard case .chunks(let spans) = plan.placements[0] else { Issue.record("not chunked"); return [] }
                var refs: [ChunkRef] = []
                for span in spans {
                    refs.append(try await chunks.store(Array(file[Int(span.offset)..<Int(span.offset + span.size)])))
                }
                return refs
            }
            let first = try await backUp()
            #expect(first.count == 8)
            #expect(first.filter(\.new).count == 8)
            // Rewrite page 21 (inside chunk 2) in place.
            var generator = SeededGenerator(seed: 99)
            file.replaceSubrange(21 * 8192..<22 * 8192, with: generator.bytes(8192))
            let second = try await backUp()
            #expect(second.filter(\.new).count == 1)
            #expect(second.firstIndex(where: \.new) == 2)
            #expect(try await fixture.chunkKeys().count == 9)
        }
    }

    @Test
    func anOversizedChunkIsRefused() async throws {
        try await withRepository(.memory) { fixture in
            let error = await #expect(throws: ChunkStoreError.self) {
                try await fixture.chunkStore().store([UInt8](repeating: 0, count: ChunkStore.maximumChunkSize + 1))
            }
            #expect(error == .tooLarge(size: ChunkStore.maximumChunkSize + 1, limit: ChunkStore.maximumChunkSize))
            let keys = try await fixture.chunkKeys()
            #expect(keys.isEmpty)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func anIndexListedOnceAnswersWhatIsStoredWithoutAskingTheStore(kind: StoreKind) async throws {
        try await withRepository(kind) { fixture in
            let stored = try await fixture.chunkStore(.gzip(level: 1)).store(relationBytes(pages: 8, seed: 7))
            _ = try await fixture.store.put("main/chunks/zz/not-a-chunk.txt", bytes: [1, 2, 3])
            let index = try await ChunkIndex.load(fixture.repository)
            #expect(index.count == 1)
            #expect(index.entry(stored.sha256) == ChunkIndex.Entry(algorithm: .gzip, storedSize: stored.storedSize))

            // Known content: found in the index, in its own compression, nothing written.
            let counting = CountingStore(fixture.store)
            let chunks = ChunkStore(repository: Repository(store: counting, server: "main"), compression: .zstd(level: 1), index: index)
            let again = try await chunks.store(relationBytes(pages: 8, seed: 7))
            #expect(!again.new && again.algorithm == .gzip && again.storedSize == stored.storedSize)
            // New content is stored and joins the index, so its twin is not stored twice.
            let fresh = try await chunks.store(relationBytes(pages: 8, seed: 8))
            let twin = try await chunks.store(relationBytes(pages: 8, seed: 8))
            #expect(fresh.new && !twin.new)
            #expect(counting.commitCount == 1)
            #expect(index.entry(fresh.sha256)?.algorithm == .zstd)
            #expect(try await chunks.fetch(twin) == relationBytes(pages: 8, seed: 8))
        }
    }
}
