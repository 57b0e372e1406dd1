import Foundation
import PGBackupFoundations
import PGBackupStorage

extension Repository {
    /// Opens the server's repository in the raw `store` with the configured key (nil: none),
    /// deciding from its plaintext `repository.json` (DESIGN.md, "Encryption"):
    /// - plaintext repository, no key: a plaintext `Repository`;
    /// - plaintext repository, a key: `RepositoryError.keyForPlaintextRepository` (never a
    ///   silent plaintext write);
    /// - encrypted repository, no key, another key, or a wrapped key that does not open:
    ///   `.keyRequired`, `.wrongKey`, `.dataKeyUnwrapFailed` (naming key ids, never a key);
    /// - encrypted repository, its key: a `Repository` over an `EncryptedObjectStore` with keyed
    ///   chunk names;
    /// - no `repository.json` yet: with a key, `.notInitializedWithKey`; without, a plaintext
    ///   `Repository` (whose commands then fail as on any uninitialized repository).
    public static func open(store: any ObjectStore, server: String, key: EncryptionKey?) async throws -> Repository {
        try await openReadingInfo(store: store, server: server, key: key).repository
    }

    /// `open`, also returning the `repository.json` it read (nil: none yet), for callers that
    /// need it at once (`wal-push`, `wal-fetch`: one read per call, not two).
    ///
    /// After `init --upgrade`, the repository opened is the newest history's (the current
    /// cluster's, `histories`); `openHistories` opens them all.
    public static func openReadingInfo(
        store: any ObjectStore, server: String, key: EncryptionKey?
    ) async throws -> (repository: Repository, info: RepositoryInfo?) {
        guard let newest = try await histories(store: store, server: server).last else {
            if let key { throw RepositoryError.notInitializedWithKey(server: server, location: store.location, keyID: key.id) }
            return (Repository(store: store, server: server), nil)
        }
        return (try Repository(store: store, layout: newest.layout).opened(newest.info, key: key), newest.info)
    }

    /// Creates the server's repository in `store` (with a key: encrypted, a fresh random data key
    /// wrapped by it, `formatVersion` 2), or confirms an existing one belongs to the cluster and
    /// opens with the key as `open` decides. Returns the opened repository.
    /// `layout`: the history to create (`beginHistory`); nil: the server's first.
    public static func initialize(
        store: any ObjectStore, info: RepositoryInfo, key: EncryptionKey?, layout: RepositoryLayout? = nil
    ) async throws -> (repository: Repository, outcome: Initialization) {
        // An existing repository is checked against its newest history (after `init --upgrade`,
        // the upgraded cluster's).
        let newest = layout == nil ? try await histories(store: store, server: info.server).last : nil
        let plain = Repository(store: store, layout: layout ?? newest?.layout ?? RepositoryLayout(server: info.server))
        var found = newest?.info
        if found == nil { found = try await plain.infoIfPresent() }
        if let existing = found {
            try existing.check(belongsTo: info.systemIdentifier, walSegmentSize: info.walSegmentSize, location: store.location, versionNumber: info.postgresVersionNumber)
            return (try plain.opened(existing, key: key), .alreadyInitialized(existing))
        }
        // Created only if absent: of concurrent inits exactly one writes, and the others decide
        // on what it wrote as on any existing repository (a data key nobody stored would make
        // everything written with it unreadable).
        do {
            guard let key else {
                try await store.putIfAbsent(plain.layout.info, bytes: try RepositoryJSON.encode(info))
                return (plain, .created(info))
            }
            let dataKey = EncryptionKey.random()
            let encrypted = info.withEncryptionKey(WrappedDataKey(
                dataKey: dataKey, wrappedBy: key, server: info.server, systemIdentifier: info.systemIdentifier))
            try await store.putIfAbsent(plain.layout.info, bytes: try RepositoryJSON.encode(encrypted))
            return (Repository(encryptedOver: store, layout: plain.layout, dataKey: dataKey, keyID: key.id), .created(encrypted))
        } catch StorageError.alreadyExists {
            return try await initialize(store: store, info: info, key: key, layout: layout)
        }
    }

    /// What `rotateKey` did.
    public struct KeyRotation: Sendable, Codable, Equatable {
        public var oldKeyID: String
        public var newKeyID: String
        /// False when the new key is the current one: nothing was written.
        public var changed: Bool
    }

    /// Rewraps the data key of the encrypted repository in the raw `store` from `current` (which
    /// must open it, as `open` decides) to `new`, rewriting `repository.json` in one atomic put;
    /// afterwards only `new` opens it. Nothing else changes: every object stays readable. The
    /// written document is read back and opened with `new` before this returns.
    /// `current` nil: as `open` decides without a key (`.keyRequired`), or `.notEncrypted`.
    /// Every history of the server (`histories`) is rewrapped, oldest first.
    public static func rotateKey(store: any ObjectStore, server: String, current: EncryptionKey?, new: EncryptionKey) async throws -> KeyRotation {
        let layouts = try await histories(store: store, server: server).map(\.layout)
        var rotation: KeyRotation?
        for layout in layouts.isEmpty ? [RepositoryLayout(server: server)] : layouts {
            rotation = try await rotateKey(store: store, layout: layout, current: current, new: new)
        }
        return rotation!
    }

    private static func rotateKey(store: any ObjectStore, layout: RepositoryLayout, current: EncryptionKey?, new: EncryptionKey) async throws -> KeyRotation {
        let server = layout.server
        let plain = Repository(store: store, layout: layout)
        var info = try await plain.info()
        guard info.isEncrypted else { throw RepositoryError.notEncrypted(server: server, location: store.location) }
        guard let current else { _ = try plain.opened(info, key: nil); throw RepositoryError.notEncrypted(server: server, location: store.location) }
        let dataKey = try plain.dataKey(info, key: current)
        guard new.id != current.id else { return KeyRotation(oldKeyID: current.id, newKeyID: new.id, changed: false) }
        info.encryptionKey = WrappedDataKey(dataKey: dataKey, wrappedBy: new, server: server, systemIdentifier: info.systemIdentifier)
        try await store.put(plain.layout.info, bytes: try RepositoryJSON.encode(info))
        _ = try plain.dataKey(try await plain.info(), key: new)
        return KeyRotation(oldKeyID: current.id, newKeyID: new.id, changed: true)
    }

    /// The repository `info` describes, opened with `key` as `open` decides.
    func opened(_ info: RepositoryInfo, key: EncryptionKey?) throws(RepositoryError) -> Repository {
        guard info.isEncrypted else {
            if let key { throw .keyForPlaintextRepository(server: layout.server, location: store.location, keyID: key.id) }
            guard info.encryptionKey == nil else {
                throw .corrupt(key: layout.info, location: store.location, reason: "it says encryption \"none\" but holds a wrapped data key")
            }
            return self
        }
        guard let key, let wrapped = info.encryptionKey else {
            if info.encryptionKey == nil {
                throw .corrupt(key: layout.info, location: store.location, reason: "it says encryption \"\(info.encryption)\" but holds no wrapped data key")
            }
            throw .keyRequired(server: layout.server, location: store.location, repositoryKeyID: info.encryptionKey!.keyID)
        }
        return Repository(encryptedOver: store, layout: layout, dataKey: try dataKey(info, key: key), keyID: wrapped.keyID)
    }

    /// The data key of the encrypted repository `info` describes, unwrapped with `key`.
    func dataKey(_ info: RepositoryInfo, key: EncryptionKey) throws(RepositoryError) -> EncryptionKey {
        guard info.isEncrypted else {
            throw .keyForPlaintextRepository(server: layout.server, location: store.location, keyID: key.id)
        }
        guard info.encryption == WrappedDataKey.algorithm else {
            throw .unsupportedEncryption(server: layout.server, location: store.location, algorithm: info.encryption)
        }
        guard let wrapped = info.encryptionKey else {
            throw .corrupt(key: layout.info, location: store.location, reason: "it says encryption \"\(info.encryption)\" but holds no wrapped data key")
        }
        guard wrapped.algorithm == WrappedDataKey.algorithm else {
            throw .unsupportedEncryption(server: layout.server, location: store.location, algorithm: wrapped.algorithm)
        }
        guard wrapped.keyID == key.id else {
            throw .wrongKey(server: layout.server, location: store.location, repositoryKeyID: wrapped.keyID, configuredKeyID: key.id)
        }
        do {
            return try wrapped.unwrap(with: key, server: layout.server, systemIdentifier: info.systemIdentifier)
        } catch {
            throw .dataKeyUnwrapFailed(server: layout.server, location: store.location, keyID: key.id)
        }
    }
}
