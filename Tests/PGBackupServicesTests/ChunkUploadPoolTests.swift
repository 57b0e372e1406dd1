import PGBackupFoundations
import PGBackupRepository
import PGBackupStorage
import Testing
@testable import PGBackupServices

/// `ChunkUploadPool`'s memory: never more than its `buffers` chunk buffers out at once, and the
/// buffers of stored chunks filled again rather than allocated anew.
@Suite("Chunk upload pool")
struct ChunkUploadPoolTests {
    @Test func buffersAreBoundedAndRecycled() async throws {
        let chunkStore = ChunkStore(repository: Repository(store: MemoryObjectStore(), server: "main"), compression: .zstd(level: 1))
        let pool = ChunkUploadPool(chunkStore: chunkStore, jobs: 2)
        #expect(pool.buffers == 4)
        let chunkCount = 48, chunkSize = 256 << 10
        @Sendable func content(_ id: Int) -> [UInt8] {
            (0..<chunkSize).map { UInt8(truncatingIfNeeded: ($0 &* 2_654_435_761 ^ id &* 40_503) >> 7) }
        }
        // The splitter's side: a blocking thread that reserves, fills and submits as fast as it can.
        async let splitter: Void = BlockingIO.runLong {
            for id in 0..<chunkCount {
                var buffer = try pool.reserve(capacity: chunkSize)
                #expect(buffer.isEmpty && buffer.capacity >= chunkSize)
                buffer.append(contentsOf: content(id))
                try pool.submit(ChunkJob(id: id, bytes: buffer))
            }
            pool.finishSubmitting()
        }
        let stored = try await pool.run()
        try await splitter

        #expect(stored.count == chunkCount)
        for id in [0, 1, chunkCount / 2, chunkCount - 1] {
            #expect(stored[id]?.sha256 == SHA256Hasher.hash(content(id)))
            #expect(try await chunkStore.fetch(#require(stored[id])) == content(id))
        }
        let counts = pool.chunkBuffers.counts
        #expect(counts.outstanding == 0)
        #expect(counts.mostOutstanding <= pool.buffers)
        #expect(counts.allocations + counts.reuses == chunkCount)
        // Reuse is the rule: a fresh allocation only for the first buffers (and for the rare
        // buffer the splitter's thread had not let go of yet when it came back).
        #expect(counts.allocations <= pool.buffers + 2, "\(counts)")
    }
}
