import Foundation
import Testing
import PGBackupTestSupport

/// Policies through the binary (issue #11): a shipped policy is found by name, an unknown name
/// and a malformed file are refused (exit 2) before anything is stored, and the daemon refuses
/// a schedule it does not run yet.
@Suite("policies, end to end")
struct PolicyEndToEndTests {
    @Test func policiesAreFoundByNameValidatedByEveryCommandAndTheDaemonRefusesABadOne() async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        try await withPostgresCluster(DaemonFixture.options) { cluster in
            let repository = try await TestRepository.make(.file, in: scratch)
            let environment = repository.environment.merging(["PGBACKUP_CONNINFO": cluster.conninfo(replication: true)]) { $1 }
            func run(_ arguments: [String], _ extra: [String: String]) async throws -> ProcessResult {
                try await PGBackupBinary.run(arguments, environment: environment.merging(extra) { $1 }, timeout: .seconds(60))
            }

            // Bad policies are refused before `init` stores anything.
            let malformed = scratch.path + "/malformed.yaml"
            try Data("retention:\n  redundancy: 3\n  recovery_window: 7 parsecs\n".utf8).write(to: URL(fileURLWithPath: malformed))
            let unknownKey = scratch.path + "/unknown-key.yaml"
            try Data("retention:\n  keep_dayly: 7\n".utf8).write(to: URL(fileURLWithPath: unknownKey))
            let refusals: [(policy: String, text: String)] = [
                ("weekly", "invalid value 'weekly' for PGBACKUP_POLICY: no policy of that name; the policies found are default, dev, gfs"),
                (malformed, "invalid value '7 parsecs' for retention.recovery_window in \(malformed): expected a duration: a whole number with a unit s, m, h, d or w"),
                (unknownKey, "unknown setting 'retention.keep_dayly' in '\(unknownKey)'; allowed here: redundancy, recovery_window, keep_daily"),
            ]
            for refusal in refusals {
                let result = try await run(["init"], ["PGBACKUP_POLICY": refusal.policy])
                #expect(result.status == 2, "\(refusal.policy): \(result.standardError)")
                #expect(result.standardError.contains(refusal.text), "\(result.standardError)")
                #expect(try await SettingsEndToEndTests.nothingStored(repository), "\(refusal.policy): the repository was written")
            }
            let unknown = try await run(["list"], ["PGBACKUP_POLICY": "weekly"])
            #expect(unknown.status == 2 && unknown.standardError.contains("(searched "), "\(unknown.standardError)")

            // A shipped policy, by name from the environment or the configuration file, and by path.
            let initialized = try await run(["init"], ["PGBACKUP_POLICY": "gfs"])
            try #require(initialized.status == 0, "\(initialized.standardError)")
            let configuration = scratch.path + "/pgbackup.yaml"
            try Data("policy: dev\n".utf8).write(to: URL(fileURLWithPath: configuration))
            for (extra, arguments) in [
                (["PGBACKUP_POLICY": "gfs"], ["list"]),
                (["PGBACKUP_POLICY": "default"], ["list", "--json"]),
                ([:], ["list", "--config", configuration]),
            ] {
                let listed = try await run(arguments, extra)
                #expect(listed.status == 0, "\(extra) \(arguments): \(listed.standardError)")
            }

            // PGBACKUP_POLICY_DIR comes first.
            let directory = scratch.path + "/policies"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try Data("retention:\n  keep_daily: 7\n  wal: sometimes\n".utf8).write(to: URL(fileURLWithPath: directory + "/gfs.yaml"))
            let shadowed = try await run(["list"], ["PGBACKUP_POLICY": "gfs", "PGBACKUP_POLICY_DIR": directory])
            #expect(shadowed.status == 2, "\(shadowed.standardError)")
            #expect(shadowed.standardError.contains("invalid value 'sometimes' for retention.wal in \(directory)/gfs.yaml: expected pitr"), "\(shadowed.standardError)")

            // An installed binary (PREFIX/bin, as scripts/build lays it out) finds the policies in
            // PREFIX/share/pgbackup/policies, with no source checkout above it.
            let prefix = scratch.path + "/prefix"
            try FileManager.default.createDirectory(atPath: prefix + "/bin", withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: prefix + "/share/pgbackup/policies", withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: PGBackupBinary.path, toPath: prefix + "/bin/pgbackup")
            try Data("retention:\n  redundancy: 4\n  wal: never\n".utf8).write(to: URL(fileURLWithPath: prefix + "/share/pgbackup/policies/installed.yaml"))
            var installedEnvironment = environment
            installedEnvironment["PGBACKUP_POLICY"] = "installed"
            installedEnvironment["PGBACKUP_CONFIG"] = "/dev/null"
            installedEnvironment["PATH"] = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
            let installed = try await runProcess(prefix + "/bin/pgbackup", ["list"], environment: installedEnvironment)
            #expect(installed.status == 2, "\(installed.standardError)")
            #expect(installed.standardError.contains("invalid value 'never' for retention.wal in \(prefix)/share/pgbackup/policies/installed.yaml"), "\(installed.standardError)")

            // The daemon refuses a policy that does not load, before it streams anything.
            let daemon = try await run(["daemon", "--spool", scratch.path + "/spool"], ["PGBACKUP_POLICY": "weekly"])
            #expect(daemon.status == 2, "\(daemon.standardError)")
            #expect(daemon.standardError.contains("invalid value 'weekly' for PGBACKUP_POLICY: no policy of that name"), "\(daemon.standardError)")
            #expect(!FileManager.default.fileExists(atPath: scratch.path + "/spool"))

            // wal-fetch (restore_command) does not refuse a bad policy: a missing segment exits 1, quietly.
            let fetched = try await run(["wal-fetch", "000000010000000000000FFF", scratch.path + "/fetched"], ["PGBACKUP_POLICY": "weekly"])
            #expect(fetched.status == 1 && fetched.standardError.isEmpty, "\(fetched.standardError)")
        }
    }
}
