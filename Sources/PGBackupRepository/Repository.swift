import PGBackupFoundations
import PGBackupStorage

/// One server's part of a repository: its catalog over an `ObjectStore`.
///
/// Open it with `Repository.open` (or create it with `Repository.initialize(store:…)`), which
/// reads `repository.json` and decides, failing closed, whether the repository is plaintext or
/// encrypted (DESIGN.md, "Encryption"). `init(store:server:)` is a plaintext view of a store.
public struct Repository: Sendable {
    /// Where objects are read and written: for an encrypted repository, an `EncryptedObjectStore`
    /// over the raw store (everything but `repository.json` is encrypted).
    public let store: any ObjectStore
    public let layout: RepositoryLayout
    /// How chunks are named: keyed for an encrypted repository.
    public let chunkNaming: ChunkNaming
    /// The id of the key file's key that opened the repository; nil: plaintext.
    public let keyID: String?

    /// A plaintext repository over `store`: the server's first history.
    public init(store: any ObjectStore, server: String) {
        self.init(store: store, layout: RepositoryLayout(server: server))
    }

    /// A plaintext view of the history `layout` names.
    public init(store: any ObjectStore, layout: RepositoryLayout) {
        self.store = store
        self.layout = layout
        self.chunkNaming = .contentDigest
        self.keyID = nil
    }

    /// An encrypted repository over the raw store `raw`, with its (unwrapped) data key.
    init(encryptedOver raw: any ObjectStore, layout: RepositoryLayout, dataKey: EncryptionKey, keyID: String) {
        self.store = EncryptedObjectStore(wrapping: raw, dataKey: dataKey, plaintextKeys: [layout.info])
        self.layout = layout
        self.chunkNaming = .keyed(dataKey.derived(Self.chunkNameKeyPurpose))
        self.keyID = keyID
    }

    /// The HKDF purpose of the chunk-name key derived from the data key.
    public static let chunkNameKeyPurpose = "pgbackup chunk names v1"

    /// `none` or `aes-256-gcm`: what the repository's objects (and backups) are stored as.
    public var encryption: String { keyID == nil ? "none" : WrappedDataKey.algorithm }

    /// What `initialize` found or did.
    public enum Initialization: Sendable, Equatable {
        case created(RepositoryInfo)
        case alreadyInitialized(RepositoryInfo)
    }

    /// Creates `repository.json` for the server, or confirms the existing one belongs to the same
    /// cluster. Idempotent; refuses another cluster's repository.
    public func initialize(_ info: RepositoryInfo) async throws -> Initialization {
        if let existing = try await infoIfPresent() {
            try existing.check(belongsTo: info.systemIdentifier, walSegmentSize: info.walSegmentSize, location: store.location, versionNumber: info.postgresVersionNumber)
            return .alreadyInitialized(existing)
        }
        try await store.put(layout.info, bytes: try RepositoryJSON.encode(info))
        return .created(info)
    }

    /// The server's `repository.json`; `RepositoryError.notInitialized` when there is none.
    public func info() async throws -> RepositoryInfo {
        guard let info = try await infoIfPresent() else {
            throw RepositoryError.notInitialized(server: layout.server, location: store.location)
        }
        return info
    }

    func infoIfPresent() async throws -> RepositoryInfo? {
        let bytes: [UInt8]
        do {
            bytes = try await store.get(layout.info, limit: 1 << 20)
        } catch StorageError.notFound {
            return nil
        }
        struct Version: Decodable { var formatVersion: Int }
        let version: Version
        let info: RepositoryInfo
        do {
            version = try RepositoryJSON.decode(Version.self, from: bytes)
        } catch {
            throw RepositoryError.corrupt(key: layout.info, location: store.location, reason: "not a repository.json document (\(error))")
        }
        guard version.formatVersion <= RepositoryInfo.currentFormatVersion else {
            throw RepositoryError.unsupportedFormat(key: layout.info, version: version.formatVersion)
        }
        do {
            info = try RepositoryJSON.decode(RepositoryInfo.self, from: bytes)
        } catch {
            throw RepositoryError.corrupt(key: layout.info, location: store.location, reason: "\(error)")
        }
        return info
    }
}
