import Foundation
import PGBackupFoundations
import PGBackupStorage

/// The mark-and-sweep of a server's shared chunks (`chunks/<ab>/<sha256>.<ext>`, chunks and
/// packs alike): **mark** every chunk any remaining `backup.json` references, **sweep** the other
/// objects under `chunks/`.
///
/// ## Why a backup running at the same time never loses a chunk (file:// and S3)
///
/// Listings are not snapshots (S3 least of all), so the sweep does not try to see a backup in
/// progress: it makes sure none runs.
/// 1. `sweep` runs only while its caller holds the server's backup lock (`RepositoryLock`
///    "backup"), which every backup holds for its whole run, from before it lists the chunks it
///    deduplicates against until after its `backup.json` is written. No backup can therefore
///    deduplicate against, write or commit a reference to a chunk while the sweep decides and
///    deletes. A backup that committed before the lock was taken is marked, because the mark
///    reads every `backup.json` after the lock is taken.
/// 2. The lock is re-checked (`RepositoryLock.refresh`, which reads back its token) before every
///    batch of deletions; if it was lost (a backup took it over, or won a race to it), the sweep
///    stops at once with `LockError.lost`, before deleting anything more.
/// 3. Second line of defence, for a backup that raced the lock's acquisition (`RepositoryLock`'s
///    "race limits": a free lock is created exactly, but two takers of a dead holder's lock, or
///    two acquires on a store that ignores create-if-absent, can both believe they hold it): a
///    chunk whose storage modification time is later than the lock's own just after it was
///    taken (`lockTime`; the store's clock, so no skew between hosts) minus `margin` is never
///    deleted. If the backup's
///    lock put came after ours, every chunk it writes is newer; if it came first, ours replaced
///    it and the backup loses its lock at its next refresh and never commits.
///    Residual window (honestly): a backup whose lock put lands after ours takes the lock from
///    the sweep, which notices at its next refresh; a batch of deletions already in flight when
///    the backup lists the chunks could remove one it deduplicates against. That needs such a
///    race (a dead holder's lock taken over by both, their puts more than the settle time apart),
///    and then lasts one delete call.
/// A backup that started after the sweep lists the chunks left, so it never references a
/// removed one. A damaged `backup.json` cannot be marked: `sweep` refuses
/// (`ChunkSweepError.unreadableManifests`) rather than guess.
public struct ChunkSweep: Sendable {
    public let catalog: BackupCatalog
    /// How much older than the lock a chunk must be to go.
    public let margin: TimeInterval
    /// Keys per delete call; the lock is checked before each.
    public let batchSize: Int

    public init(catalog: BackupCatalog, margin: TimeInterval = 5, batchSize: Int = 1000) {
        self.catalog = catalog
        self.margin = margin
        self.batchSize = max(1, batchSize)
    }

    /// What the mark found.
    public struct Candidates: Sendable {
        /// Unreferenced chunks old enough to go, by key.
        public var unreferenced: [ObjectInfo]
        /// Unreferenced chunks kept because they are newer than the cut-off.
        public var young: Int
        /// Chunk objects referenced by a `backup.json`.
        public var referenced: Int
        /// Backups whose `backup.json` could not be read: their references are unknown.
        public var damaged: [DamagedBackup]

        public var bytes: Int64 { unreferenced.reduce(0) { $0 + $1.size } }
    }

    /// What a sweep removed.
    public struct Outcome: Sendable, Hashable {
        public var removed: Int
        public var bytesFreed: Int64
        public var young: Int
    }

    /// Marks: reads every `backup.json` (but those of `excluded`, which a dry run pretends
    /// removed) and lists `chunks/`; the unreferenced chunks modified before `cutoff` are
    /// candidates. Deletes nothing (a dry run stops here).
    public func candidates(modifiedBefore cutoff: Date, excluding excluded: Set<BackupID> = []) async throws -> Candidates {
        var referenced = Set<SHA256Digest>()
        var damaged: [DamagedBackup] = []
        for id in try await catalog.committedIDs() where !excluded.contains(id) {
            let manifest: BackupManifest
            do {
                manifest = try await catalog.manifest(id)
            } catch BackupCatalogError.notFound {
                continue
            } catch {
                guard let problem = DamagedBackup.problem(in: error) else { throw error }
                damaged.append(DamagedBackup(id: id, key: catalog.layout.manifestKey(id), problem: problem))
                continue
            }
            Self.mark(manifest, naming: catalog.repository.chunkNaming, into: &referenced)
        }
        var result = Candidates(unreferenced: [], young: 0, referenced: 0, damaged: damaged)
        for info in try await catalog.store.list(prefix: catalog.layout.repository.chunksPrefix) {
            guard let digest = catalog.layout.chunk(ofKey: info.key)?.name else { continue }  // not a chunk: left alone
            if referenced.contains(digest) {
                result.referenced += 1
            } else if info.modified < cutoff {
                result.unreferenced.append(info)
            } else {
                result.young += 1
            }
        }
        return result
    }

    /// The store's modification time of `lock`'s object: read it right after `acquire` (before
    /// any refresh moves it) and pass it to `sweep`.
    public static func lockTime(_ lock: RepositoryLock) async throws -> Date {
        try await lock.repository.store.head(lock.key).modified
    }

    /// Marks and sweeps, holding `lock` (taken by the caller as `owner`; `lockTime`: its
    /// `lockTime` just after it was taken; see the type's documentation). Throws `LockError.lost`
    /// (having stopped) when the lock is lost between batches,
    /// `ChunkSweepError.unreadableManifests` when a `backup.json` cannot be read.
    public func sweep(lock: RepositoryLock, owner: LockOwner, lockTime: Date) async throws -> Outcome {
        var held = try await lock.refresh(owner)
        let found = try await candidates(modifiedBefore: lockTime.addingTimeInterval(-margin))
        guard found.damaged.isEmpty else {
            throw ChunkSweepError.unreadableManifests(found.damaged.map(\.key))
        }
        var outcome = Outcome(removed: 0, bytesFreed: 0, young: found.young)
        var start = 0
        while start < found.unreferenced.count {
            let batch = found.unreferenced[start..<min(start + batchSize, found.unreferenced.count)]
            held = try await lock.refresh(held)
            try await catalog.store.delete(batch.map(\.key))
            outcome.removed += batch.count
            outcome.bytesFreed += batch.reduce(0) { $0 + $1.size }
            start += batch.count
        }
        return outcome
    }

    /// Adds the name (`naming`) of every chunk and pack `manifest` references to `referenced`.
    public static func mark(_ manifest: BackupManifest, naming: ChunkNaming = .contentDigest, into referenced: inout Set<SHA256Digest>) {
        for file in manifest.files {
            for chunk in file.chunks ?? [] { referenced.insert(naming.name(of: chunk.sha256)) }
            if let packed = file.packed { referenced.insert(naming.name(of: packed.pack)) }
        }
    }
}

/// Why the chunk sweep did not run.
public enum ChunkSweepError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Some `backup.json` could not be read, so the chunks it references are unknown.
    case unreadableManifests([String])

    public var description: String {
        switch self {
        case .unreadableManifests(let keys):
            "unable to sweep chunks: \(keys.joined(separator: ", ")) cannot be read, so the chunks they reference are unknown"
                + "\nHINT: restore those files from another copy of the repository (`pgbackup list` shows the damaged backups); nothing was deleted"
        }
    }
}
