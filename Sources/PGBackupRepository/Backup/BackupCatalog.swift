import Foundation
import PGBackupFoundations
import PGBackupStorage

/// The base backups of one server: their manifests (`backup.json`), the per-backup objects under
/// `backups/<id>/`, and the clean-up of backups that never completed (`BackupLayout`).
///
/// Contract (DESIGN.md, invariant 2):
/// - **A backup exists only when complete**: `list`, `manifest` and `summary` see a backup only
///   once its `backup.json` exists, and `commit` writes it last, in one atomic put. Objects
///   under `backups/<id>/` without a `backup.json` are garbage that `cleanupIncomplete` removes.
/// - **Every read is verified**: `backup.json` and the server's `backup_manifest` are sealed
///   objects; a damaged one is a `SealError` naming its key, never a half-read backup.
/// - Chunks are never touched here: they are shared between backups (a mark-and-sweep over all
///   manifests removes the unreferenced ones, later and elsewhere).
/// - Writers (a backup, `cleanupIncomplete`) hold the server's backup lock (`RepositoryLock`).
///
/// Limit: `list` reads and verifies every manifest whole (a manifest lists every chunk, about
/// 120 bytes per 4 MiB of database), though it decodes only their heads (`BackupManifest.Head`):
/// fine for hundreds of backups of terabyte databases.
public struct BackupCatalog: Sendable {
    public let repository: Repository
    public let layout: BackupLayout

    /// The most `backup.json` may hold: 256 MiB of JSON is a database of several petabytes.
    public static let manifestLimit = 256 << 20
    /// The most a server `backup_manifest` may hold (one line per file of the cluster).
    public static let serverManifestLimit = 256 << 20

    public init(repository: Repository) {
        self.repository = repository
        self.layout = BackupLayout(repository: repository.layout)
    }

    var store: any ObjectStore { repository.store }
    var objects: SealedObjects { SealedObjects(store: store) }

    // MARK: reading

    /// The complete backups, oldest first.
    public func list() async throws -> [BackupSummary] {
        var summaries: [BackupSummary] = []
        for id in try await committedIDs() {
            summaries.append(try await summary(id))
        }
        return summaries
    }

    /// The complete backups, oldest first, and apart those whose `backup.json` is there but
    /// cannot be used (`DamagedBackup`): one damaged manifest hides no other backup. Errors of
    /// the store itself still throw.
    public func survey() async throws -> (backups: [BackupSummary], damaged: [DamagedBackup]) {
        var backups: [BackupSummary] = []
        var damaged: [DamagedBackup] = []
        for id in try await committedIDs() {
            do {
                backups.append(try await summary(id))
            } catch BackupCatalogError.notFound {
                continue  // removed since it was listed
            } catch {
                guard let problem = DamagedBackup.problem(in: error) else { throw error }
                damaged.append(DamagedBackup(id: id, key: layout.manifestKey(id), problem: problem))
            }
        }
        return (backups, damaged)
    }

    /// The manifest of a complete backup. `BackupCatalogError.notFound` for an unknown (or
    /// incomplete) id; `SealError` for a damaged `backup.json`.
    public func manifest(_ id: BackupID) async throws -> BackupManifest {
        try await decodeManifest(id, as: BackupManifest.self)
    }

    /// A complete backup's summary: its `backup.json` read and verified whole, but decoded
    /// without the file list (which is almost all of it), so that `list` and `survey` cost what
    /// reading the manifests costs. Errors as `manifest`.
    public func summary(_ id: BackupID) async throws -> BackupSummary {
        BackupSummary(try await decodeManifest(id, as: BackupManifest.Head.self))
    }

    private struct ManifestVersion: Decodable { var formatVersion: Int }

    private func decodeManifest<Document: Decodable & IdentifiedManifest>(_ id: BackupID, as type: Document.Type) async throws -> Document {
        let key = layout.manifestKey(id)
        let bytes: [UInt8]
        do {
            bytes = try await objects.content(key: key, algorithm: .none, limit: Self.manifestLimit)
        } catch StorageError.notFound {
            throw BackupCatalogError.notFound(id: id.description, server: layout.repository.server)
        }
        let manifest: Document
        do {
            let version = try RepositoryJSON.decode(ManifestVersion.self, from: bytes)
            guard version.formatVersion <= BackupManifest.currentFormatVersion else {
                throw RepositoryError.unsupportedFormat(key: key, version: version.formatVersion)
            }
            manifest = try RepositoryJSON.decode(Document.self, from: bytes)
        } catch let error as RepositoryError {
            throw error
        } catch {
            throw RepositoryError.corrupt(key: key, location: store.location, reason: "not a backup.json document (\(error))")
        }
        guard manifest.id == id else {
            throw BackupCatalogError.wrongManifest(key: key, reason: "it describes backup '\(manifest.id)'")
        }
        return manifest
    }

    /// `manifest(id)`, with a damaged `backup.json` reported as `BackupCatalogError.damaged`
    /// (what an operator who named that backup needs to read).
    public func intactManifest(_ id: BackupID) async throws -> BackupManifest {
        do {
            return try await manifest(id)
        } catch {
            guard let problem = DamagedBackup.problem(in: error) else { throw error }
            throw BackupCatalogError.damaged(id: id.description, key: layout.manifestKey(id), problem: problem)
        }
    }

    /// The manifest of the backup named `text` (as an operator types it): a malformed id, like
    /// an unknown one, is `BackupCatalogError.notFound` (no backup has that name).
    public func manifest(named text: String) async throws -> BackupManifest {
        let id: BackupID
        do {
            id = try BackupID(parsing: text)
        } catch {
            throw BackupCatalogError.notFound(id: text, server: layout.repository.server)
        }
        return try await intactManifest(id)
    }

    /// The server's `backup_manifest` of a backup, verified against its seal and the manifest's record.
    public func serverManifest(of manifest: BackupManifest) async throws -> [UInt8]? {
        guard let stored = manifest.serverManifest else { return nil }
        var content: [UInt8] = []
        let seal = try await objects.read(key: stored.key, algorithm: stored.compression) { content.append(contentsOf: $0) }
        guard seal.sha256 == stored.sha256, Int64(seal.length) == stored.size else {
            throw BackupCatalogError.wrongManifest(
                key: stored.key,
                reason: "it holds \(seal.length) bytes with SHA-256 \(seal.sha256); backup.json records \(stored.size) bytes with \(stored.sha256)")
        }
        return content
    }

    /// Ids of the backups whose `backup.json` exists, sorted.
    func committedIDs() async throws -> [BackupID] {
        try await store.list(prefix: layout.repository.backupsPrefix).compactMap { info in
            guard let id = layout.backupID(ofKey: info.key), info.key == layout.manifestKey(id) else { return nil }
            return id
        }.sorted()
    }

    // MARK: writing

    /// A fresh id for a backup starting at `date`: that second's, or the next second not used by
    /// any backup, complete or not (`BackupID.allocate`). Call it holding the backup lock.
    public func allocateID(at date: Date) async throws -> BackupID {
        let taken = try await store.list(prefix: layout.repository.backupsPrefix).compactMap { layout.backupID(ofKey: $0.key) }
        return BackupID.allocate(at: date, taken: Set(taken))
    }

    /// Marks backup `id` as being taken by `owner` (`backups/<id>/in-progress.json`): from now on
    /// its objects are visible as an incomplete backup until `commit` and `clearInProgress`.
    public func markInProgress(_ id: BackupID, owner: LockOwner) async throws {
        _ = try await objects.put(key: layout.inProgressKey(id), content: try RepositoryJSON.encode(owner), compression: .none)
    }

    /// Removes the in-progress mark of a committed backup.
    public func clearInProgress(_ id: BackupID) async throws {
        try await store.delete([layout.inProgressKey(id)])
    }

    /// Stores PostgreSQL's `backup_manifest` of backup `id` (sealed, compressed) and returns the
    /// record the manifest keeps of it.
    public func storeServerManifest(
        _ content: [UInt8], for id: BackupID, compression: Compression
    ) async throws -> BackupManifest.StoredObject {
        let key = layout.serverManifestKey(id, compression.algorithm)
        let (seal, info) = try await objects.put(key: key, content: content, compression: compression)
        return BackupManifest.StoredObject(
            key: key, size: Int64(seal.length), sha256: seal.sha256, storedSize: info.size, compression: compression.algorithm)
    }

    /// Makes the backup exist: writes its `backup.json`, sealed, in one atomic put. Call it LAST,
    /// once every chunk and object the manifest references is stored. Refuses a manifest of
    /// another server (`wrongManifest`) and an id committed already (`alreadyCommitted`).
    public func commit(_ manifest: BackupManifest) async throws {
        let key = layout.manifestKey(manifest.id)
        guard manifest.server == layout.repository.server else {
            throw BackupCatalogError.wrongManifest(
                key: key, reason: "the manifest is of server '\(manifest.server)', not '\(layout.repository.server)'")
        }
        if try await store.exists(key) {
            throw BackupCatalogError.alreadyCommitted(id: manifest.id.description, key: key)
        }
        _ = try await objects.put(key: key, content: try RepositoryJSON.encode(manifest), compression: .none)
    }

    // MARK: clean-up

    /// A backup that was started and never committed: its objects under `backups/<id>/`.
    public struct IncompleteBackup: Sendable, Hashable {
        public var id: BackupID
        public var keys: [String]
        /// The later of the id's time and the newest object's: how recently it was worked on.
        public var lastActivity: Date
    }

    /// Backups with objects under `backups/<id>/` but no `backup.json`, oldest first.
    public func incompleteBackups() async throws -> [IncompleteBackup] {
        var byID: [BackupID: IncompleteBackup] = [:]
        var committed = Set<BackupID>()
        for info in try await store.list(prefix: layout.repository.backupsPrefix) {
            guard let id = layout.backupID(ofKey: info.key) else { continue }
            if info.key == layout.manifestKey(id) { committed.insert(id) }
            var entry = byID[id] ?? IncompleteBackup(id: id, keys: [], lastActivity: id.date)
            entry.keys.append(info.key)
            entry.lastActivity = max(entry.lastActivity, info.modified)
            byID[id] = entry
        }
        return byID.values.filter { !committed.contains($0.id) }.sorted { $0.id < $1.id }
    }

    /// Removes the objects of incomplete backups whose last activity is older than `grace`
    /// before `now`, and returns their ids. Chunks are left alone: they are shared, and a
    /// backup in progress may reference any of them. A backup still being written is protected
    /// by the grace period and by the backup lock, which the caller holds.
    @discardableResult
    public func cleanupIncomplete(olderThan grace: TimeInterval, now: Date = Date()) async throws -> [BackupID] {
        var removed: [BackupID] = []
        for backup in try await incompleteBackups() where now.timeIntervalSince(backup.lastActivity) > grace {
            try await store.delete(backup.keys)
            removed.append(backup.id)
        }
        return removed
    }
}
