import Foundation
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
        #expect(try load("postgres_bindir: /opt/pg15/bin").postgresBindir == "/opt/pg15/bin")
        #expect(try load("postgres_bindir: /opt/pg15/bin", ["PGBACKUP_POSTGRES_BINDIR": "/usr/lib/postgresql/15/bin"]).postgresBindir == "/usr/lib/postgresql/15/bin")
        #expect(throws: ConfigurationError.self) { try load("postgres_bindir: relative/bin") }
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
