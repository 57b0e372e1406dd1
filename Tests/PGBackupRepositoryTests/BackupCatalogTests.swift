import Foundation
import PGBackupFoundations
import PGBackupStorage
import Testing
@testable import PGBackupRepository

@Suite("Backup catalog")
struct BackupCatalogTests {
    let first = try! BackupID(parsing: "20261121T101500Z")
    let second = try! BackupID(parsing: "20261122T101500Z")

    @Test(arguments: StoreKind.allCases)
    func listsCommittedBackupsInOrderAndShowsThem(kind: StoreKind) async throws {
        try await withRepository(kind) { fixture in
            let catalog = fixture.catalog
            #expect(try await catalog.list().isEmpty)
            try await catalog.commit(sampleManifest(id: second, label: "b"))
            try await catalog.commit(sampleManifest(id: first, label: "a"))
            let list = try await catalog.list()
            #expect(list.map(\.id) == [first, second])
            #expect(list.map(\.label) == ["a", "b"])
            #expect(list.allSatisfy { $0.status == .complete })
            #expect(list[0] == BackupSummary(sampleManifest(id: first, label: "a")))
            #expect(try await catalog.manifest(second) == sampleManifest(id: second, label: "b"))
            #expect(try await catalog.manifest(named: "20261121T101500Z") == sampleManifest(id: first, label: "a"))
            // Sealed raw: the JSON, then the 48-byte seal.
            let stored = try await fixture.store.get("main/backups/20261122T101500Z/backup.json")
            #expect(Array(stored.dropLast(48)) == (try RepositoryJSON.encode(sampleManifest(id: second, label: "b"))))
        }
    }

    /// `list` and `survey` decode only the head of each `backup.json`: the same summary as the
    /// whole manifest gives, pins included.
    @Test(arguments: [nil, BackupManifest.PinKind.full, .standalone])
    func aSummaryFromTheHeadEqualsTheSummaryOfTheWholeManifest(pin: BackupManifest.PinKind?) async throws {
        try await withRepository(.memory) { fixture in
            var manifest = sampleManifest(id: first, label: "pinned?")
            manifest.pin = pin
            try await fixture.catalog.commit(manifest)
            let whole = BackupSummary(try await fixture.catalog.manifest(first))
            #expect(try await fixture.catalog.summary(first) == whole)
            #expect(try await fixture.catalog.list() == [whole])
            #expect(try await fixture.catalog.survey().backups == [whole])
            #expect(whole.pin == pin && whole.pinned == (pin != nil))
            #expect(manifest.head.pin == pin)
        }
    }

    @Test
    func anUnknownBackupIsAClearError() async throws {
        try await withRepository(.memory) { fixture in
            try await fixture.catalog.commit(sampleManifest(id: first))
            let error = await #expect(throws: BackupCatalogError.self) { try await fixture.catalog.manifest(second) }
            #expect(error?.description == "backup '20261122T101500Z' does not exist for server 'main'; `pgbackup list` shows the backups")
            let typo = await #expect(throws: BackupCatalogError.self) { try await fixture.catalog.manifest(named: "latest!") }
            #expect(typo?.description == "backup 'latest!' does not exist for server 'main'; `pgbackup list` shows the backups")
        }
    }

    @Test(arguments: StoreKind.allCases)
    func anIncompleteBackupDoesNotExistAndIsCleanedAfterTheGracePeriod(kind: StoreKind) async throws {
        try await withRepository(kind) { fixture in
            let catalog = fixture.catalog
            try await catalog.commit(sampleManifest(id: first))
            // A backup started just now stored its server manifest and a chunk, then died before its commit.
            let now = Date()
            let dead = BackupID(date: now.addingTimeInterval(-5))
            let stored = try await catalog.storeServerManifest(
                Array("{\"PostgreSQL-Backup-Manifest-Version\": 1}".utf8), for: dead, compression: .zstd(level: 1))
            let chunk = try await fixture.chunkStore().store([1, 2, 3])
            #expect(stored.key == "main/backups/\(dead)/backup_manifest.zst")
            #expect(try await catalog.list().map(\.id) == [first])
            await #expect(throws: BackupCatalogError.notFound(id: dead.description, server: "main")) {
                try await catalog.manifest(dead)
            }
            #expect(try await catalog.incompleteBackups().map(\.id) == [dead])
            // Within the grace period: kept (it may still be running).
            #expect(try await catalog.cleanupIncomplete(olderThan: 3600, now: now).isEmpty)
            #expect(try await fixture.store.exists(stored.key))
            // Past it: its objects go; chunks and complete backups stay.
            #expect(try await catalog.cleanupIncomplete(olderThan: 3600, now: now.addingTimeInterval(3700)) == [dead])
            let left = try await fixture.store.list(prefix: "main/backups/\(dead)/")
            #expect(left.isEmpty)
            #expect(try await fixture.store.exists("main/backups/20261121T101500Z/backup.json"))
            #expect(try await fixture.chunkStore().contains(chunk.sha256))
            let incomplete = try await catalog.incompleteBackups()
            #expect(incomplete.isEmpty)
            #expect(try await catalog.list().map(\.id) == [first])
        }
    }

    @Test
    func theServerManifestIsStoredSealedAndReferencedByItsDigest() async throws {
        try await withRepository(.memory) { fixture in
            let content = Array("{\"PostgreSQL-Backup-Manifest-Version\": 1, \"Files\": []}\n".utf8)
            let stored = try await fixture.catalog.storeServerManifest(content, for: second, compression: .zstd(level: 1))
            #expect(stored.sha256 == SHA256Hasher.hash(content))
            #expect(stored.size == Int64(content.count))
            var manifest = sampleManifest(id: second)
            manifest.serverManifest = stored
            try await fixture.catalog.commit(manifest)
            let shown = try await fixture.catalog.manifest(second)
            #expect(shown.serverManifest == stored)
            #expect(try await fixture.catalog.serverManifest(of: shown) == content)
        }
    }

    @Test
    func aBackupIsCommittedOnce() async throws {
        try await withRepository(.memory) { fixture in
            try await fixture.catalog.commit(sampleManifest(id: first, label: "original"))
            let error = await #expect(throws: BackupCatalogError.self) {
                try await fixture.catalog.commit(sampleManifest(id: first, label: "other"))
            }
            #expect(error?.description == "unable to commit backup '20261121T101500Z': 'main/backups/20261121T101500Z/backup.json' exists already (a backup is written once)")
            #expect(try await fixture.catalog.manifest(first).label == "original")
            await #expect(throws: BackupCatalogError.self) { try await fixture.catalog.commit(sampleManifest(id: second, server: "other")) }
            #expect(try await fixture.catalog.list().count == 1)
        }
    }

    @Test
    func aDamagedManifestIsAnErrorNamingIt() async throws {
        try await withRepository(.memory) { fixture in
            try await fixture.catalog.commit(sampleManifest(id: first))
            let key = "main/backups/20261121T101500Z/backup.json"
            try await fixture.damage(key) { _ in 10 }
            let error = await #expect(throws: SealError.self) { try await fixture.catalog.manifest(first) }
            #expect(error?.object == key)
            await #expect(throws: SealError.self) { try await fixture.catalog.list() }
        }
    }

    @Test
    func aDamagedManifestHidesNoOtherBackup() async throws {
        try await withRepository(.memory) { fixture in
            try await fixture.catalog.commit(sampleManifest(id: first))
            try await fixture.catalog.commit(sampleManifest(id: second))
            let key = "main/backups/20261121T101500Z/backup.json"
            try await fixture.damage(key) { _ in 10 }
            // survey: the intact one listed, the damaged one apart, with what is wrong.
            let survey = try await fixture.catalog.survey()
            #expect(survey.backups.map(\.id) == [second])
            #expect(survey.damaged.map(\.id) == [first] && survey.damaged.map(\.key) == [key])
            #expect(survey.damaged.first?.problem.hasPrefix("unable to verify '\(key)'") ?? false, "\(survey.damaged)")
            #expect(survey.damaged.first?.problem.contains("HINT") == false)
            // Named, it is explained; the other reads as ever.
            let error = await #expect(throws: BackupCatalogError.self) { try await fixture.catalog.intactManifest(first) }
            #expect(error?.description.hasPrefix("unable to use backup '\(first)': its manifest '\(key)' is damaged: unable to verify") ?? false, "\(String(describing: error))")
            await #expect(throws: BackupCatalogError.damaged(id: first.description, key: key, problem: survey.damaged[0].problem)) {
                try await fixture.catalog.manifest(named: first.description)
            }
            #expect(try await fixture.catalog.intactManifest(second).id == second)
        }
    }

    @Test
    func newIDsAvoidEveryExistingBackupCompleteOrNot() async throws {
        try await withRepository(.memory) { fixture in
            try await fixture.catalog.commit(sampleManifest(id: first))
            _ = try await fixture.catalog.storeServerManifest([1], for: first.next, compression: .none)
            #expect(try await fixture.catalog.allocateID(at: first.date) == first.next.next)
            #expect(try await fixture.catalog.allocateID(at: second.date) == second)
        }
    }
}
