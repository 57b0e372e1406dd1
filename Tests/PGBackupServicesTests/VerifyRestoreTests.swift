import Foundation
import PGBackupFoundations
import Testing
@testable import PGBackupServices

/// The pure parts of `verify-restore`: the check SQL's verdict and the `postgres_bindir` setting.
struct VerifyRestoreTests {
    @Test func aFirstColumnFalseFailsTheCheckSQLAndAnythingElsePasses() {
        #expect(VerifyRestoreService.checkSQLVerdict(output: "t\nt|rows today\n").ok)
        #expect(VerifyRestoreService.checkSQLVerdict(output: "").ok)
        #expect(VerifyRestoreService.checkSQLVerdict(output: "42\nfalsehood|x\ntrue\n").ok)
        let failed = VerifyRestoreService.checkSQLVerdict(output: "t\nf|orders from today\nt\n")
        #expect(!failed.ok && failed.name == "check_sql" && failed.detail.contains("f|orders from today"))
        #expect(!VerifyRestoreService.checkSQLVerdict(output: "false\n").ok)
    }

    @Test func postgresBindirComesFromTheFileOrTheEnvironmentAndMustBeAbsolute() throws {
        func load(_ yaml: String?, _ env: [String: String] = [:]) throws -> Settings {
            try SettingsLoader.settings(yaml: yaml, path: "/etc/pgbackup/pgbackup.yaml", environment: env, server: nil)
        }
        #expect(try load(nil).postgresBindir == nil)
        #expect(try load("postgres_bindir: /opt/pg15/bin").postgresBindir == PostgresBindirs(directory: "/opt/pg15/bin"))
        #expect(try load("postgres_bindir: /opt/pg15/bin", ["PGBACKUP_POSTGRES_BINDIR": "/usr/lib/postgresql/15/bin"]).postgresBindir
            == PostgresBindirs(directory: "/usr/lib/postgresql/15/bin"))
        #expect(throws: ConfigurationError.self) { try load("postgres_bindir: relative/bin") }
    }

    @Test func postgresBindirNamesOneDirectoryPerMajor() throws {
        func load(_ yaml: String?, _ env: [String: String] = [:]) throws -> Settings {
            try SettingsLoader.settings(yaml: yaml, path: "/etc/pgbackup/pgbackup.yaml", environment: env, server: nil)
        }
        let both = PostgresBindirs(byMajor: [16: "/usr/lib/postgresql/16/bin", 18: "/opt/pg18/bin"])
        #expect(try load("postgres_bindir: \"16=/usr/lib/postgresql/16/bin,18=/opt/pg18/bin\"").postgresBindir == both)
        #expect(try load(nil, ["PGBACKUP_POSTGRES_BINDIR": "16=/usr/lib/postgresql/16/bin 18=/opt/pg18/bin"]).postgresBindir == both)
        for refused in ["16=relative/bin", "sixteen=/opt/bin", "16=/a,16=/b", "16=/a,/b"] {
            #expect(throws: ConfigurationError.self, "\(refused)") { try load(nil, ["PGBACKUP_POSTGRES_BINDIR": refused]) }
        }
    }

    @Test func serverBinariesOfAnotherMajorAreRefusedNamingTheSettingAndTheMajor() async throws {
        let debian15 = "/usr/lib/postgresql/15/bin"
        try #require(FileManager.default.isExecutableFile(atPath: debian15 + "/postgres"), "scripts/install-deps test installs postgresql-15")
        // The one-directory form: used only for its own major.
        #expect(try await ServerBinaries.find(major: 15, configured: PostgresBindirs(directory: debian15)).directory == debian15)
        do {
            _ = try await ServerBinaries.find(major: 18, configured: PostgresBindirs(directory: debian15))
            Issue.record("15's binaries were accepted for an 18 backup")
        } catch let error as ServerToolError {
            #expect(error == .wrongServerBinaries(major: 18, directory: debian15, found: 15))
            #expect("\(error)".contains("postgres_bindir") && "\(error)".contains("18="))
        }
        // The per-major form: a named major that is missing is an error naming the setting and the major.
        do {
            _ = try await ServerBinaries.find(major: 17, configured: PostgresBindirs(byMajor: [17: "/nonexistent/17/bin"]))
            Issue.record("a missing 17 directory was accepted")
        } catch let error as ServerToolError {
            guard case let .noServerBinaries(major, tried) = error else { Issue.record("\(error)"); return }
            #expect(major == 17 && tried.joined().contains("postgres_bindir 17=/nonexistent/17/bin"))
            #expect("\(error)".contains("PostgreSQL 17") && "\(error)".contains("PGBACKUP_POSTGRES_BINDIR"))
        }
        #expect(PostgresVersion.major(fromVersionOutput: "postgres (PostgreSQL) 16.14\n") == 16)
        #expect(PostgresVersion.major(fromVersionOutput: "pg_config (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)") == 15)
    }

    @Test func verifyRunAsComesFromTheFileOrTheEnvironment() throws {
        func load(_ yaml: String?, _ env: [String: String] = [:]) throws -> Settings {
            try SettingsLoader.settings(yaml: yaml, path: "/etc/pgbackup/pgbackup.yaml", environment: env, server: nil)
        }
        #expect(try load(nil).verifyRunAs == nil)
        #expect(try load("verify_run_as: postgres").verifyRunAs == "postgres")
        #expect(try load("verify_run_as: postgres", ["PGBACKUP_VERIFY_RUN_AS": "pgbackup"]).verifyRunAs == "pgbackup")
    }
}
