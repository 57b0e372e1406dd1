import PGBackupRepository

/// `pgbackup key rotate`: rewraps the repository's data key under a new key file's key
/// (`Repository.rotateKey`): the configured key must open the repository; afterwards only the
/// new one does. Both key files are checked as any key file is (exit 2).
public struct KeyRotationService: Sendable {
    public let settings: Settings

    public init(settings: Settings) {
        self.settings = settings
    }

    /// What the command prints.
    public struct Result: Sendable, Codable, Equatable {
        public var repository: String
        public var server: String
        public var oldKeyID: String
        public var newKeyID: String
        /// False when the new key is the configured one: nothing was written.
        public var changed: Bool
    }

    public func run(newKeyFile: String) async throws -> Result {
        let new = try EncryptionKeyFile.load(path: newKeyFile, setting: "--new-key-file")
        let current = try settings.encryptionKey()
        let store = try StoreFactory.open(settings)
        let rotation = try await Repository.rotateKey(store: store, server: settings.server, current: current, new: new)
        return Result(
            repository: store.location, server: settings.server, oldKeyID: rotation.oldKeyID, newKeyID: rotation.newKeyID,
            changed: rotation.changed)
    }
}
