import Foundation
import PGBackupFoundations
import Testing
@testable import PGBackupStorage

/// `EncryptedObjectStore` over each real driver: callers get back exactly what they wrote, the
/// driver holds none of it in the clear, and stored bytes moved or changed fail to open.
@Suite("Encrypted object store")
struct EncryptedObjectStoreTests {
    static let plaintextKey = "main/repository.json"

    static func encrypted(_ store: any ObjectStore, key: EncryptionKey = EncryptionKey.random()) -> EncryptedObjectStore {
        EncryptedObjectStore(wrapping: store, dataKey: key, plaintextKeys: [plaintextKey])
    }

    @Test(arguments: StoreDriver.allCases)
    func roundTripsStreamsAndStoresNothingInTheClear(driver: StoreDriver) async throws {
        try await withStore(driver) { inner in
            let store = Self.encrypted(inner)
            let content = randomBytes(300_000) + Array(repeating: UInt8(ascii: "M"), count: 70_000)
            let writer = try await store.writer(for: "main/wal/a.zst")
            for start in stride(from: 0, to: content.count, by: 50_000) {
                try await writer.write(Array(content[start..<min(content.count, start + 50_000)]))
            }
            let info = try await writer.commit()
            #expect(info.size == EncryptedObjectFormat.storedSize(plaintextLength: Int64(content.count)))
            #expect(try await store.head("main/wal/a.zst").size == info.size)
            #expect(try await store.list(prefix: "main/").map(\.key) == ["main/wal/a.zst"])

            // Read back in small and odd pieces.
            let reader = try await store.reader(for: "main/wal/a.zst")
            var back: [UInt8] = []
            while true {
                let piece = try await reader.read(maxLength: 33_333)
                if piece.isEmpty { break }
                #expect(piece.count <= 33_333)
                back += piece
            }
            await reader.close()
            #expect(back == content)

            let stored = try await inner.get("main/wal/a.zst")
            #expect(stored.starts(with: EncryptedObjectFormat.tag))
            #expect(!Self.contains(stored, Array(repeating: UInt8(ascii: "M"), count: 64)), "the run of M's is not stored in the clear")
            #expect(!Self.contains(stored, Array(content[1_000..<1_032])))

            // Empty objects, and the plaintext exception.
            try await store.put("main/empty", bytes: [])
            #expect(try await store.get("main/empty") == [])
            try await store.put(Self.plaintextKey, bytes: Array("{\"formatVersion\": 2}\n".utf8))
            #expect(try await inner.get(Self.plaintextKey) == Array("{\"formatVersion\": 2}\n".utf8))
            #expect(try await store.get(Self.plaintextKey) == Array("{\"formatVersion\": 2}\n".utf8))

            try await store.delete(["main/wal/a.zst", "main/empty", Self.plaintextKey])
            #expect(try await store.list(prefix: "main/").isEmpty)
        }
    }

    @Test(arguments: [StoreDriver.file, .s3])
    func swappedChangedCutOrForeignObjectsFailToOpen(driver: StoreDriver) async throws {
        try await withStore(driver) { inner in
            let key = EncryptionKey.random()
            let store = Self.encrypted(inner, key: key)
            let first = randomBytes(200_000), second = randomBytes(200_000)
            try await store.put("main/chunks/aa/first.zst", bytes: first)
            try await store.put("main/chunks/bb/second.zst", bytes: second)
            let storedFirst = try await inner.get("main/chunks/aa/first.zst")
            let storedSecond = try await inner.get("main/chunks/bb/second.zst")

            // Swapped under each other's names.
            try await inner.put("main/chunks/aa/first.zst", bytes: storedSecond)
            try await inner.put("main/chunks/bb/second.zst", bytes: storedFirst)
            for name in ["main/chunks/aa/first.zst", "main/chunks/bb/second.zst"] {
                await Self.expectUndecryptable(store, name, .frameRejected(index: 0))
            }
            // A flipped byte in the middle, cut at a frame boundary, a plaintext object, another key.
            var flipped = storedFirst
            flipped[100_000] ^= 0x04
            try await inner.put("main/chunks/aa/first.zst", bytes: flipped)
            await Self.expectUndecryptable(store, "main/chunks/aa/first.zst", .frameRejected(index: 1))
            let frame = EncryptedObjectFormat.frameSize + EncryptedObjectFormat.tagSize
            try await inner.put("main/chunks/aa/first.zst", bytes: Array(storedFirst.prefix(EncryptedObjectFormat.headerSize + 3 * frame)))
            await Self.expectUndecryptable(store, "main/chunks/aa/first.zst", .frameRejected(index: 2))
            try await inner.put("main/chunks/aa/first.zst", bytes: first)
            await Self.expectUndecryptable(store, "main/chunks/aa/first.zst", .notEncrypted)
            try await inner.put("main/chunks/aa/first.zst", bytes: storedFirst)
            #expect(try await store.get("main/chunks/aa/first.zst") == first)
            await Self.expectUndecryptable(Self.encrypted(inner), "main/chunks/aa/first.zst", .frameRejected(index: 0))
        }
    }

    static func expectUndecryptable(_ store: any ObjectStore, _ key: String, _ failure: DecryptionFailure, sourceLocation: SourceLocation = #_sourceLocation) async {
        do {
            _ = try await store.get(key)
            Issue.record("\(key) opened", sourceLocation: sourceLocation)
        } catch let error as SealError {
            #expect(error.object == key, sourceLocation: sourceLocation)
            #expect(error.reason == .undecryptable(failure), sourceLocation: sourceLocation)
        } catch {
            Issue.record("\(key): \(error)", sourceLocation: sourceLocation)
        }
    }

    static func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard needle.count <= haystack.count, let first = needle.first else { return false }
        var index = haystack.startIndex
        while let found = haystack[index...].firstIndex(of: first), found + needle.count <= haystack.count {
            if haystack[found..<(found + needle.count)].elementsEqual(needle) { return true }
            index = found + 1
        }
        return false
    }
}
