import Foundation
import PGBackupFoundations
import PGBackupTestSupport
import Synchronization
import Testing
@testable import PGBackupStorage

/// Create-if-absent puts (`commit(ifAbsent: true)`, `putIfAbsent`) on every driver: a free key is
/// stored, a taken key is refused with `StorageError.alreadyExists` and kept as it was, and of
/// many writers racing for one key exactly one wins.
@Suite("ObjectStore create-if-absent")
struct ObjectStoreIfAbsentTests {
    @Test(arguments: StoreDriver.allCases)
    func aFreeKeyIsCreatedATakenOneIsRefusedAndKept(driver: StoreDriver) async throws {
        try await withStore(driver) { store in
            let first = randomBytes(1000), second = randomBytes(1000)
            #expect(try await store.putIfAbsent("main/locks/backup.json", bytes: first).size == 1000)
            #expect(try await store.get("main/locks/backup.json") == first)
            let error = await #expect(throws: StorageError.self) { try await store.putIfAbsent("main/locks/backup.json", bytes: second) }
            #expect(error == .alreadyExists(key: "main/locks/backup.json", store: store.location))
            #expect(error?.description == "unable to create 'main/locks/backup.json' in \(store.location): an object of that name exists already")
            #expect(try await store.get("main/locks/backup.json") == first)
            // An ordinary put still replaces it; once deleted, the key is free again.
            try await store.put("main/locks/backup.json", bytes: second)
            #expect(try await store.get("main/locks/backup.json") == second)
            try await store.delete(["main/locks/backup.json"])
            try await store.putIfAbsent("main/locks/backup.json", bytes: first)
            #expect(try await store.get("main/locks/backup.json") == first)
            // A refused put leaves no temporary file behind (file://) and nothing else listed.
            #expect(try await store.list(prefix: "").map(\.key) == ["main/locks/backup.json"])
            if let file = store as? FileObjectStore {
                let names = try FileManager.default.contentsOfDirectory(atPath: file.root + "/main/locks")
                #expect(names == ["backup.json"])
            }
        }
    }

    /// Large enough to be a multipart upload on S3 (the test store's parts are 5 MiB): the
    /// CompleteMultipartUpload carries the condition too.
    @Test(arguments: StoreDriver.allCases)
    func aStreamedObjectIsCreatedOnlyIfAbsent(driver: StoreDriver) async throws {
        try await withStore(driver) { store in
            let size = S3Configuration.minimumPartSize + 1000
            let existing = randomBytes(100), streamed = randomBytes(size)
            try await store.put("taken", bytes: existing)
            for key in ["taken", "free"] {
                let writer = try await store.writer(for: key)
                for start in stride(from: 0, to: size, by: 1 << 20) {
                    try await writer.write(Array(streamed[start..<min(size, start + (1 << 20))]))
                }
                if key == "taken" {
                    await #expect(throws: StorageError.alreadyExists(key: key, store: store.location)) { try await writer.commit(ifAbsent: true) }
                } else {
                    #expect(try await writer.commit(ifAbsent: true).size == Int64(size))
                }
            }
            #expect(try await store.get("taken") == existing)
            #expect(try await store.get("free", limit: 16 << 20) == streamed)
        }
    }

    @Test(arguments: StoreDriver.allCases)
    func exactlyOneOfSixteenConcurrentCreatorsWins(driver: StoreDriver) async throws {
        try await withStore(driver) { store in
            for round in 0..<3 {
                let key = "main/locks/race-\(round).json"
                let contents = (0..<16).map { _ in randomBytes(200) }
                let outcomes = try await withThrowingTaskGroup(of: (Int, Bool).self) { group in
                    for (index, content) in contents.enumerated() {
                        group.addTask {
                            do {
                                try await store.putIfAbsent(key, bytes: content)
                                return (index, true)
                            } catch StorageError.alreadyExists(let refused, _) where refused == key {
                                return (index, false)
                            }
                        }
                    }
                    return try await group.reduce(into: [(Int, Bool)]()) { $0.append($1) }
                }
                let winners = outcomes.filter(\.1).map(\.0)
                #expect(winners.count == 1, "round \(round): \(winners.count) creators won")
                #expect(outcomes.count == 16)
                if let winner = winners.first { #expect(try await store.get(key) == contents[winner]) }
            }
        }
    }

    @Test(arguments: StoreDriver.allCases)
    func theEncryptedStorePassesTheConditionThrough(driver: StoreDriver) async throws {
        try await withStore(driver) { inner in
            let store = EncryptedObjectStore(wrapping: inner, dataKey: EncryptionKey.random(), plaintextKeys: [])
            let first = Array("first holder".utf8), second = Array("second holder".utf8)
            try await store.putIfAbsent("main/locks/backup.json", bytes: first)
            await #expect(throws: StorageError.alreadyExists(key: "main/locks/backup.json", store: inner.location)) {
                try await store.putIfAbsent("main/locks/backup.json", bytes: second)
            }
            #expect(try await store.get("main/locks/backup.json") == first)
            // Stored encrypted: the inner store does not hold the plaintext.
            #expect(try await inner.get("main/locks/backup.json") != first)
        }
    }

    /// The first attempt's PUT lands, its answer is cut short; the retry finds the key taken (412)
    /// by this very put, which reads the object back, finds its own bytes, and succeeds.
    @Test func aRetriedCreateWhoseFirstAttemptLandedSucceeds() async throws {
        let moto = try await MotoServer.shared()
        let proxy = try FaultProxy(upstreamPort: moto.port, plan: .init(scripted: [.truncateResponse]))
        defer { proxy.stop() }
        let store = try await S3TestStore.make(endpoint: proxy.endpoint)
        let bytes = randomBytes(3000)
        try await store.putIfAbsent("lock", bytes: bytes)
        #expect(proxy.injectedFaults == [.truncateResponse])
        #expect(try await store.get("lock") == bytes)
        await #expect(throws: StorageError.alreadyExists(key: "lock", store: store.location)) {
            try await store.putIfAbsent("lock", bytes: bytes)
        }
    }

    /// A retried create that finds someone else's object is refused: the read-back tells them apart.
    @Test func aRetriedCreateThatFindsAForeignObjectIsRefused() async throws {
        let moto = try await MotoServer.shared()
        let proxy = try FaultProxy(upstreamPort: moto.port)
        defer { proxy.stop() }
        let store = try await S3TestStore.make(endpoint: proxy.endpoint)
        let theirs = randomBytes(3000)
        try await store.put("lock", bytes: theirs)
        // Our first attempt never reaches the server (dropped); the retry gets 412.
        proxy.setPlan(.init(scripted: [.drop]))
        await #expect(throws: StorageError.alreadyExists(key: "lock", store: store.location)) {
            try await store.putIfAbsent("lock", bytes: randomBytes(3000))
        }
        #expect(proxy.injectedFaults == [.drop])
        #expect(try await store.get("lock") == theirs)
    }

    /// S3's 409 ConditionalRequestConflict (a simultaneous conditional write won) is a taken key;
    /// any other 409 is an ordinary failure, not mistaken for one.
    @Test func aConditionalConflictIsATakenKeyAndOther409sAreFailures() async throws {
        let moto = try await MotoServer.shared()
        let proxy = try FaultProxy(upstreamPort: moto.port, plan: .init(scripted: [
            .status(409, code: "ConditionalRequestConflict"), .status(409, code: "OperationAborted")]))
        defer { proxy.stop() }
        let store = try await S3TestStore.make(endpoint: proxy.endpoint)
        await #expect(throws: StorageError.alreadyExists(key: "lock", store: store.location)) {
            try await store.putIfAbsent("lock", bytes: randomBytes(100))
        }
        let error = await #expect(throws: StorageError.self) { try await store.putIfAbsent("lock", bytes: randomBytes(100)) }
        #expect(error?.description.contains("OperationAborted") == true)
        #expect(error != .alreadyExists(key: "lock", store: store.location))
        #expect(try await !store.exists("lock"))
    }
}
