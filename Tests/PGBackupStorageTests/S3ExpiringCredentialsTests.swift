import Foundation
import Synchronization
import Testing
import PGBackupTestSupport
@testable import PGBackupStorage

/// Credentials from moto's STS that really expire (the test server refuses them with
/// `ExpiredToken` once their time is up), against the real S3 driver.
@Suite("S3 driver: credentials that expire, server-side encryption")
struct S3ExpiringCredentialsTests {
    /// STS `AssumeRole` of `role` with moto's user keys; with `claimedLifetime`, the credentials
    /// claim to last that long whatever STS said (so the cache cannot refresh them in time, and
    /// only S3's `ExpiredToken` tells).
    final class AssumedRole: S3CredentialProvider {
        let sts: STSClient
        let role: String
        let user: S3Credentials
        let claimedLifetime: TimeInterval?
        let fetches = Atomic<Int>(0)
        var source: S3CredentialSource { .profile }
        var detail: String { "role \(role) assumed by the test" }

        init(moto: MotoServer, role: String, claimedLifetime: TimeInterval? = nil) {
            var settings = S3CredentialSettings()
            settings.stsEndpoint = moto.endpoint
            sts = STSClient(settings: settings, source: .profile)
            self.role = role
            user = S3Credentials(accessKeyID: moto.accessKeyID, secretAccessKey: moto.secretAccessKey)
            self.claimedLifetime = claimedLifetime
        }

        func fetch() async throws(S3CredentialError) -> S3Credentials {
            fetches.add(1, ordering: .relaxed)
            var credentials = try await sts.assumeRole(roleARN: role, sessionName: "test", externalID: nil, with: user)
            if let claimedLifetime { credentials.expiration = Date().addingTimeInterval(claimedLifetime) }
            return credentials
        }
    }

    static func store(_ moto: MotoServer, credentials: S3CredentialCache, sse: S3ServerSideEncryption? = nil) throws -> S3ObjectStore {
        try S3ObjectStore(configuration: S3Configuration(
            bucket: moto.bucket, prefix: "expiring-\(UUID().uuidString.prefix(8))", endpoint: moto.endpoint, region: moto.region,
            pathStyle: true, credentials: credentials, serverSideEncryption: sse, partSize: S3Configuration.minimumPartSize,
            retryPolicy: S3RetryPolicy(maxAttempts: 3, initialDelay: .milliseconds(20), maximumDelay: .milliseconds(100))))
    }

    /// Credentials that S3 refuses as expired while the cache thought them valid (they claim an
    /// hour; the test server expires them on demand): the request refreshes them once, is
    /// retried, and succeeds.
    @Test func anExpiredTokenRefreshesAndRetriesOnce() async throws {
        try await withMotoServer { moto in
            let provider = AssumedRole(moto: moto, role: try await moto.createRole(name: "expiring"), claimedLifetime: 3600)
            let store = try Self.store(moto, credentials: S3CredentialCache(provider: provider))
            try await store.put("first", bytes: [1, 2, 3])
            #expect(provider.fetches.load(ordering: .relaxed) == 1)
            try moto.expireIssuedCredentials()
            try await store.put("second", bytes: Array(repeating: 7, count: 6 << 20))  // a multipart upload
            #expect(try await store.get("first") == [1, 2, 3])
            #expect(try await store.get("second").count == 6 << 20)
            #expect(provider.fetches.load(ordering: .relaxed) == 2, "one refresh, after S3 said ExpiredToken")
            // Expired again, and the source cannot help (it hands out expired ones): the error
            // says why, after one retry.
            try moto.expireIssuedCredentials()
            let stale = S3CredentialCache.fixed(try await S3CredentialCache(provider: provider).current())
            try moto.expireIssuedCredentials()
            let refused = await #expect(throws: (any Error).self) { try await Self.store(moto, credentials: stale).put("third", bytes: [3]) }
            #expect("\(refused!)".contains("ExpiredToken"), "\(refused!)")
        }
    }

    /// SSE-KMS with moto's KMS: every object (one PUT, multipart) is stored with the key, and the
    /// probe says so; an unknown key is S3's clear refusal, naming the key.
    @Test func serverSideEncryptionWithAKMSKey() async throws {
        let moto = try await MotoServer.shared()
        let key = try await moto.createKMSKey(alias: "alias/pgbackup-\(UUID().uuidString.prefix(8).lowercased())")
        let credentials = S3CredentialCache.fixed(S3Credentials(accessKeyID: moto.accessKeyID, secretAccessKey: moto.secretAccessKey))
        let store = try Self.store(moto, credentials: credentials, sse: .kms(keyID: key.keyID))
        try await store.put("small", bytes: [1])
        try await store.put("large", bytes: Array(repeating: 3, count: 6 << 20))
        for name in ["small", "large"] {
            let head = try await store.client.sendExpectingSuccess(
                S3HTTPRequest(method: .head, url: store.client.urls.url(key: try store.objectKey(name)), headers: S3ObjectStore.emptyPayload))
            #expect(head.headers["x-amz-server-side-encryption"] == "aws:kms", "\(name): \(head.headers)")
            #expect(head.headers["x-amz-server-side-encryption-aws-kms-key-id"]?.hasSuffix(key.keyID) == true, "\(name): \(head.headers)")
        }
        let probe = try #require(try await store.probeServerSideEncryption())
        #expect(probe.matches, "\(probe.answered)")
        #expect(try await store.list(prefix: ".pgbackup-sse-probe").isEmpty, "the probe is removed")

        let unknown = try Self.store(moto, credentials: credentials, sse: .kms(keyID: "00000000-0000-0000-0000-000000000000"))
        let error = await #expect(throws: (any Error).self) { try await unknown.put("refused", bytes: [1]) }
        #expect("\(error!)".contains("KMS.NotFoundException"), "\(error!)")
        // AES256 (S3's own keys) is stored and recognised too; a probe against an expectation it
        // does not meet says so.
        let aes = try Self.store(moto, credentials: credentials, sse: .aes256)
        #expect(try await aes.probeServerSideEncryption()?.matches == true)
    }
}
