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
    /// (the process's shared cache of the chosen source), server-side encryption, CA file.
    static func s3Configuration(_ settings: Settings, bucket: String, prefix: String) throws -> S3Configuration {
        S3Configuration(
            bucket: bucket, prefix: prefix, endpoint: settings.s3.endpoint, region: settings.s3.region,
            pathStyle: settings.s3.pathStyle, credentials: try credentials(settings),
            serverSideEncryption: try settings.s3.serverSideEncryption(), caFile: settings.s3.caFile)
    }

    /// The process's credential cache for the settings' source (one per configuration: every
    /// store of the process shares it). Sends no request; a source that is not configured is a
    /// configuration error saying what to set.
    public static func credentials(_ settings: Settings) throws(ConfigurationError) -> S3CredentialCache {
        do {
            return try S3CredentialCaches.cache(for: settings.s3.credentialSettings)
        } catch let error {
            switch error {
            case let .notConfigured(source, reason):
                throw .missing(setting: "S3 credentials (\(source.label))", hint: reason)
            default:
                throw .invalidShape(setting: "S3 credentials", reason: error.description)
            }
        }
    }
}
