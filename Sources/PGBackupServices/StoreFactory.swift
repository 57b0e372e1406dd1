import PGBackupStorage

/// Opens the `ObjectStore` that a repository location names.
public enum StoreFactory {
    /// The store for `settings.repository`. With `create`, a missing file:// directory is made
    /// (only `pgbackup init` asks for that; every other command needs an existing repository).
    /// An S3 bucket is never created: it must exist, and the first request says so if it does not.
    public static func open(_ settings: Settings, create: Bool = false) throws -> any ObjectStore {
        switch try settings.requireRepository() {
        case let .file(path):
            return try FileObjectStore(root: path, create: create)
        case let .s3(bucket, prefix):
            return try S3ObjectStore(configuration: s3Configuration(settings, bucket: bucket, prefix: prefix))
        }
    }

    /// The driver's configuration from the settings: endpoint, region, addressing, credentials
    /// (environment or configuration file), CA file.
    static func s3Configuration(_ settings: Settings, bucket: String, prefix: String) throws -> S3Configuration {
        guard let accessKeyID = settings.s3.accessKeyID, let secret = settings.s3.secretAccessKey else {
            throw ConfigurationError.missing(
                setting: "S3 credentials",
                hint: "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary credentials), or s3.access_key_id and s3.secret_access_key in the configuration file")
        }
        return S3Configuration(
            bucket: bucket, prefix: prefix, endpoint: settings.s3.endpoint, region: settings.s3.region,
            pathStyle: settings.s3.pathStyle,
            credentials: S3Credentials(accessKeyID: accessKeyID, secretAccessKey: secret.value, sessionToken: settings.s3.sessionToken?.value),
            caFile: settings.s3.caFile)
    }
}
