import Foundation
import PGBackupFoundations
import Testing
@testable import PGBackupStorage

/// Every `ObjectStore` driver passes this one suite (STYLE.md, habit 1).
enum StoreDriver: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case file, memory, s3

    var testDescription: String { rawValue }

    /// A fresh, empty store and a closure that removes it.
    func make() async throws -> (any ObjectStore, @Sendable () async -> Void) {
        switch self {
        case .file:
            let root = FileManager.default.temporaryDirectory.path + "/pgbackup-store-\(UUID().uuidString)"
            let store = try FileObjectStore(root: root, create: true)
            return (store, { try? FileManager.default.removeItem(atPath: root) })
        case .memory:
            return (MemoryObjectStore(), {})
        case .s3:
            // A fresh prefix in the shared moto server's bucket: real S3, signatures checked.
            let store = try await S3TestStore.make()
            return (store, { try? await store.delete(store.list(prefix: "").map(\.key)) })
        }
    }
}

/// What the contract suite runs: every driver, and the encrypting wrapper over the file and S3
/// drivers (over memory it would add nothing the file driver does not show).
enum ContractStore: CustomTestStringConvertible, Sendable {
    case plain(StoreDriver)
    case encrypted(StoreDriver)

    static let all: [ContractStore] = StoreDriver.allCases.map(ContractStore.plain) + [.encrypted(.file), .encrypted(.s3)]

    var testDescription: String {
        switch self {
        case let .plain(driver): driver.rawValue
        case let .encrypted(driver): "encrypted \(driver.rawValue)"
        }
    }

    func make() async throws -> (any ObjectStore, @Sendable () async -> Void) {
        switch self {
        case let .plain(driver):
            return try await driver.make()
        case let .encrypted(driver):
            let (inner, cleanup) = try await driver.make()
            return (EncryptedObjectStore(wrapping: inner, dataKey: EncryptionKey.random(), plaintextKeys: []), cleanup)
        }
    }

    /// The size `put`, `head` and `list` report for an object of `length` bytes: the stored
    /// size, which the encrypted store's contract says is the encrypted one (frames and tags).
    func storedSize(_ length: Int) -> Int64 {
        switch self {
        case .plain: Int64(length)
        case .encrypted: EncryptedObjectFormat.storedSize(plaintextLength: Int64(length))
        }
    }
}

func withStore(_ driver: StoreDriver, _ body: (any ObjectStore) async throws -> Void) async throws {
    try await withStore(ContractStore.plain(driver), body)
}

func withStore(_ contract: ContractStore, _ body: (any ObjectStore) async throws -> Void) async throws {
    let (store, cleanup) = try await contract.make()
    do {
        try await body(store)
    } catch {
        await cleanup()
        throw error
    }
    await cleanup()
}

func randomBytes(_ count: Int) -> [UInt8] {
    var generator = SystemRandomNumberGenerator()
    var bytes = [UInt8](repeating: 0, count: count)
    bytes.withUnsafeMutableBytes { raw in
        for offset in stride(from: 0, to: count, by: 8) {
            withUnsafeBytes(of: generator.next()) { word in
                raw[offset..<min(offset + 8, count)].copyBytes(from: word.prefix(count - offset))
            }
        }
    }
    return bytes
}

@Suite("ObjectStore contract")
struct ObjectStoreConformanceTests {
    @Test(arguments: ContractStore.all)
    func putThenGetReturnsTheSameBytes(store contract: ContractStore) async throws {
        try await withStore(contract) { store in
            let bytes = randomBytes(70_000)
            let info = try await store.put("main/wal/a.zst", bytes: bytes)
            #expect(info.size == contract.storedSize(70_000))
            #expect(try await store.get("main/wal/a.zst") == bytes)
            #expect(try await store.head("main/wal/a.zst").size == contract.storedSize(70_000))
        }
    }

    @Test(arguments: ContractStore.all)
    func emptyObjectsExist(store contract: ContractStore) async throws {
        try await withStore(contract) { store in
            try await store.put("empty", bytes: [])
            #expect(try await store.get("empty") == [])
            #expect(try await store.exists("empty"))
        }
    }

    @Test(arguments: ContractStore.all)
    func streamingWriteAndReadInPieces(store contract: ContractStore) async throws {
        try await withStore(contract) { store in
            let piece = randomBytes(256 * 1024)
            let writer = try await store.writer(for: "big/object")
            for _ in 0..<20 { try await writer.write(piece) }
            let info = try await writer.commit()
            #expect(info.size == contract.storedSize(20 * piece.count))

            let reader = try await store.reader(for: "big/object")
            var total = 0
            var largestRead = 0
            while true {
                let bytes = try await reader.read(maxLength: 100_000)
                if bytes.isEmpty { break }
                total += bytes.count
                largestRead = max(largestRead, bytes.count)
            }
            await reader.close()
            #expect(total == 20 * piece.count)
            #expect(largestRead <= 100_000)
            #expect(try await store.get("big/object", limit: 6 << 20) == Array([[UInt8]](repeating: piece, count: 20).joined()))
        }
    }

    @Test(arguments: ContractStore.all)
    func anObjectIsInvisibleUntilCommitted(store contract: ContractStore) async throws {
        try await withStore(contract) { store in
            let writer = try await store.writer(for: "wal/partial/seg")
            try await writer.write(randomBytes(1000))
            #expect(try await store.exists("wal/partial/seg") == false)
            #expect(try await store.list(prefix: "").isEmpty)
            try await writer.commit()
            #expect(try await store.list(prefix: "").map(\.key) == ["wal/partial/seg"])
        }
    }

    @Test(arguments: ContractStore.all)
    func anAbortedWriteLeavesThePreviousObject(store contract: ContractStore) async throws {
        try await withStore(contract) { store in
            try await store.put("k", bytes: [1, 2, 3])
            let writer = try await store.writer(for: "k")
            try await writer.write([9, 9, 9, 9])
            await writer.abort()
            #expect(try await store.get("k") == [1, 2, 3])
            #expect(try await store.list(prefix: "").map(\.key) == ["k"])
        }
    }

    @Test(arguments: ContractStore.all)
    func aPutReplacesTheObject(store contract: ContractStore) async throws {
        try await withStore(contract) { store in
            try await store.put("k", bytes: [1, 2, 3])
            try await store.put("k", bytes: [4])
            #expect(try await store.get("k") == [4])
        }
    }

    /// Two identical chunks in flight, or a retry beside a stalled attempt: both writers of one
    /// key succeed, the last commit wins, and nothing else stays behind.
    @Test(arguments: ContractStore.all)
    func twoWritersOfOneKeyAtOnceBothCommit(store contract: ContractStore) async throws {
        try await withStore(contract) { store in
            let first = try await store.writer(for: "main/chunks/ab/abcd.zst")
            let second = try await store.writer(for: "main/chunks/ab/abcd.zst")
            try await first.write([1, 1])
            try await second.write([2, 2, 2])
            try await first.commit()
            #expect(try await store.get("main/chunks/ab/abcd.zst") == [1, 1])
            try await second.commit()
            #expect(try await store.get("main/chunks/ab/abcd.zst") == [2, 2, 2])
            #expect(try await store.list(prefix: "").map(\.key) == ["main/chunks/ab/abcd.zst"])
        }
    }

    @Test(arguments: ContractStore.all)
    func missingObjectsAreNotFound(store contract: ContractStore) async throws {
        try await withStore(contract) { store in
            await #expect(throws: StorageError.notFound(key: "no/such", store: store.location)) {
                try await store.head("no/such")
            }
            await #expect(throws: StorageError.notFound(key: "no/such", store: store.location)) {
                _ = try await store.reader(for: "no/such")
            }
            let exists = try await store.exists("no/such")
            #expect(exists == false)
        }
    }

    @Test(arguments: ContractStore.all)
    func listingFiltersByPrefixAndSorts(store contract: ContractStore) async throws {
        try await withStore(contract) { store in
            for key in ["main/wal/0000000100000000/b", "main/wal/0000000100000000/a", "main/wal/00000002.history",
                        "main/backups/x/backup.json", "other/wal/a", "main/walrus"] {
                try await store.put(key, bytes: Array(key.utf8))
            }
            #expect(try await store.list(prefix: "main/wal/").map(\.key) ==
                    ["main/wal/0000000100000000/a", "main/wal/0000000100000000/b", "main/wal/00000002.history"])
            #expect(try await store.list(prefix: "main/wal").map(\.key).last == "main/walrus")
            #expect(try await store.list(prefix: "main/wal/0000000100000000/a").map(\.key) == ["main/wal/0000000100000000/a"])
            #expect(try await store.list(prefix: "nothing/").isEmpty)
            #expect(try await store.list(prefix: "").count == 6)
            let sizes = try await store.list(prefix: "other/").map(\.size)
            #expect(sizes == [contract.storedSize("other/wal/a".utf8.count)])
        }
    }

    @Test(arguments: ContractStore.all)
    func deleteRemovesAndIgnoresMissingKeys(store contract: ContractStore) async throws {
        try await withStore(contract) { store in
            try await store.put("a/1", bytes: [1])
            try await store.put("a/2", bytes: [2])
            try await store.delete(["a/1", "a/does-not-exist"])
            #expect(try await store.list(prefix: "a/").map(\.key) == ["a/2"])
        }
    }

    @Test(arguments: ContractStore.all)
    func invalidKeysAreRefused(store contract: ContractStore) async throws {
        try await withStore(contract) { store in
            for key in ["", "/abs", "a//b", "a/../b", "./a", "a/"] {
                await #expect(throws: StorageError.self, "key '\(key)'") {
                    try await store.put(key, bytes: [1])
                }
            }
            let remaining = try await store.list(prefix: "")
            #expect(remaining.isEmpty)
        }
    }

    @Test(arguments: ContractStore.all)
    func wholeObjectReadsAreBounded(store contract: ContractStore) async throws {
        try await withStore(contract) { store in
            try await store.put("big", bytes: randomBytes(3 << 20))
            await #expect(throws: StorageError.tooLarge(key: "big", limit: 1 << 20, store: store.location)) {
                _ = try await store.get("big", limit: 1 << 20)
            }
        }
    }
}
