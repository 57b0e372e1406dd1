import Foundation
import PGBackupFoundations
import PGBackupStorage
import Testing
@testable import PGBackupRepository

/// `init --upgrade` (issue 21): a pg_upgraded cluster begins a new history of the server under
/// its own root, recorded by a create-if-absent upgrade record; older histories stay as they are.
@Suite("Repository histories after a major upgrade")
struct RepositoryHistoriesTests {
    static let old = RepositoryInfo(
        server: "main", systemIdentifier: 7_300_000_000_000_000_016, postgresVersionNumber: 160_014, walSegmentSize: 16_777_216,
        createdBy: "test")
    static let new = RepositoryInfo(
        server: "main", systemIdentifier: 7_400_000_000_000_000_018, postgresVersionNumber: 180_001, walSegmentSize: 16_777_216,
        createdBy: "test")

    @Test func anUpgradedClusterIsNamedAsSuchAndAnotherClusterIsNot() {
        #expect(throws: RepositoryError.clusterUpgraded(
            server: "main", location: "memory://", host: "db1:5432", repository: Self.old.systemIdentifier, repositoryVersion: 160_014,
            cluster: Self.new.systemIdentifier, clusterVersion: 180_001)) {
            try Self.old.check(belongsTo: 7_400_000_000_000_000_018, walSegmentSize: 16_777_216, location: "memory://", versionNumber: 180_001, host: "db1:5432")
        }
        let upgraded = RepositoryError.clusterUpgraded(
            server: "main", location: "file:///r", host: "db1:5432", repository: "1", repositoryVersion: 160_014, cluster: "2",
            clusterVersion: 180_001)
        #expect("\(upgraded)".hasPrefix("the server at db1:5432 is database system 2 on PostgreSQL 18, but the repository for server 'main' in file:///r holds system 1 on PostgreSQL 16"))
        #expect("\(upgraded)".contains("HINT: if this cluster was upgraded with pg_upgrade, run `pgbackup init --upgrade`"))
        // The same or an older major: another cluster, whatever pg_upgrade could do.
        for version in [160_020, 150_018, nil] {
            #expect(throws: RepositoryError.systemIdentifierMismatch(
                server: "main", location: "memory://", repository: Self.old.systemIdentifier, cluster: "42")) {
                try Self.old.check(belongsTo: 42, walSegmentSize: 16_777_216, location: "memory://", versionNumber: version)
            }
        }
    }

    @Test func beginHistoryKeepsTheFirstInPlaceAndOpensTheNewest() async throws {
        let store = MemoryObjectStore()
        _ = try await Repository.initialize(store: store, info: Self.old, key: nil)
        let firstJSON = try await store.get("main/repository.json")

        // Plain init of the upgraded cluster is refused with the hint.
        await #expect(throws: RepositoryError.clusterUpgraded(
            server: "main", location: store.location, host: nil, repository: Self.old.systemIdentifier, repositoryVersion: 160_014,
            cluster: Self.new.systemIdentifier, clusterVersion: 180_001)) {
            _ = try await Repository.initialize(store: store, info: Self.new, key: nil)
        }

        let (repository, upgrade) = try await Repository.beginHistory(store: store, info: Self.new, key: nil, createdBy: "test")
        #expect(repository.layout == RepositoryLayout(server: "main", root: "main@7400000000000000018"))
        #expect(upgrade.sequence == 1 && upgrade.previousRoot == "main" && upgrade.previousSystemIdentifier == Self.old.systemIdentifier)
        #expect(try await store.get("main/repository.json") == firstJSON)
        #expect(try await store.list(prefix: "").map(\.key).sorted() == [
            "main/repository.json", "main/upgrades/00000001.json", "main@7400000000000000018/repository.json",
        ])

        let histories = try await Repository.histories(store: store, server: "main")
        #expect(histories.map(\.info.systemIdentifier) == [Self.old.systemIdentifier, Self.new.systemIdentifier])
        #expect(histories.map(\.layout.walPrefix) == ["main/wal/", "main@7400000000000000018/wal/"])
        let opened = try await Repository.openReadingInfo(store: store, server: "main", key: nil)
        #expect(opened.info?.systemIdentifier == Self.new.systemIdentifier && opened.repository.layout.root == "main@7400000000000000018")

        // Plain init now confirms the upgraded cluster; the old one is refused.
        let again = try await Repository.initialize(store: store, info: Self.new, key: nil)
        guard case .alreadyInitialized(let confirmed) = again.outcome else { Issue.record("created again"); return }
        #expect(confirmed.systemIdentifier == Self.new.systemIdentifier && again.repository.layout.root == "main@7400000000000000018")
        await #expect(throws: RepositoryError.self) { _ = try await Repository.initialize(store: store, info: Self.old, key: nil) }
    }

    @Test func beginHistoryRefusesWhatIsNoUpgrade() async throws {
        let store = MemoryObjectStore()
        await #expect {
            _ = try await Repository.beginHistory(store: store, info: Self.new, key: nil, createdBy: "test")
        } throws: { "\($0)".contains("nothing to upgrade") && "\($0)".contains("HINT: run `pgbackup init`") }
        _ = try await Repository.initialize(store: store, info: Self.old, key: nil)
        await #expect {
            _ = try await Repository.beginHistory(store: store, info: Self.old, key: nil, createdBy: "test")
        } throws: { "\($0)".contains("already belongs to this cluster") && "\($0)".contains("nothing to upgrade") }
        var older = Self.new
        older.postgresVersionNumber = 150_018
        await #expect {
            _ = try await Repository.beginHistory(store: store, info: older, key: nil, createdBy: "test")
        } throws: { "\($0)".contains("PostgreSQL 15, older than the repository's PostgreSQL 16") && "\($0)".contains("different cluster") }
        _ = try await Repository.beginHistory(store: store, info: Self.new, key: nil, createdBy: "test")
        // Going back to the first cluster is not an upgrade either.
        await #expect {
            _ = try await Repository.beginHistory(store: store, info: Self.old, key: nil, createdBy: "test")
        } throws: { "\($0)".contains("older history") }
        #expect(try await store.list(prefix: "main/upgrades/").count == 1)
    }

    @Test func anEncryptedRepositoryBeginsAnEncryptedHistoryAndRotatesEveryHistorysKey() async throws {
        let store = MemoryObjectStore()
        let key = EncryptionKey.random()
        _ = try await Repository.initialize(store: store, info: Self.old, key: key)
        await #expect(throws: RepositoryError.self) {
            _ = try await Repository.beginHistory(store: store, info: Self.new, key: nil, createdBy: "test")
        }
        let (repository, _) = try await Repository.beginHistory(store: store, info: Self.new, key: key, createdBy: "test")
        #expect(repository.keyID == key.id)
        let next = EncryptionKey.random()
        _ = try await Repository.rotateKey(store: store, server: "main", current: key, new: next)
        let histories = try await Repository.openHistories(store: store, server: "main", key: next)
        #expect(histories.map(\.repository.keyID) == [next.id, next.id])
    }
}
