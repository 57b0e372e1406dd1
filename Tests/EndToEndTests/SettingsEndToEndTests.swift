import Foundation
import Testing
import PGBackupTestSupport

#if canImport(Glibc)
import Glibc
#endif

/// Secrets and settings through the binary (issue #10, item 6): what pgbackup does not implement
/// is refused before anything is stored, a broken configuration file is not quoted back, a
/// standby is not handed pgbackup's password, and the restore's configuration file is private.
@Suite("settings and secrets, end to end")
struct SettingsEndToEndTests {
    @Test func aBrokenConfigurationFileIsNeverQuotedBack() async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        for (name, yaml) in [
            ("conninfo", "repository: file:///srv/pgbackup\nconninfo: host=db password=s3cret user=r: x\n"),
            ("s3", "repository: s3://bucket/x\ns3:\n  secret_access_key: s3cret\n  region: [eu-west-1\n"),
        ] {
            let file = scratch.path + "/\(name).yaml"
            try Data(yaml.utf8).write(to: URL(fileURLWithPath: file))
            let result = try await PGBackupBinary.run(["list", "--config", file])
            #expect(result.status == 2, "\(name): \(result.standardError)")
            #expect(result.standardError.contains("unable to parse configuration file '\(file)': line "), "\(name): \(result.standardError)")
            #expect(!result.standardError.contains("s3cret"), "\(name): \(result.standardError)")
            #expect(!result.standardOutput.contains("s3cret"))
        }
    }

    @Test(arguments: RepositoryKind.tested)
    func settingsThatAreNotImplementedAreRefusedBeforeAnythingIsStored(kind: RepositoryKind) async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        try await withPostgresCluster(DaemonFixture.options) { cluster in
            let repository = try await TestRepository.make(kind, in: scratch)
            let environment = repository.environment.merging(["PGBACKUP_CONNINFO": cluster.conninfo(replication: true)]) { $1 }
            let refusals: [(environment: [String: String], file: String?, text: String)] = [
                // Client-side encryption is implemented (issue #15): a key file that cannot be
                // used is refused the same way, never ignored into a plaintext repository.
                (["PGBACKUP_ENCRYPTION_KEY_FILE": scratch.path + "/key"], nil,
                 "unable to use the encryption key file '\(scratch.path)/key' (PGBACKUP_ENCRYPTION_KEY_FILE): No such file or directory"),
                ([:], "encryption_key_file: /etc/pgbackup/key\n", "unable to use the encryption key file '/etc/pgbackup/key' (encryption_key_file in \(scratch.path)/pgbackup.yaml)"),
            ]
            for refusal in refusals {
                var arguments = ["init"]
                if let yaml = refusal.file {
                    try Data(yaml.utf8).write(to: URL(fileURLWithPath: scratch.path + "/pgbackup.yaml"))
                    arguments += ["--config", scratch.path + "/pgbackup.yaml"]
                }
                let result = try await PGBackupBinary.run(arguments, environment: environment.merging(refusal.environment) { $1 })
                #expect(result.status == 2, "\(refusal.text): \(result.standardError)")
                #expect(result.standardError.contains(refusal.text), "\(result.standardError)")
                #expect(try await Self.nothingStored(repository), "\(refusal.text): the repository was written")
            }

            // The same command without them stores the repository.
            let initialized = try await PGBackupBinary.run(["init"], environment: environment)
            try #require(initialized.status == 0, "\(initialized.standardError)")
            #expect(try await !Self.nothingStored(repository))

            // wal-fetch (restore_command): a missing file exits 1, quietly; a key file that
            // cannot be used is no "missing file": it says why (it cannot read the archive).
            let fetched = try await PGBackupBinary.run(["wal-fetch", "000000010000000000000FFF", scratch.path + "/fetched"], environment: environment)
            #expect(fetched.status == 1 && fetched.standardError.isEmpty, "\(fetched.standardError)")
            var fetchEnvironment = environment
            for refusal in refusals { fetchEnvironment.merge(refusal.environment) { $1 } }
            let keyless = try await PGBackupBinary.run(["wal-fetch", "000000010000000000000FFF", scratch.path + "/fetched"], environment: fetchEnvironment)
            #expect(keyless.status == 2 && keyless.standardError.contains("unable to use the encryption key file"), "\(keyless.standardError)")

            // A spool that cannot be created names the settings that move it.
            let notADirectory = scratch.path + "/not-a-directory"
            try Data("x".utf8).write(to: URL(fileURLWithPath: notADirectory))
            var daemonEnvironment = environment
            daemonEnvironment["PGBACKUP_SPOOL"] = notADirectory + "/spool"
            let daemon = try await PGBackupBinary.run(["daemon"], environment: daemonEnvironment, timeout: .seconds(60))
            #expect(daemon.status == 1, "\(daemon.standardError)")
            #expect(daemon.standardError.contains("unable to create directory '\(notADirectory)"), "\(daemon.standardError)")
            #expect(daemon.standardError.contains("HINT: the WAL spool lives under /var/lib/pgbackup/spool unless told otherwise: point --spool (daemon), PGBACKUP_SPOOL or `spool_directory:`"), "\(daemon.standardError)")
        }
    }

    @Test(arguments: RepositoryKind.tested)
    func aStandbyRestoreDoesNotCopyPgbackupsPasswordAndItsConfigurationFileIsPrivate(kind: RepositoryKind) async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        try await withPostgresCluster(RestoreEndToEndTests.options) { cluster in
            let fixture = try await DaemonFixture(kind, cluster: cluster, scratch: scratch)
            #expect(fixture.conninfo.contains("password="))  // pgbackup's own conninfo holds a password
            try await cluster.sql("CREATE TABLE rows (batch int, id int)")
            _ = try await RestoreEndToEndTests.commitBatch(1, on: cluster)
            _ = try await backupSummary(fixture)

            // The data directory exists, owned by the server's user, as an operator prepares it.
            let directory = scratch.path + "/standby"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
            try cluster.serverUser.takeOwnership(ofTree: directory)
            let restored = try await PGBackupBinary.run(["restore", "--pgdata", directory, "--standby"], environment: fixture.environment)
            try #require(restored.status == 0, "\(restored.standardError)")

            let autoConf = try String(contentsOfFile: directory + "/postgresql.auto.conf", encoding: .utf8)
            let primary = try #require(autoConf.split(separator: "\n").last { $0.hasPrefix("primary_conninfo = ") })
            #expect(primary.contains("host=") && primary.contains("port=\(cluster.port)") && primary.contains(cluster.replicationUser), "\(primary)")
            #expect(!autoConf.contains("password"), "\(primary)")
            #expect(!autoConf.contains(cluster.replicationPassword))
            #expect(restored.standardError.contains("the standby authenticates on its own, with the ~/.pgpass of the server's OS user or a passfile="), "\(restored.standardError)")
            #expect(!restored.standardError.contains(cluster.replicationPassword))

            // The restore_command's configuration file: mode 0600, the server's user's, complete.
            var info = stat()
            try #require(stat(directory + ".pgbackup.yaml", &info) == 0)
            #expect(info.st_mode & 0o7777 == 0o600)
            #expect(info.st_uid == cluster.serverUser.uid && info.st_gid == cluster.serverUser.gid)
            let configuration = try String(contentsOfFile: directory + ".pgbackup.yaml", encoding: .utf8)
            #expect(configuration.contains("repository: \"\(fixture.repository.url)\""))
            // No temporary file is left next to it.
            #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path).filter { $0.hasSuffix(".tmp") }.isEmpty)
        }
    }

    /// Whether the repository holds nothing at all (a file:// one: its directory does not exist).
    static func nothingStored(_ repository: TestRepository) async throws -> Bool {
        if let directory = repository.directory { return !FileManager.default.fileExists(atPath: directory) }
        return try await repository.keys(under: "").isEmpty
    }
}
