import Foundation
import Synchronization
import Testing
@testable import PGBackupStorage

/// A source that counts its fetches and hands out credentials that last `lifetime`, numbered.
private final class CountingProvider: S3CredentialProvider {
    let lifetime: TimeInterval
    let failing = Atomic<Bool>(false)
    let fetches = Atomic<Int>(0)
    let clock: @Sendable () -> Date
    var source: S3CredentialSource { .container }
    var detail: String { "a counting test source" }

    init(lifetime: TimeInterval, clock: @escaping @Sendable () -> Date) {
        self.lifetime = lifetime
        self.clock = clock
    }

    func fetch() async throws(S3CredentialError) -> S3Credentials {
        let number = fetches.add(1, ordering: .relaxed).newValue
        try? await Task.sleep(for: .milliseconds(20))  // long enough for callers to pile up
        if failing.load(ordering: .relaxed) { throw .unreachable(source: .container, endpoint: "test", reason: "down") }
        return S3Credentials(accessKeyID: "ASIA\(number)", secretAccessKey: "secret-\(number)", sessionToken: "token-\(number)",
                             expiration: clock().addingTimeInterval(lifetime))
    }
}

/// A settable clock.
private final class TestClock: Sendable {
    private let seconds = Mutex<TimeInterval>(1_800_000_000)
    var now: Date { Date(timeIntervalSince1970: seconds.withLock { $0 }) }
    func advance(_ interval: TimeInterval) { seconds.withLock { $0 += interval } }
}

@Suite("S3 credentials: cache, chain, files")
struct S3CredentialTests {
    @Test func concurrentRequestsShareOneFetchAndRefreshAheadOfExpiry() async throws {
        let clock = TestClock()
        let provider = CountingProvider(lifetime: 3600, clock: { clock.now })
        let cache = S3CredentialCache(provider: provider, now: { clock.now })
        let keys = try await withThrowingTaskGroup(of: String.self) { group in
            for _ in 0..<50 { group.addTask { try await cache.current().accessKeyID } }
            return try await group.reduce(into: Set<String>()) { $0.insert($1) }
        }
        #expect(keys == ["ASIA1"] && provider.fetches.load(ordering: .relaxed) == 1)
        // 3600 s credentials: refreshed when less than 300 s are left, not before.
        clock.advance(3600 - 301)
        #expect(try await cache.current().accessKeyID == "ASIA1")
        clock.advance(2)
        let refreshed = try await withThrowingTaskGroup(of: String.self) { group in
            for _ in 0..<50 { group.addTask { try await cache.current().accessKeyID } }
            return try await group.reduce(into: Set<String>()) { $0.insert($1) }
        }
        #expect(refreshed == ["ASIA2"] && provider.fetches.load(ordering: .relaxed) == 2)
        #expect(cache.status.refreshes == 2 && cache.status.source == .container)
    }

    @Test func shortLivedCredentialsAreRefreshedAtThreeQuartersOfTheirLife() async throws {
        let clock = TestClock()
        let provider = CountingProvider(lifetime: 8, clock: { clock.now })
        let cache = S3CredentialCache(provider: provider, now: { clock.now })
        #expect(try await cache.current().accessKeyID == "ASIA1")
        clock.advance(5.9)
        #expect(try await cache.current().accessKeyID == "ASIA1")
        clock.advance(0.2)
        #expect(try await cache.current().accessKeyID == "ASIA2")
    }

    @Test func aFailedRefreshKeepsValidCredentialsAndFailsOnceTheyExpire() async throws {
        let clock = TestClock()
        let provider = CountingProvider(lifetime: 100, clock: { clock.now })
        let cache = S3CredentialCache(provider: provider, now: { clock.now })
        _ = try await cache.current()
        provider.failing.store(true, ordering: .relaxed)
        clock.advance(90)
        #expect(try await cache.current().accessKeyID == "ASIA1")
        #expect(cache.status.lastError?.contains("down") == true)
        clock.advance(11)
        await #expect(throws: S3CredentialError.self) { _ = try await cache.current() }
        provider.failing.store(false, ordering: .relaxed)
        #expect(try await cache.current().accessKeyID.hasPrefix("ASIA"))
    }

    @Test func aRejectionRefreshesOnceAndFixedKeysAreNotRetried() async throws {
        let clock = TestClock()
        let provider = CountingProvider(lifetime: 3600, clock: { clock.now })
        let cache = S3CredentialCache(provider: provider, now: { clock.now })
        let first = try await cache.current()
        let fresh = try await cache.refreshAfterRejection(of: first)
        #expect(fresh?.accessKeyID == "ASIA2")
        // A second request that was signed with the same old credentials gets the new ones, no third fetch.
        #expect(try await cache.refreshAfterRejection(of: first)?.accessKeyID == "ASIA2")
        #expect(provider.fetches.load(ordering: .relaxed) == 2)
        let fixed = S3CredentialCache.fixed(S3Credentials(accessKeyID: "AKIA", secretAccessKey: "s"))
        #expect(try await fixed.refreshAfterRejection(of: fixed.current()) == nil)
    }

    @Test func sharedFilesParseAsTheSDKsReadThem() {
        let config = SharedConfigFiles.parse("""
            # comment
            [default]
            region = eu-west-1
            [profile prod]
            role_arn = arn:aws:iam::123456789012:role/backup ; the role
            source_profile = base
            s3 =
              max_concurrent_requests = 20
            [sso-session corp]
            sso_region = us-east-1
            """, isConfig: true)
        #expect(config["default"]?["region"] == "eu-west-1")
        #expect(config["prod"]?["role_arn"] == "arn:aws:iam::123456789012:role/backup")
        #expect(config["prod"]?["source_profile"] == "base")
        #expect(config["prod"]?["max_concurrent_requests"] == nil)
        #expect(config["corp"] == nil && config["sso-session corp"] == nil)
        let credentials = SharedConfigFiles.parse("[base]\naws_access_key_id=AKIABASE\naws_secret_access_key = s3cr3t\n[profile x]\na=b\n", isConfig: false)
        #expect(credentials["base"]?["aws_access_key_id"] == "AKIABASE" && credentials["base"]?["aws_secret_access_key"] == "s3cr3t")
        #expect(credentials["profile x"] != nil)  // the credentials file has no `profile ` prefix
    }

    @Test func profilesGiveStaticKeysAndCredentialProcessOutputAndRefuseLoops() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("pgbackup-profiles-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try """
            [static]
            aws_access_key_id = AKIASTATIC
            aws_secret_access_key = static-secret
            """.write(toFile: directory + "/credentials", atomically: true, encoding: .utf8)
        try """
            [profile process]
            credential_process = printf '{"Version": 1, "AccessKeyId": "ASIAPROC", "SecretAccessKey": "proc-secret", "SessionToken": "tok", "Expiration": "2030-01-02T03:04:05Z"}'
            [profile failing]
            credential_process = sh -c 'echo "no session: run aws sso login" >&2; exit 3'
            [profile a]
            role_arn = arn:aws:iam::1:role/a
            source_profile = b
            [profile b]
            role_arn = arn:aws:iam::1:role/b
            source_profile = a
            """.write(toFile: directory + "/config", atomically: true, encoding: .utf8)
        var settings = S3CredentialSettings()
        settings.source = .profile
        settings.sharedCredentialsFile = directory + "/credentials"
        settings.configFile = directory + "/config"
        settings.metadataDisabled = true

        settings.profile = "static"
        #expect(try await S3CredentialChain.provider(for: settings).fetch() == S3Credentials(accessKeyID: "AKIASTATIC", secretAccessKey: "static-secret"))
        settings.profile = "process"
        let processed = try await S3CredentialChain.provider(for: settings).fetch()
        #expect(processed.accessKeyID == "ASIAPROC" && processed.sessionToken == "tok")
        #expect(processed.expiration == Date(timeIntervalSince1970: 1_893_553_445))
        settings.profile = "failing"
        let failure = await #expect(throws: S3CredentialError.self) { _ = try await S3CredentialChain.provider(for: settings).fetch() }
        #expect("\(failure!)".contains("exit status 3") && "\(failure!)".contains("aws sso login"), "\(failure!)")
        settings.profile = "a"
        let loop = await #expect(throws: S3CredentialError.self) { _ = try await S3CredentialChain.provider(for: settings).fetch() }
        #expect("\(loop!)".contains("loop"), "\(loop!)")
        settings.profile = "missing"
        #expect(throws: S3CredentialError.self) { _ = try S3CredentialChain.provider(for: settings) }
        // `auto` picks the profile only after the environment and web identity.
        settings.source = .auto
        settings.profile = "static"
        #expect(try S3CredentialChain.provider(for: settings).source == .profile)
        settings.staticKeys = S3Credentials(accessKeyID: "AKIAENV", secretAccessKey: "env")
        #expect(try S3CredentialChain.provider(for: settings).source == .env)
        settings.staticKeys = nil
        settings.roleARN = "arn:aws:iam::1:role/web"
        settings.webIdentityTokenFile = directory + "/token"
        #expect(try S3CredentialChain.provider(for: settings).source == .webIdentity)
    }

    @Test func pinnedSourcesSayWhatTheyNeed() {
        for source in [S3CredentialSource.env, .webIdentity, .container] {
            var settings = S3CredentialSettings()
            settings.source = source
            #expect { _ = try S3CredentialChain.provider(for: settings) } throws: { error in
                (error as? S3CredentialError)?.source == source && "\(error)".contains("AWS_")
            }
        }
        var settings = S3CredentialSettings()
        settings.source = .container
        settings.containerCredentialsURI = "http://203.0.113.7/creds"
        #expect(throws: S3CredentialError.self) { _ = try S3CredentialChain.provider(for: settings) }
    }

    /// `auto` that ends at IMDS because nothing is configured says so when IMDS fails (off EC2
    /// that is the cause); an endpoint named on purpose is that source's own failure.
    @Test func theChainsLastResortSaysNothingElseIsConfigured() async throws {
        var settings = S3CredentialSettings()
        settings.sharedCredentialsFile = "/nonexistent/credentials"
        settings.configFile = "/nonexistent/config"
        let unnamed = try #require(try S3CredentialChain.provider(for: settings) as? InstanceMetadataCredentialProvider)
        #expect(unnamed.isLastResort && unnamed.detail.contains("no other is configured"))
        settings.metadataEndpoint = "http://127.0.0.1:1"
        let named = try #require(try S3CredentialChain.provider(for: settings) as? InstanceMetadataCredentialProvider)
        #expect(!named.isLastResort)
        let failure = await #expect(throws: S3CredentialError.self) { _ = try await named.fetch() }
        #expect(failure?.source == .instance && "\(failure!)".contains("unable to reach http://127.0.0.1:1"), "\(failure!)")
        var lastResort = named
        lastResort.isLastResort = true
        let explained = await #expect(throws: S3CredentialError.self) { _ = try await lastResort.fetch() }
        #expect(explained?.source == .auto && "\(explained!)".contains("AWS_ROLE_ARN"), "\(explained!)")
    }

    @Test func containerEndpointsMustBeLocalOrHTTPS() {
        #expect(ContainerCredentialProvider.isAllowed("http://169.254.170.2/v2/credentials/abc"))
        #expect(ContainerCredentialProvider.isAllowed("http://169.254.170.23/v1/credentials"))
        #expect(ContainerCredentialProvider.isAllowed("http://127.0.0.1:8080/creds"))
        #expect(ContainerCredentialProvider.isAllowed("http://[fd00:ec2::23]/v1/credentials"))
        #expect(ContainerCredentialProvider.isAllowed("https://creds.example.com/x"))
        #expect(!ContainerCredentialProvider.isAllowed("http://creds.example.com/x"))
        #expect(!ContainerCredentialProvider.isAllowed("http://169.254.170.2.evil.example/x"))
    }

    @Test func credentialTimesParseWithZonesAndFractions() {
        #expect(CredentialDates.parse("2026-12-07T22:00:00Z") == Date(timeIntervalSince1970: 1_796_680_800))
        #expect(CredentialDates.parse("2026-12-07T23:00:00+01:00") == Date(timeIntervalSince1970: 1_796_680_800))
        #expect(CredentialDates.parse("2026-12-07T22:00:00.500Z") == Date(timeIntervalSince1970: 1_796_680_800.5))
        #expect(CredentialDates.parse("tomorrow") == nil)
    }

    @Test func serverSideEncryptionIsRecognisedInAnswers() {
        let kms = S3ServerSideEncryption.kms(keyID: "1234abcd-12ab-34cd-56ef-1234567890ab")
        let arn = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
        #expect(kms.isShown(by: ["x-amz-server-side-encryption": "aws:kms", "x-amz-server-side-encryption-aws-kms-key-id": arn]))
        #expect(!kms.isShown(by: ["x-amz-server-side-encryption": "aws:kms", "x-amz-server-side-encryption-aws-kms-key-id": arn.replacingOccurrences(of: "1234abcd", with: "99999999")]))
        #expect(!kms.isShown(by: ["x-amz-server-side-encryption": "AES256"]))
        #expect(S3ServerSideEncryption.aes256.isShown(by: ["x-amz-server-side-encryption": "AES256"]))
        #expect(!S3ServerSideEncryption.aes256.isShown(by: [:]))
        #expect(kms.requestHeaders.map(\.name) == ["x-amz-server-side-encryption", "x-amz-server-side-encryption-aws-kms-key-id"])
    }
}
