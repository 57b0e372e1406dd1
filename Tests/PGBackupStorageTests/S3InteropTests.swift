import Foundation
import PGBackupFoundations
import PGBackupTestSupport
import Testing
@testable import PGBackupStorage

/// The driver's objects are ordinary S3 objects: the `aws` CLI (botocore's own signing) lists and
/// fetches what the driver wrote, and the driver reads what the CLI wrote. Also checks the moto
/// harness itself: signatures are really checked, and `withMotoServer` stops its server.
@Suite("s3:// interoperability")
struct S3InteropTests {
    static let awsCLI: String? = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":")
        .map { "\($0)/aws" }.first { FileManager.default.isExecutableFile(atPath: $0) }

    /// The test needs the CLI: without it, it fails (`scripts/install-deps test` installs it).
    func aws(_ server: MotoServer, _ arguments: [String]) async throws -> ProcessResult {
        let cli = try #require(Self.awsCLI, "the aws CLI is not on PATH: run scripts/install-deps test (pip install awscli)")
        var environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("AWS_") }
        environment.merge(server.clientEnvironment) { _, new in new }
        return try await runProcess(cli, ["--endpoint-url", server.endpoint] + arguments, environment: environment, timeout: .seconds(120))
    }

    @Test func theAWSCLIReadsWhatTheDriverWroteAndBack() async throws {
        let moto = try await MotoServer.shared()
        let store = try await S3TestStore.make()
        let prefix = store.configuration.prefix
        let small = randomBytes(10_000)
        let large = randomBytes(store.configuration.partSize + 777)
        try await store.put("wal/000000010000000000000001.zst", bytes: small)
        try await store.put("backups/a b/base.tar", bytes: large)

        let listing = try await aws(moto, ["s3api", "list-objects-v2", "--bucket", moto.bucket, "--prefix", prefix + "/", "--output", "json"]).checked()
        let json = try JSONSerialization.jsonObject(with: listing.standardOutputData) as? [String: Any]
        let keys = (json?["Contents"] as? [[String: Any]])?.compactMap { $0["Key"] as? String }
        #expect(keys == ["\(prefix)/backups/a b/base.tar", "\(prefix)/wal/000000010000000000000001.zst"])

        let scratch = FileManager.default.temporaryDirectory.path + "/pgbackup-aws-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        try await aws(moto, ["s3", "cp", "s3://\(moto.bucket)/\(prefix)/backups/a b/base.tar", scratch + "/large"]).checked()
        try await aws(moto, ["s3", "cp", "s3://\(moto.bucket)/\(prefix)/wal/000000010000000000000001.zst", scratch + "/small"]).checked()
        #expect(FileManager.default.contents(atPath: scratch + "/large") == Data(large))
        #expect(FileManager.default.contents(atPath: scratch + "/small") == Data(small))

        // And the other way: the CLI writes, the driver reads.
        let fromCLI = randomBytes(3000)
        try Data(fromCLI).write(to: URL(fileURLWithPath: scratch + "/upload"))
        try await aws(moto, ["s3", "cp", scratch + "/upload", "s3://\(moto.bucket)/\(prefix)/from-cli/obj"]).checked()
        #expect(try await store.get("from-cli/obj") == fromCLI)
    }

    @Test func aDedicatedServerChecksSignaturesAndIsStoppedAfterwards() async throws {
        let port = try await withMotoServer(bucket: "dedicated") { server in
            let good = try await S3TestStore.make(server: server)
            try await good.put("x", bytes: [1])
            let bad = try await S3TestStore.make(server: server, secret: "nope")
            let error = await capture { _ = try await bad.get("x") }
            #expect("\(error)".contains("SignatureDoesNotMatch"))
            return server.port
        }
        #expect(!canConnect(port: port))
    }
}
