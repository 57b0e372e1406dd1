import PGBackupStorage

/// One server's part of a repository: its catalog over an `ObjectStore`.
public struct Repository: Sendable {
    public let store: any ObjectStore
    public let layout: RepositoryLayout

    public init(store: any ObjectStore, server: String) {
        self.store = store
        self.layout = RepositoryLayout(server: server)
    }

    /// What `initialize` found or did.
    public enum Initialization: Sendable, Equatable {
        case created(RepositoryInfo)
        case alreadyInitialized(RepositoryInfo)
    }

    /// Creates `repository.json` for the server, or confirms the existing one belongs to the same
    /// cluster. Idempotent; refuses another cluster's repository.
    public func initialize(_ info: RepositoryInfo) async throws -> Initialization {
        if let existing = try await infoIfPresent() {
            try existing.check(belongsTo: UInt64(info.systemIdentifier)!, walSegmentSize: info.walSegmentSize, location: store.location)
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

    private func infoIfPresent() async throws -> RepositoryInfo? {
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
