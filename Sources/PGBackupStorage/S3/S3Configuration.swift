/// Everything the `s3://` driver needs to reach one bucket: where, as whom, and how hard to try.
public struct S3Configuration: Sendable {
    /// The bucket; `s3://bucket/prefix`.
    public var bucket: String
    /// Key prefix inside the bucket, without leading or trailing `/`; empty for the whole bucket.
    public var prefix: String
    /// `https://s3.eu-west-1.amazonaws.com`, `http://127.0.0.1:9000`, …; nil means AWS for `region`.
    public var endpoint: String?
    /// The signing region (`us-east-1` for most S3-compatible servers).
    public var region: String
    /// Path-style addressing (`endpoint/bucket/key`), which MinIO, Ceph and moto need; otherwise
    /// virtual-hosted style (`bucket.endpoint/key`), which AWS prefers.
    public var pathStyle: Bool
    /// The credentials requests are signed with: fixed keys, or a source that refreshes them
    /// (`S3CredentialCaches` shares one per process).
    public var credentials: S3CredentialCache
    /// Server-side encryption asked of S3 on every PUT and multipart upload; nil: the bucket's
    /// default.
    public var serverSideEncryption: S3ServerSideEncryption?
    /// A CA bundle (PEM) that verifies a private endpoint's certificate. TLS verification itself is
    /// always on.
    public var caFile: String?

    /// Objects up to this size go up in one PUT; larger ones in multipart uploads of parts this
    /// big. S3 requires at least 5 MiB per part (except the last), and at most 10,000 parts.
    public var partSize: Int
    /// Parts of one object uploaded at the same time. A writer holds at most
    /// `(partUploadConcurrency + 1) × partSize` bytes.
    public var partUploadConcurrency: Int
    /// Requests in flight at once across the whole store (and reusable connections kept open).
    public var maxConcurrentRequests: Int
    /// Keys per ListObjectsV2 page (S3's maximum and default is 1000).
    public var listPageSize: Int
    /// Keys per DeleteObjects request (S3's maximum is 1000).
    public var deleteBatchSize: Int
    /// Bytes fetched per ranged GET while streaming an object; a reader holds at most two of them.
    public var readChunkSize: Int
    /// How long to wait for a TCP (and TLS) connection.
    public var connectTimeout: Duration
    /// A transfer that moves no byte for this long is abandoned (and retried): a stalled server.
    /// Whole seconds; at least one.
    public var stallTimeout: Duration
    public var retryPolicy: S3RetryPolicy

    /// The smallest part S3 accepts (except the last part of an upload).
    public static let minimumPartSize = 5 << 20

    public init(
        bucket: String,
        prefix: String = "",
        endpoint: String? = nil,
        region: String = "us-east-1",
        pathStyle: Bool = false,
        credentials: S3CredentialCache,
        serverSideEncryption: S3ServerSideEncryption? = nil,
        caFile: String? = nil,
        partSize: Int = 8 << 20,
        partUploadConcurrency: Int = 4,
        maxConcurrentRequests: Int = 16,
        listPageSize: Int = 1000,
        deleteBatchSize: Int = 1000,
        readChunkSize: Int = 8 << 20,
        connectTimeout: Duration = .seconds(10),
        stallTimeout: Duration = .seconds(60),
        retryPolicy: S3RetryPolicy = .init()
    ) {
        self.bucket = bucket
        var prefix = prefix
        while prefix.hasPrefix("/") { prefix.removeFirst() }
        while prefix.hasSuffix("/") { prefix.removeLast() }
        self.prefix = prefix
        self.endpoint = endpoint
        self.region = region
        self.pathStyle = pathStyle
        self.credentials = credentials
        self.serverSideEncryption = serverSideEncryption
        self.caFile = caFile
        self.partSize = partSize
        self.partUploadConcurrency = partUploadConcurrency
        self.maxConcurrentRequests = maxConcurrentRequests
        self.listPageSize = listPageSize
        self.deleteBatchSize = deleteBatchSize
        self.readChunkSize = readChunkSize
        self.connectTimeout = connectTimeout
        self.stallTimeout = stallTimeout
        self.retryPolicy = retryPolicy
    }

    /// The endpoint as requests use it: the configured one without a trailing `/`, or AWS's
    /// regional endpoint.
    public var effectiveEndpoint: String {
        guard var endpoint, !endpoint.isEmpty else { return "https://s3.\(region).amazonaws.com" }
        while endpoint.hasSuffix("/") { endpoint.removeLast() }
        return endpoint
    }

    /// `s3://bucket/prefix`, the store's location.
    public var location: String { prefix.isEmpty ? "s3://\(bucket)" : "s3://\(bucket)/\(prefix)" }

    /// Checks the values a typo could break, before any request; the error names the setting.
    func validate() throws(StorageError) {
        func refuse(_ reason: String) -> StorageError { .unusableStore(store: location, reason: reason) }
        let endpoint = effectiveEndpoint
        let authority = endpoint.hasPrefix("https://") ? endpoint.dropFirst(8) : endpoint.hasPrefix("http://") ? endpoint.dropFirst(7) : nil
        guard let authority, !authority.isEmpty else {
            throw refuse("the S3 endpoint '\(endpoint)' must be an http:// or https:// URL (PGBACKUP_S3_ENDPOINT, s3.endpoint)")
        }
        guard !authority.contains("/"), !authority.contains("?"), !authority.contains("@") else {
            throw refuse("the S3 endpoint '\(endpoint)' must be scheme://host[:port] only; the bucket and prefix go in the repository URL")
        }
        if let fixed = credentials.fixedCredentials, fixed.accessKeyID.isEmpty || fixed.secretAccessKey.isEmpty {
            throw refuse("no S3 credentials (HINT: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or s3.access_key_id and s3.secret_access_key in the configuration file)")
        }
        if case let .kms(keyID?) = serverSideEncryption, keyID.isEmpty || keyID.contains(where: \.isWhitespace) {
            throw refuse("'\(keyID)' is not a KMS key id, ARN or alias (PGBACKUP_S3_SSE_KMS_KEY_ID, s3.sse_kms_key_id)")
        }
        guard !region.isEmpty, region.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" }) else {
            throw refuse("'\(region)' is not a valid S3 region (PGBACKUP_S3_REGION, s3.region)")
        }
        guard partSize >= 1, partUploadConcurrency >= 1, maxConcurrentRequests >= 1, readChunkSize >= 1,
              (1...1000).contains(listPageSize), (1...1000).contains(deleteBatchSize)
        else { throw refuse("invalid S3 transfer settings (part size, concurrency, page or batch size)") }
    }
}
