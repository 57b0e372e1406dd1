import Foundation
import PGBackupTestSupport
@testable import PGBackupStorage

/// S3 stores on the shared moto server (or a fault proxy in front of it), each under its own
/// prefix so that tests running in parallel never see each other's objects.
enum S3TestStore {
    /// A store on `server` (default: the shared one) under a fresh prefix, with small parts and
    /// read chunks so that multipart and ranged reads happen at test sizes, and short retry waits.
    static func make(
        server: MotoServer? = nil,
        endpoint: String? = nil,
        bucket: String? = nil,
        secret: String? = nil,
        prefix: String = "t-\(UUID().uuidString.prefix(8))/repo",
        adjust: (inout S3Configuration) -> Void = { _ in }
    ) async throws -> S3ObjectStore {
        let moto = if let server { server } else { try await MotoServer.shared() }
        var configuration = S3Configuration(
            bucket: bucket ?? moto.bucket, prefix: prefix, endpoint: endpoint ?? moto.endpoint, region: moto.region,
            pathStyle: true,
            credentials: .fixed(S3Credentials(accessKeyID: moto.accessKeyID, secretAccessKey: secret ?? moto.secretAccessKey)),
            partSize: S3Configuration.minimumPartSize, partUploadConcurrency: 3, maxConcurrentRequests: 8,
            readChunkSize: 1 << 20, connectTimeout: .seconds(5), stallTimeout: .seconds(30),
            retryPolicy: S3RetryPolicy(maxAttempts: 6, initialDelay: .milliseconds(20), maximumDelay: .milliseconds(200)))
        adjust(&configuration)
        return try S3ObjectStore(configuration: configuration)
    }
}
