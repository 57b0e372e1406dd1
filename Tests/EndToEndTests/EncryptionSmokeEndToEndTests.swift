import Foundation
import Testing
import PGBackupFoundations
import PGBackupRepository
import PGBackupTestSupport

#if canImport(Glibc)
import Glibc
#endif

/// The whole encrypted path through the binary once (issue #15): `init` with a key file, the
/// daemon's WAL, `backup`, `restore` and the restored server's `wal-fetch` through the key copy
/// restore leaves next to the data directory. The broad end-to-end matrix (S3, damage, rotation,
/// no plaintext at rest) lives in the encryption end-to-end suites.
@Suite("client-side encryption, smoke test through the binary")
struct EncryptionSmokeEndToEndTests {
    @Test func anEncryptedRepositoryBacksUpAndRestoresExactlyTheRows() async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let keyFile = scratch.path + "/repository.key"
        let key = EncryptionKey.random()
        try DurableFile.write(keyFile, contents: key.fileContents)
        try await withPostgresCluster(RestoreEndToEndTests.options) { cluster in
            let fixture = try await DaemonFixture(.file, cluster: cluster, scratch: scratch, extraEnvironment: ["PGBACKUP_ENCRYPTION_KEY_FILE": keyFile])

            // init said nothing on the way (the fixture ran it); a second run reports encryption.
            let initialized = try await PGBackupBinary.run(["init", "--json"], environment: fixture.environment)
            try #require(initialized.status == 0, "\(initialized.standardError)")
            #expect(initialized.standardOutput.contains("\"encryption\" : \"aes-256-gcm\""), "\(initialized.standardOutput)")
            #expect(initialized.standardOutput.contains("\"keyID\" : \"\(key.id)\""), "\(initialized.standardOutput)")
            let info = try RepositoryJSON.decode(RepositoryInfo.self, from: try await fixture.repository.store.get("main/repository.json"))
            #expect(info.encryption == "aes-256-gcm" && info.formatVersion == 2 && info.encryptionKey?.keyID == key.id)

            let daemon = try fixture.startDaemon()
            defer { daemon.send(SIGKILL) }
            try await cluster.sql("CREATE TABLE rows (batch int, id int)")
            _ = try await RestoreEndToEndTests.commitBatch(1, on: cluster)
            let backup = try await backupSummary(fixture)
            _ = try await RestoreEndToEndTests.commitBatch(2, on: cluster)
            try await fixture.waitForArchive(of: try await fixture.switchSegment(), daemon: daemon)
            daemon.send(SIGTERM)
            _ = try await daemon.wait()
            try await RestoreEndToEndTests.letTheServerRead(fixture)

            let checked = try await PGBackupBinary.run(["check", "--json"], environment: fixture.environment, timeout: .seconds(60))
            #expect(checked.standardOutput.contains("encrypted (aes-256-gcm, key id \(key.id))"), "\(checked.standardOutput)")

            let shown = try await PGBackupBinary.run(["show", backup.id.description, "--json"], environment: fixture.environment)
            #expect(shown.status == 0 && shown.standardOutput.contains("\"encryption\" : \"aes-256-gcm\""), "\(shown.standardOutput)\(shown.standardError)")

            // Without the key, the repository does not open: exit 1, naming the key id it needs.
            var keyless = fixture.environment
            keyless.removeValue(forKey: "PGBACKUP_ENCRYPTION_KEY_FILE")
            let refused = try await PGBackupBinary.run(["list"], environment: keyless)
            #expect(refused.status == 1 && refused.standardError.contains("it is encrypted (key id \(key.id)) and no key is configured"), "\(refused.standardError)")

            // Restore to the end of the archive; the restored server fetches the WAL after the
            // backup through the key file restore wrote next to its data directory.
            let directory = scratch.path + "/restored"
            let restored = try await PGBackupBinary.run(["restore", "--pgdata", directory], environment: fixture.environment)
            try #require(restored.status == 0, "\(restored.standardError)")
            var mode = stat()
            try #require(stat(directory + ".pgbackup.key", &mode) == 0)
            #expect(mode.st_mode & 0o777 == 0o600)
            #expect(try EncryptionKey(fileContents: Array(Data(contentsOf: URL(fileURLWithPath: directory + ".pgbackup.key")))).id == key.id)
            let yaml = try String(contentsOfFile: directory + ".pgbackup.yaml", encoding: .utf8)
            #expect(yaml.contains("encryption:\n  key_file: \"\(directory).pgbackup.key\""), "\(yaml)")
            let server = try await PostgresCluster.start(
                existingDataDirectory: directory, ownedTrees: [directory + ".pgbackup.yaml", directory + ".pgbackup.key"], .init(name: "restored-encrypted"))
            do {
                try await server.waitUntil("recovery ends", timeout: .seconds(120)) { try await server.sql("SELECT pg_is_in_recovery()") == "f" }
                let counts = try await server.rows("SELECT batch, count(*) FROM rows GROUP BY batch ORDER BY batch")
                #expect(counts == [["1", "\(RestoreEndToEndTests.rowsPerBatch)"], ["2", "\(RestoreEndToEndTests.rowsPerBatch)"]])
                await server.destroy()
            } catch {
                let log = server.logTail(lines: 30)
                await server.destroy()
                throw FixtureError("\(error)\nrestored server's log:\n\(log)")
            }

            // key rotate: a world-readable new key file exits 2 and changes nothing; a good one
            // rewraps, after which the old key is refused (exit 1) and the new one lists the backup.
            let newKey = EncryptionKey.random()
            let newKeyFile = scratch.path + "/new.key"
            try DurableFile.write(newKeyFile, contents: newKey.fileContents)
            #expect(chmod(newKeyFile, 0o644) == 0)
            let loose = try await PGBackupBinary.run(["key", "rotate", "--new-key-file", newKeyFile], environment: fixture.environment)
            #expect(loose.status == 2 && loose.standardError.contains("it is accessible by every user"), "\(loose.standardError)")
            #expect(chmod(newKeyFile, 0o600) == 0)
            let rotated = try await PGBackupBinary.run(["key", "rotate", "--new-key-file", newKeyFile, "--json"], environment: fixture.environment)
            try #require(rotated.status == 0, "\(rotated.standardError)")
            #expect(rotated.standardOutput.contains("\"oldKeyID\" : \"\(key.id)\"") && rotated.standardOutput.contains("\"newKeyID\" : \"\(newKey.id)\""), "\(rotated.standardOutput)")
            let old = try await PGBackupBinary.run(["list"], environment: fixture.environment)
            #expect(old.status == 1 && old.standardError.contains("encrypted with key id \(newKey.id), but the configured key has id \(key.id)"), "\(old.standardError)")
            let unhealthy = try await PGBackupBinary.run(["check", "--json"], environment: fixture.environment, timeout: .seconds(60))
            #expect(unhealthy.status == 1 && unhealthy.standardOutput.contains("but the configured key has id \(key.id)"), "\(unhealthy.standardOutput)")
            var rekeyed = fixture.environment
            rekeyed["PGBACKUP_ENCRYPTION_KEY_FILE"] = newKeyFile
            let listed = try await PGBackupBinary.run(["list", "--json"], environment: rekeyed)
            #expect(listed.status == 0 && listed.standardOutput.contains(backup.id.description), "\(listed.standardError)")
        }
    }
}
