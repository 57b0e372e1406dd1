import PGBackupFoundations
import Testing
@testable import PGBackupStorage

/// Reading through `EncryptedObjectStore` in any piece size returns exactly what was written
/// (a regression: a read that handed out the whole opened buffer left the reader at a stale
/// offset, and the next read crashed).
@Suite("encrypted object store reads")
struct EncryptedObjectStoreReadTests {
    @Test(arguments: [1, 1000, 65_536, 1 << 20])
    func readsInAnyPieceSizeReturnExactlyTheObject(pieceSize: Int) async throws {
        let store = EncryptedObjectStore(wrapping: MemoryObjectStore(), dataKey: .random(), plaintextKeys: [])
        let content = (0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        try await store.put("main/object", bytes: content)
        #expect(try await store.get("main/object") == content)
        let reader = try await store.reader(for: "main/object")
        var read: [UInt8] = []
        while true {
            let piece = try await reader.read(maxLength: pieceSize)
            if piece.isEmpty { break }
            #expect(piece.count <= pieceSize)
            read += piece
        }
        await reader.close()
        #expect(read == content)
    }
}
