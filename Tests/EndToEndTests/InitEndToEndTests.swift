import Foundation
import Testing
import PGBackupTestSupport

/// On file:// only: these tests read `repository.json` where a file:// repository keeps it. Every
/// s3:// end-to-end test starts with `pgbackup init` on moto (`DaemonFixture`), and
/// `S3BadInputEndToEndTests` covers init's S3 errors.
@Suite("pgbackup init, end to end")
struct InitEndToEndTests {
    @Test func initCreatesTheRepositoryAndIsIdempotent() async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        try await withPostgresCluster { cluster in
            let env = ["PGBACKUP_REPO": "file://\(scratch.path)/repo", "PGBACKUP_CONNINFO": cluster.conninfo(replication: true)]
            let first = try await PGBackupBinary.run(["init"], environment: env)
            #expect(first.status == 0, "stderr: \(first.standardError)")
            #expect(first.standardOutput.contains("initialized: server 'main'"))

            let systemIdentifier = try await cluster.sql("SELECT system_identifier FROM pg_control_system()")
                .trimmingCharacters(in: .whitespacesAndNewlines)
            let document = try JSONSerialization.jsonObject(
                with: Data(contentsOf: URL(fileURLWithPath: "\(scratch.path)/repo/main/repository.json"))) as! [String: Any]
            #expect(document["systemIdentifier"] as? String == systemIdentifier)
            #expect(document["walSegmentSize"] as? Int == 16 << 20)
            #expect((document["postgresVersionNumber"] as? Int).map { $0 / 10000 } == cluster.major)

            let second = try await PGBackupBinary.run(["init", "--json"], environment: env)
            #expect(second.status == 0, "stderr: \(second.standardError)")
            let result = try JSONSerialization.jsonObject(with: second.standardOutputData) as! [String: Any]
            #expect(result["created"] as? Bool == false)
            #expect(result["systemIdentifier"] as? String == systemIdentifier)
            #expect(result["server"] as? String == "main")
        }
    }

    @Test func anotherClustersRepositoryIsRefused() async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let repo = "file://\(scratch.path)/repo"
        try await withPostgresCluster { first in
            let created = try await PGBackupBinary.run(["init"], environment: ["PGBACKUP_REPO": repo, "PGBACKUP_CONNINFO": first.conninfo(replication: true)])
            #expect(created.status == 0, "stderr: \(created.standardError)")
        }
        try await withPostgresCluster { second in
            let before = try Data(contentsOf: URL(fileURLWithPath: "\(scratch.path)/repo/main/repository.json"))
            let refused = try await PGBackupBinary.run(["init"], environment: ["PGBACKUP_REPO": repo, "PGBACKUP_CONNINFO": second.conninfo(replication: true)])
            #expect(refused.status == 1)
            #expect(refused.standardError.contains("belongs to database system"))
            #expect(refused.standardError.contains("HINT"))
            #expect(try Data(contentsOf: URL(fileURLWithPath: "\(scratch.path)/repo/main/repository.json")) == before)

            // The same cluster under another server name is fine: a repository holds several servers.
            let other = try await PGBackupBinary.run(["init", "--server", "second"], environment: ["PGBACKUP_REPO": repo, "PGBACKUP_CONNINFO": second.conninfo(replication: true)])
            #expect(other.status == 0, "stderr: \(other.standardError)")
            #expect(FileManager.default.fileExists(atPath: "\(scratch.path)/repo/second/repository.json"))
        }
    }

    @Test func anUnreachableServerFailsWithExitCode1() async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let result = try await PGBackupBinary.run(["init"], environment: [
            "PGBACKUP_REPO": "file://\(scratch.path)/repo",
            "PGBACKUP_CONNINFO": "host=127.0.0.1 port=1 user=replicator connect_timeout=5",
        ])
        #expect(result.status == 1)
        #expect(result.standardError.contains("unable to connect"))
        #expect(result.standardError.contains("127.0.0.1"))
        #expect(!FileManager.default.fileExists(atPath: "\(scratch.path)/repo/main/repository.json"))
    }

    @Test func aWrongPasswordFailsWithoutShowingIt() async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        try await withPostgresCluster { cluster in
            let conninfo = cluster.conninfo(user: cluster.replicationUser, password: "not-the-password-4711")
            let result = try await PGBackupBinary.run(["init", "--log-level", "trace"], environment: [
                "PGBACKUP_REPO": "file://\(scratch.path)/repo", "PGBACKUP_CONNINFO": conninfo,
            ])
            #expect(result.status == 1)
            #expect(result.standardError.contains("authentication"))
            #expect(!result.standardError.contains("not-the-password-4711"))
            #expect(!result.standardOutput.contains("not-the-password-4711"))
        }
    }

    @Test(arguments: [
        (["init"], ["PGBACKUP_CONNINFO": "host=x"], "no repository configured"),
        (["init"], ["PGBACKUP_REPO": "file:///tmp/x"], "no conninfo configured"),
        (["init"], ["PGBACKUP_REPO": "file:///tmp/x", "PGBACKUP_CONNINFO": "host=x", "PGBACKUP_COMPRESSION": "lz4"], "PGBACKUP_COMPRESSION"),
        (["init"], ["PGBACKUP_REPO": "relative/path"], "file:///absolute/path"),
        (["init", "--config", "/nonexistent/pgbackup.yaml"], [:], "unable to read configuration file"),
        (["init", "--no-such-option"], [:], "Unknown option"),
        (["no-such-command"], [:], "Unexpected argument"),
    ])
    func configurationAndUsageErrorsExitWith2(arguments: [String], environment: [String: String], message: String) async throws {
        let result = try await PGBackupBinary.run(arguments, environment: environment)
        #expect(result.status == 2, "stdout: \(result.standardOutput) stderr: \(result.standardError)")
        #expect(result.standardError.contains(message), "stderr: \(result.standardError)")
    }

    @Test func aConfigurationFileWithSeveralServers() async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        try await withPostgresCluster { cluster in
            let config = "\(scratch.path)/pgbackup.yaml"
            try """
                repository: file://\(scratch.path)/repo
                servers:
                  alpha:
                    conninfo: "\(cluster.conninfo(replication: true))"
                  beta:
                    conninfo: "host=127.0.0.1 port=1"
                """.write(toFile: config, atomically: true, encoding: .utf8)
            let ambiguous = try await PGBackupBinary.run(["init", "--config", config])
            #expect(ambiguous.status == 2)
            #expect(ambiguous.standardError.contains("several servers (alpha, beta)"))
            let chosen = try await PGBackupBinary.run(["init", "--config", config, "--server", "alpha"])
            #expect(chosen.status == 0, "stderr: \(chosen.standardError)")
            #expect(FileManager.default.fileExists(atPath: "\(scratch.path)/repo/alpha/repository.json"))
            let password = cluster.replicationPassword
            #expect(!chosen.standardError.contains(password) && !chosen.standardOutput.contains(password))
        }
    }

    @Test func helpReadsLikeARealTool() async throws {
        let help = try await PGBackupBinary.run(["--help"])
        #expect(help.status == 0)
        for text in ["Backup and point-in-time recovery for PostgreSQL", "init", "PGBACKUP_REPO", "Exit codes"] {
            #expect(help.standardOutput.contains(text), "missing '\(text)'")
        }
        let initHelp = try await PGBackupBinary.run(["init", "--help"])
        #expect(initHelp.status == 0)
        for text in ["--config", "--server", "--json", "--log-format", "system identifier", "Idempotent"] {
            #expect(initHelp.standardOutput.contains(text), "missing '\(text)'")
        }
        let version = try await PGBackupBinary.run(["--version"])
        #expect(version.status == 0 && !version.standardOutput.isEmpty)
    }
}
