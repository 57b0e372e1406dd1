import Foundation
import PGBackupFoundations
import PGBackupTestSupport
import Testing
@testable import PGBackupStorage

/// Retries through `FaultProxy` in front of moto: what must be retried is, what must not is not.
@Suite("s3:// retries")
struct S3RetryTests {
    @Test func oneRequestInFiveFailingStillStoresEverythingIntact() async throws {
        let moto = try await MotoServer.shared()
        let proxy = try FaultProxy(
            upstreamPort: moto.port,
            plan: .init(every: 5, rotation: [.drop, .internalError, .slowDown, .truncateResponse, .status(502, code: "BadGateway")]))
        defer { proxy.stop() }
        let store = try await S3TestStore.make(endpoint: proxy.endpoint)
        var generator = SeededGenerator(seed: 5)
        var objects: [String: [UInt8]] = [:]
        for index in 0..<12 { objects["wal/\(index)"] = generator.bytes(1000 + index * 7919) }
        objects["backups/big"] = generator.bytes(2 * store.configuration.partSize + 4321)

        for (key, bytes) in objects.sorted(by: { $0.key < $1.key }) { try await store.put(key, bytes: bytes) }
        #expect(try await store.list(prefix: "").map(\.key) == objects.keys.sorted())
        for (key, bytes) in objects {
            #expect(try await store.head(key).size == Int64(bytes.count))
            #expect(try await store.get(key) == bytes, "\(key)")
        }
        try await store.delete(Array(objects.keys))
        #expect(try await store.list(prefix: "").isEmpty)
        #expect(try await store.pendingUploads().isEmpty)
        #expect(Set(proxy.injectedFaults).count == 5)
        #expect(proxy.injectedFaults.count >= 10)
    }

    // The stall lasts ten minutes, far beyond the test's time limit: a put that returns at all
    // abandoned the stalled request. The time limit is a hang guard, not a speed bound.
    @Test(.timeLimit(.minutes(3))) func aStalledServerIsAbandonedAndRetried() async throws {
        let moto = try await MotoServer.shared()
        // The stall timeout leaves moto, slow on a loaded CI machine (a Python server beside the
        // whole suite), seconds for every real answer.
        let proxy = try FaultProxy(upstreamPort: moto.port, plan: .init(scripted: [.stall(.seconds(600))]))
        defer { proxy.stop() }
        let store = try await S3TestStore.make(endpoint: proxy.endpoint) { $0.stallTimeout = .seconds(5) }
        try await store.put("k", bytes: [1, 2, 3])
        // The stalled request and its retry, which reached moto.
        #expect(proxy.requestCount == 2)
        #expect(proxy.injectedFaults == [.stall(.seconds(600))])
        #expect(try await store.get("k") == [1, 2, 3])
    }

    @Test func aRefusedSecretIsNotRetried() async throws {
        let moto = try await MotoServer.shared()
        let proxy = try FaultProxy(upstreamPort: moto.port)
        defer { proxy.stop() }
        let store = try await S3TestStore.make(endpoint: proxy.endpoint, secret: "not-the-secret")
        let error = await capture { try await store.put("k", bytes: [1]) }
        #expect("\(error)".contains("SignatureDoesNotMatch"))
        #expect(proxy.requestCount == 1)
    }

    @Test func persistentThrottlingGivesUpWithTheServersReason() async throws {
        let moto = try await MotoServer.shared()
        let proxy = try FaultProxy(upstreamPort: moto.port, plan: .init(scripted: Array(repeating: .slowDown, count: 10)))
        defer { proxy.stop() }
        let store = try await S3TestStore.make(endpoint: proxy.endpoint) {
            $0.retryPolicy = S3RetryPolicy(maxAttempts: 3, initialDelay: .milliseconds(10), maximumDelay: .milliseconds(50))
        }
        let error = await capture { try await store.put("wal/x", bytes: [1]) }
        let text = "\(error)"
        #expect(text.hasPrefix("unable to write 'wal/x' in s3://\(moto.bucket)/"), "\(text)")
        #expect(text.contains("HTTP 503 SlowDown"), "\(text)")
        #expect(text.contains("after 3 attempts"), "\(text)")
        #expect(proxy.requestCount == 3)
    }

    @Test func aCompletionWhoseAnswerWasLostIsRecognized() async throws {
        let moto = try await MotoServer.shared()
        // Create, part 1, part 2, then Complete: moto completes it, the answer is cut short.
        let proxy = try FaultProxy(upstreamPort: moto.port, plan: .init(scripted: [nil, nil, nil, .truncateResponse]))
        defer { proxy.stop() }
        let store = try await S3TestStore.make(endpoint: proxy.endpoint) { $0.partUploadConcurrency = 1 }
        let bytes = randomBytes(store.configuration.partSize + 1000)
        try await store.put("obj", bytes: bytes)
        #expect(proxy.injectedFaults == [.truncateResponse])
        #expect(try await store.get("obj", limit: 16 << 20) == bytes)
    }

    @Test func backoffIsCappedAndJittered() {
        let policy = S3RetryPolicy(maxAttempts: 10, initialDelay: .milliseconds(100), maximumDelay: .seconds(1))
        var generator = SeededGenerator(seed: 1)
        for attempt in 1...10 {
            let ceiling = min(Duration.seconds(1), .milliseconds(100) * (1 << (attempt - 1)))
            for _ in 0..<50 {
                let delay = policy.delay(afterAttempt: attempt, using: &generator)
                #expect(delay >= ceiling / 2 && delay <= ceiling)
            }
        }
        #expect(S3RetryPolicy.isRetryable(status: 503, code: "SlowDown"))
        #expect(S3RetryPolicy.isRetryable(status: 400, code: "RequestTimeout"))
        #expect(!S3RetryPolicy.isRetryable(status: 403, code: "SignatureDoesNotMatch"))
        #expect(!S3RetryPolicy.isRetryable(status: 404, code: "NoSuchBucket"))
    }
}
