import PGBackupStorage

/// Opens the `ObjectStore` that a repository location names.
public enum StoreFactory {
    /// The store for `settings.repository`. With `create`, a missing file:// directory is made
    /// (only `pgbackup init` asks for that; every other command needs an existing repository).
    public static func open(_ settings: Settings, create: Bool = false) throws -> any ObjectStore {
        switch try settings.requireRepository() {
        case let .file(path):
            return try FileObjectStore(root: path, create: create)
        case .s3:
            throw ServiceError.unsupported("s3:// repositories are not available in this build yet; use a file:// repository")
        }
    }
}
