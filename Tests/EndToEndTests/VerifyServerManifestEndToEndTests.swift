import Foundation
import Testing
import PGBackupFoundations
import PGBackupRepository
import PGBackupStorage
import PGBackupTestSupport

/// PostgreSQL 17+ writes `backup_manifest` version 2, which names the cluster's system
/// identifier: `verify` checks it against the backup's.
@Suite("pgbackup verify: the server's backup_manifest names the backup's cluster", .serialized)
struct VerifyServerManifestEndToEndTests {
    @Test func aServerManifestOfAnotherClusterIsNamedAsAProblem() async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        var options = DaemonFixture.options
        options.major = 18
        try await withPostgresCluster(options) { cluster in
            let fixture = try await DaemonFixture(.file, cluster: cluster, scratch: scratch)
            let backup = try await PGBackupBinary.run(["backup"], environment: fixture.environment)
            try #require(backup.status == 0, "backup: \(backup.standardError)")
            let id = try BackupID(parsing: backup.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines))
            let (healthy, first) = try await VerifyEndToEndTests.verify(fixture)
            #expect(healthy?.ok == true, "\(first.standardOutput) \(first.standardError)")

            // Another cluster's manifest, sealed and recorded as if it were this backup's (the
            // seals hold: only its content can tell).
            let repository = try fixture.repository.mainServer
            let catalog = BackupCatalog(repository: repository)
            var manifest = try await catalog.manifest(id)
            let content = try #require(try await catalog.serverManifest(of: manifest))
            let other = manifest.systemIdentifier.rawValue ^ 1
            let original = "\"System-Identifier\": \(manifest.systemIdentifier),"
            let text = String(decoding: content, as: UTF8.self)
            try #require(text.contains(original), "\(text.prefix(200))")
            let stored = try await catalog.storeServerManifest(
                Array(text.replacingOccurrences(of: original, with: "\"System-Identifier\": \(other),").utf8), for: id, compression: .default)
            manifest.serverManifest = stored
            try await repository.store.delete([catalog.layout.manifestKey(id)])
            try await catalog.commit(manifest)

            let (report, result) = try await VerifyEndToEndTests.verify(fixture)
            #expect(result.status == 1, "\(result.standardOutput) \(result.standardError)")
            let problem = report?.errors.first { $0.object == stored.key }?.problem
            #expect(problem?.contains("names system identifier \(other), but backup \(id)'s is \(manifest.systemIdentifier)") == true,
                    "\(result.standardOutput)")
        }
    }
}
