import Foundation
import PGBackupFoundations
import PGBackupStorage
import Testing
@testable import PGBackupRepository

/// The chunk mark-and-sweep, over the in-memory and the file store.
@Suite("Chunk sweep")
struct ChunkSweepTests {
    /// A manifest of backup `id` whose one file is the chunks `chunks` and whose small file sits in `pack`.
    static func manifest(_ id: BackupID, chunks: [ChunkRef], pack: ChunkRef? = nil) -> BackupManifest {
        var manifest = sampleManifest(id: id)
        var offset: Int64 = 0
        let parts = chunks.map { ref in
            defer { offset += ref.size }
            return BackupManifest.Chunk(offset: offset, size: ref.size, sha256: ref.sha256)
        }
        manifest.files = [.init(path: "base/5/1", type: .file, mode: 0o600, mtime: id.date, size: offset, chunks: parts)]
        if let pack {
            manifest.files.append(.init(path: "PG_VERSION", type: .file, mode: 0o600, mtime: id.date, size: 3,
                                        packed: .init(pack: pack.sha256, packSize: pack.size, offset: 0)))
        }
        return manifest
    }

    static func lock(_ repository: Repository, pid: Int32 = 1) -> RepositoryLock {
        RepositoryLock(repository: repository, settle: .zero, hostname: "x", pid: pid, purpose: "retention", isProcessAlive: { _ in true })
    }

    @Test(arguments: StoreKind.allCases)
    func referencedChunksStayUnreferencedOldOnesGoAndNewOnesStay(kind: StoreKind) async throws {
        try await withRepository(kind) { fixture in
            let chunks = fixture.chunkStore()
            let shared = try await chunks.store(relationBytes(pages: 2, seed: 1))
            let onlyRemoved = try await chunks.store(relationBytes(pages: 2, seed: 2))
            let onlyKept = try await chunks.store(relationBytes(pages: 2, seed: 3))
            let pack = try await chunks.store(relationBytes(pages: 1, seed: 4))
            let orphan = try await chunks.store(relationBytes(pages: 1, seed: 5))  // a killed backup's
            let first = BackupID(date: Date(timeIntervalSince1970: 1_795_342_500))
            let second = first.next
            try await fixture.catalog.commit(Self.manifest(first, chunks: [shared, onlyRemoved], pack: pack))
            try await fixture.catalog.commit(Self.manifest(second, chunks: [shared, onlyKept], pack: pack))
            try await fixture.catalog.removeBackup(first)
            try await Task.sleep(for: .milliseconds(50))

            let lock = Self.lock(fixture.repository)
            let owner = try await lock.acquire()
            let lockTime = try await ChunkSweep.lockTime(lock)
            try await Task.sleep(for: .milliseconds(50))
            // Written after the lock was taken (a put that raced it): never swept.
            let young = try await chunks.store(relationBytes(pages: 1, seed: 6))

            let sweep = ChunkSweep(catalog: fixture.catalog, margin: 0, batchSize: 1)
            // The dry run's view first: the same candidates, nothing deleted.
            let candidates = try await sweep.candidates(modifiedBefore: lockTime)
            #expect(Set(candidates.unreferenced.map(\.key)) == Set([onlyRemoved, orphan].map { key(fixture, $0) }))
            #expect(candidates.young == 1 && candidates.referenced == 3)
            #expect(try await fixture.chunkKeys().count == 6)

            let outcome = try await sweep.sweep(lock: lock, owner: owner, lockTime: lockTime)
            #expect(outcome.removed == 2 && outcome.young == 1)
            #expect(outcome.bytesFreed == onlyRemoved.storedSize + orphan.storedSize)
            #expect(Set(try await fixture.chunkKeys()) == Set([shared, onlyKept, pack, young].map { key(fixture, $0) }))
            // What the remaining backup references still reads back.
            for ref in [shared, onlyKept, pack] { _ = try await chunks.fetch(ref) }
        }
    }

    @Test(arguments: StoreKind.allCases)
    func aLostLockStopsTheSweepBeforeItDeletes(kind: StoreKind) async throws {
        try await withRepository(kind) { fixture in
            let orphan = try await fixture.chunkStore().store(relationBytes(pages: 1, seed: 7))
            try await Task.sleep(for: .milliseconds(50))
            let lock = Self.lock(fixture.repository, pid: 1)
            let owner = try await lock.acquire()
            let lockTime = try await ChunkSweep.lockTime(lock)
            // A backup took the lock over (this holder was presumed dead).
            try await fixture.store.delete([lock.key])
            let backup = try await RepositoryLock(repository: fixture.repository, settle: .zero, hostname: "x", pid: 2).acquire()
            let error = await #expect(throws: LockError.self) {
                try await ChunkSweep(catalog: fixture.catalog, margin: 0).sweep(lock: lock, owner: owner, lockTime: lockTime)
            }
            guard case .lost(_, _, let taker)? = error else { Issue.record("not lost: \(String(describing: error))"); return }
            #expect(taker?.token == backup.token)
            #expect(try await fixture.chunkKeys() == [key(fixture, orphan)])
        }
    }

    @Test(arguments: StoreKind.allCases)
    func aDamagedManifestStopsTheSweep(kind: StoreKind) async throws {
        try await withRepository(kind) { fixture in
            let kept = try await fixture.chunkStore().store(relationBytes(pages: 1, seed: 8))
            let id = BackupID(date: Date(timeIntervalSince1970: 1_795_342_500))
            try await fixture.catalog.commit(Self.manifest(id, chunks: [kept]))
            try await fixture.damage(fixture.catalog.layout.manifestKey(id)) { $0 / 2 }
            try await Task.sleep(for: .milliseconds(50))
            let lock = Self.lock(fixture.repository)
            let owner = try await lock.acquire()
            await #expect(throws: ChunkSweepError.unreadableManifests([fixture.catalog.layout.manifestKey(id)])) {
                try await ChunkSweep(catalog: fixture.catalog, margin: 0).sweep(lock: lock, owner: owner, lockTime: try await ChunkSweep.lockTime(lock))
            }
            #expect(try await fixture.chunkKeys() == [key(fixture, kept)])
        }
    }

    @Test(arguments: StoreKind.allCases)
    func aPinIsRewrittenInPlaceAndOldDocumentsReadAsUnpinnedOrFull(kind: StoreKind) async throws {
        try await withRepository(kind) { fixture in
            let id = BackupID(date: Date(timeIntervalSince1970: 1_795_342_500))
            var manifest = sampleManifest(id: id)
            try await fixture.catalog.commit(manifest)
            #expect(try await fixture.catalog.manifest(id).pin == nil)
            manifest.pin = .standalone
            try await fixture.catalog.replaceManifest(manifest)
            #expect(try await fixture.catalog.manifest(id).pin == .standalone)
            // A document of before pin kinds (no `pinKind`), pinned: a full pin.
            var json = try JSONSerialization.jsonObject(with: Data(RepositoryJSON.encode(sampleManifest(id: id)))) as! [String: Any]
            json["pinned"] = true
            #expect(json["pinKind"] == nil)
            let old = try RepositoryJSON.decode(BackupManifest.self, from: Array(JSONSerialization.data(withJSONObject: json)))
            #expect(old.pin == .full)
            // A backup that does not exist is not created by a rewrite.
            await #expect(throws: BackupCatalogError.notFound(id: id.next.description, server: "main")) {
                try await fixture.catalog.replaceManifest(sampleManifest(id: id.next))
            }
        }
    }

    func key(_ fixture: RepositoryFixture, _ ref: ChunkRef) -> String {
        fixture.catalog.layout.chunkKey(ref.sha256, ref.algorithm)
    }
}
