import Foundation
import PGBackupFoundations
import PGBackupTestSupport
import Testing
@testable import PGBackupStorage

/// What the conformance suite cannot say about the s3:// driver: multipart, paging, batching,
/// key encoding and the errors operators see. Against the real moto server, signatures checked.
@Suite("s3:// driver")
struct S3ObjectStoreTests {
    /// Reads a whole object through the streaming reader, in pieces.
    func readAll(_ store: any ObjectStore, _ key: String) async throws -> [UInt8] {
        let reader = try await store.reader(for: key)
        var result: [UInt8] = []
        while true {
            let piece = try await reader.read(maxLength: 300_000)
            if piece.isEmpty { break }
            result += piece
        }
        await reader.close()
        return result
    }

    @Test func largeObjectsGoUpInPartsUploadedInParallel() async throws {
        let moto = try await MotoServer.shared()
        let proxy = try FaultProxy(upstreamPort: moto.port)
        defer { proxy.stop() }
        let store = try await S3TestStore.make(endpoint: proxy.endpoint)
        let partSize = store.configuration.partSize
        var generator = SeededGenerator(seed: 6)
        let bytes = generator.bytes(3 * partSize + 123_457)

        let writer = try await store.writer(for: "backups/b1/base.tar")
        for start in stride(from: 0, to: bytes.count, by: 1 << 20) {
            try await writer.write(Array(bytes[start..<min(start + (1 << 20), bytes.count)]))
        }
        let info = try await writer.commit()
        #expect(info.size == Int64(bytes.count))
        // Create, 4 parts, Complete: the parts overlapped.
        #expect(proxy.requestCount == 6)
        #expect(proxy.peakConcurrentRequests >= 2)

        #expect(try await store.head("backups/b1/base.tar").size == Int64(bytes.count))
        let back = try await readAll(store, "backups/b1/base.tar")
        #expect(SHA256Hasher.hash(back) == SHA256Hasher.hash(bytes))
        #expect(try await store.pendingUploads().isEmpty)
    }

    @Test func anAbortedMultipartUploadLeavesNothing() async throws {
        let store = try await S3TestStore.make()
        let writer = try await store.writer(for: "big")
        try await writer.write(randomBytes(2 * store.configuration.partSize + 10))
        #expect(try await store.pendingUploads().count == 1)
        await writer.abort()
        #expect(try await store.exists("big") == false)
        #expect(try await store.list(prefix: "").isEmpty)
        #expect(try await store.pendingUploads().isEmpty)
    }

    @Test func aWriterDroppedUnfinishedAbortsItsUpload() async throws {
        let store = try await S3TestStore.make()
        do {
            let writer = try await store.writer(for: "dropped")
            try await writer.write(randomBytes(store.configuration.partSize + 10))
        }
        let deadline = ContinuousClock.now + .seconds(10)
        while try await !store.pendingUploads().isEmpty, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(try await store.pendingUploads().isEmpty)
        #expect(try await store.exists("dropped") == false)
    }

    @Test func listingsFollowContinuationTokens() async throws {
        let store = try await S3TestStore.make { $0.listPageSize = 7 }
        let keys = (0..<23).map { String(format: "wal/%03d", $0) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for key in keys { group.addTask { try await store.put(key, bytes: Array(key.utf8)) } }
            try await group.waitForAll()
        }
        try await store.put("walrus", bytes: [1])
        let listed = try await store.list(prefix: "wal/")
        #expect(listed.map(\.key) == keys)
        #expect(listed.allSatisfy { $0.size == 7 })
        #expect(listed.allSatisfy { abs($0.modified.timeIntervalSinceNow) < 300 })
    }

    @Test func deletesGoInBatches() async throws {
        let moto = try await MotoServer.shared()
        let proxy = try FaultProxy(upstreamPort: moto.port)
        defer { proxy.stop() }
        let store = try await S3TestStore.make(endpoint: proxy.endpoint) { $0.deleteBatchSize = 10 }
        let keys = (0..<35).map { "chunks/\($0)" }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for key in keys { group.addTask { try await store.put(key, bytes: [1]) } }
            try await group.waitForAll()
        }
        let before = proxy.requestCount
        try await store.delete(keys + ["chunks/missing-1", "chunks/missing-2"])
        #expect(proxy.requestCount - before == 4)  // 37 keys, 10 a batch
        #expect(try await store.list(prefix: "").isEmpty)
    }

    @Test func keysAreEncodedTheWayS3SignsThem() async throws {
        let store = try await S3TestStore.make()
        let keys = ["a b/c+d", "x%20y", "100%", "q?r=s&t", "ünï/cødé", "tilde~dash-under_dot.", "semi;colon,comma'quote\"", "star*(paren)!"]
        for key in keys { try await store.put(key, bytes: Array(key.utf8)) }
        #expect(try await store.list(prefix: "").map(\.key) == keys.sorted())
        for key in keys {
            #expect(try await store.get(key) == Array(key.utf8), "key \(key)")
            #expect(try await store.list(prefix: key).map(\.key) == [key], "prefix \(key)")
        }
        try await store.delete(keys)
        #expect(try await store.list(prefix: "").isEmpty)
    }

    @Test func aWrongSecretFailsClearlyWithoutTheSecret() async throws {
        let moto = try await MotoServer.shared()
        let secret = "WRONG-secret-\(UUID().uuidString)"
        let store = try await S3TestStore.make(secret: secret)
        let failures: [any Error] = await [
            capture { try await store.put("k", bytes: [1]) },
            capture { _ = try await store.head("k") },
            capture { _ = try await store.list(prefix: "") },
            capture { _ = try await store.reader(for: "k") },
        ]
        for error in failures {
            let text = "\(error)"
            guard case .unusableStore? = error as? StorageError else {
                Issue.record("expected StorageError.unusableStore, got \(text)")
                continue
            }
            #expect(text.contains("SignatureDoesNotMatch"), "\(text)")
            #expect(text.contains(moto.endpoint), "\(text)")
            #expect(text.contains("s3://\(moto.bucket)/"), "\(text)")
            #expect(text.contains("AWS_SECRET_ACCESS_KEY"), "\(text)")
            #expect(!text.contains(secret), "\(text)")
            #expect(!text.contains("WRONG-secret"), "\(text)")
        }
        #expect("\(store.configuration.credentials)".contains(secret) == false)
    }

    @Test func anUnknownAccessKeyFailsClearly() async throws {
        let moto = try await MotoServer.shared()
        let store = try await S3TestStore.make {
            $0.credentials = .fixed(S3Credentials(accessKeyID: "AKIANOSUCHKEY0000000", secretAccessKey: $0.credentials.fixedCredentials!.secretAccessKey))
        }
        let error = await capture { try await store.put("k", bytes: [1]) }
        #expect("\(error)".contains("InvalidAccessKeyId"), "\(error)")
        #expect("\(error)".contains(moto.endpoint), "\(error)")
        #expect(!"\(error)".contains(moto.secretAccessKey), "\(error)")
    }

    @Test func aMissingBucketIsNamedWithTheEndpoint() async throws {
        let moto = try await MotoServer.shared()
        let store = try await S3TestStore.make(bucket: "no-such-bucket-\(UUID().uuidString.prefix(8).lowercased())")
        let failures: [any Error] = await [
            capture { try await store.put("k", bytes: [1]) },
            capture { _ = try await store.head("k") },
            capture { _ = try await store.list(prefix: "") },
            capture { _ = try await store.reader(for: "k") },
            capture { try await store.delete(["k"]) },
        ]
        for error in failures {
            let text = "\(error)"
            guard case .unusableStore? = error as? StorageError else {
                Issue.record("expected StorageError.unusableStore, got \(text)")
                continue
            }
            #expect(text.contains("bucket '\(store.configuration.bucket)' does not exist at \(moto.endpoint)"), "\(text)")
            #expect(text.contains("HINT"), "\(text)")
        }
    }

    @Test func anUnreachableEndpointFailsClearly() async throws {
        let port = try freeTCPPort()  // nothing listens there
        let store = try await S3TestStore.make(endpoint: "http://127.0.0.1:\(port)") {
            $0.retryPolicy = S3RetryPolicy(maxAttempts: 3, initialDelay: .milliseconds(10), maximumDelay: .milliseconds(20))
        }
        let error = await capture { try await store.put("wal/seg", bytes: [1]) }
        let text = "\(error)"
        #expect(text.hasPrefix("unable to write 'wal/seg' in s3://"), "\(text)")
        #expect(text.contains("unable to reach http://127.0.0.1:\(port)"), "\(text)")
        #expect(text.contains("after 3 attempts"), "\(text)")
        #expect(text.contains("HINT: check PGBACKUP_S3_ENDPOINT"), "\(text)")
    }

    @Test func badSettingsAreRefusedBeforeAnyRequest() {
        func configuration(_ adjust: (inout S3Configuration) -> Void) -> S3Configuration {
            var configuration = S3Configuration(bucket: "b", credentials: .fixed(S3Credentials(accessKeyID: "AK", secretAccessKey: "sekrit")))
            adjust(&configuration)
            return configuration
        }
        for bad in [configuration { $0.endpoint = "127.0.0.1:9000" }, configuration { $0.endpoint = "http://host/path" },
                    configuration { $0.credentials = .fixed(S3Credentials(accessKeyID: "AK", secretAccessKey: "")) }, configuration { $0.region = "us east" }] {
            #expect(throws: StorageError.self) { _ = try S3ObjectStore(configuration: bad) }
        }
        #expect(configuration { _ in }.effectiveEndpoint == "https://s3.us-east-1.amazonaws.com")
        #expect(configuration { $0.endpoint = "http://127.0.0.1:9000/" }.effectiveEndpoint == "http://127.0.0.1:9000")
    }
}

/// The error `body` throws (a test fails if it throws none).
func capture(_ body: () async throws -> Void) async -> any Error {
    do {
        try await body()
    } catch {
        return error
    }
    Issue.record("expected an error")
    return CancellationError()
}
