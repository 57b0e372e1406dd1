import Foundation
import Testing
@testable import PGBackupServices

/// Policy files: the shipped ones load, bad ones are refused naming the key (issue #11).
@Suite("policy: loader")
struct PolicyLoaderTests {
    /// The checkout's `policies/`.
    static let shipped = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("policies").path
    let path = "/etc/pgbackup/policies/test.yaml"

    func policy(_ yaml: String) throws -> Policy {
        try PolicyFile.policy(yaml: yaml, path: path)
    }

    static func shippedFiles() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: shipped).filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }.sorted()
    }

    @Test func everyShippedPolicyLoads() throws {
        let files = try Self.shippedFiles()
        #expect(files.count >= 3, "\(files)")
        for file in files {
            let policy = try Settings.loadPolicy(atPath: Self.shipped + "/" + file)
            // Each keeps backups by some rule, with a floor, and says when a backup is late.
            let rules = try #require(policy.retention, "\(file)")
            #expect(rules.minimumRedundancy != nil, "\(file)")
            #expect(policy.schedule?.backup != nil, "\(file)")
            #expect(policy.alerts?.backupMaxAge != nil, "\(file)")
        }
    }

    @Test func theShippedPoliciesSayWhatTheIssueAsks() throws {
        func load(_ name: String) throws -> Policy {
            var settings = Settings()
            settings.policy = name
            settings.policyDirectory = Self.shipped
            return try #require(try settings.loadPolicy())
        }
        let standard = try load("default")
        #expect(standard.retention == RetentionRules(recoveryWindow: 7 * 86_400, minimumRedundancy: 2, wal: .pitr))
        #expect(standard.schedule?.backup == .cron(try CronExpression(parsing: "0 1 * * *")))
        #expect(standard.alerts?.slotRetainedMax == 2 << 30)
        #expect(standard.path == Self.shipped + "/default.yaml")

        let gfs = try load("gfs")
        #expect(gfs.retention == RetentionRules(keepDaily: 7, keepWeekly: 4, keepMonthly: 12, keepYearly: 3, minimumRedundancy: 2, wal: .pitr))

        let dev = try load("dev")
        #expect(dev.schedule?.backup == .every(300))
        #expect(dev.retention == RetentionRules(redundancy: 2, recoveryWindow: 3_600, minimumRedundancy: 1, wal: .pitr))
    }

    @Test func aFullPolicyDecodes() throws {
        let policy = try policy("""
            schedule:
              backup: "every 6h"
              verify_restore: "30 2 * * sun"
            retention:
              redundancy: 3
              recovery_window: 2w
              keep_monthly: 6
              wal: consistency
            verification:
              check_sql: /etc/pgbackup/checks.sql
            alerts:
              backup_max_age: 7h
              wal_max_age: 90s
              slot_retained_max: 1024kB
              slot_retained_drop: true
            """)
        #expect(policy.schedule?.backup == .every(21_600))
        #expect(policy.schedule?.verifyRestore?.description == "30 2 * * sun")
        #expect(policy.retention == RetentionRules(redundancy: 3, recoveryWindow: 1_209_600, keepMonthly: 6, wal: .consistency))
        #expect(policy.verification?.checkSQL == "/etc/pgbackup/checks.sql")
        #expect(policy.alerts == .init(backupMaxAge: 25_200, walMaxAge: 90, slotRetainedMax: 1 << 20, slotRetainedDrop: true))
    }

    @Test func anEmptyPolicyKeepsEverything() throws {
        #expect(try policy("").retention == nil)
        #expect(try policy("alerts:\n  wal_max_age: 5m").retention == nil)
    }

    @Test(arguments: [
        ("retention:\n  recovery_window: 7 parsecs", "invalid value '7 parsecs' for retention.recovery_window in /etc/pgbackup/policies/test.yaml: expected a duration"),
        ("retention:\n  redundancy: -1", "invalid value '-1' for retention.redundancy in /etc/pgbackup/policies/test.yaml: expected a whole number of at least 1"),
        ("retention:\n  keep_daily: 0", "invalid value '0' for retention.keep_daily in"),
        ("retention:\n  redundancy: 2\n  minimum_redundancy: 0", "invalid value '0' for retention.minimum_redundancy in"),
        ("retention:\n  redundancy: 2\n  wal: sometimes", "invalid value 'sometimes' for retention.wal in /etc/pgbackup/policies/test.yaml: expected pitr"),
        ("schedule:\n  backup: \"0 25 * * *\"", "invalid value '0 25 * * *' for schedule.backup in /etc/pgbackup/policies/test.yaml: '25' is not a valid hour (0-23)"),
        ("schedule:\n  verify_restore: every 7 parsecs", "invalid value 'every 7 parsecs' for schedule.verify_restore in"),
        ("alerts:\n  slot_retained_max: 2 gigs", "invalid value '2 gigs' for alerts.slot_retained_max in /etc/pgbackup/policies/test.yaml: expected a size"),
        ("alerts:\n  slot_retained_drop: sometimes", "invalid value 'sometimes' for alerts.slot_retained_drop in /etc/pgbackup/policies/test.yaml: expected true or false"),
        ("alerts:\n  backup_max_age: soon", "invalid value 'soon' for alerts.backup_max_age in"),
        ("verification:\n  check_sql: checks.sql", "invalid value 'checks.sql' for verification.check_sql in /etc/pgbackup/policies/test.yaml: expected an absolute path"),
        ("retention:\n  keep_daily: [7]", "invalid value for retention.keep_daily in /etc/pgbackup/policies/test.yaml: expected a single value"),
        ("retention:\n  keep_daily:", "invalid value for retention.keep_daily in /etc/pgbackup/policies/test.yaml: expected a single value"),
        ("retention:\n  minimum_redundancy: 2\n  wal: pitr", "invalid value for retention in /etc/pgbackup/policies/test.yaml: sets no rule that keeps backups; set at least one of redundancy, recovery_window, keep_daily"),
        ("retention:", "unable to parse configuration file '/etc/pgbackup/policies/test.yaml': retention must be a mapping"),
        ("- a\n- b", "unable to parse configuration file '/etc/pgbackup/policies/test.yaml': the top level must be a mapping"),
    ])
    func impossibleValuesAreRefusedNamingTheKey(yaml: String, message: String) {
        #expect {
            try policy(yaml)
        } throws: { error in
            let text = "\(error)"
            return error is ConfigurationError && text.hasPrefix(message)
        }
    }

    @Test(arguments: [
        ("retention_policy:\n  redundancy: 2", "unknown setting 'retention_policy' in '/etc/pgbackup/policies/test.yaml'; allowed here: schedule, retention, verification, alerts"),
        ("retention:\n  keep_dayly: 7", "unknown setting 'retention.keep_dayly' in '/etc/pgbackup/policies/test.yaml'; allowed here: redundancy, recovery_window, keep_daily, keep_weekly, keep_monthly, keep_yearly, minimum_redundancy, wal"),
        ("schedule:\n  backups: \"0 1 * * *\"", "unknown setting 'schedule.backups' in '/etc/pgbackup/policies/test.yaml'; allowed here: backup, verify_restore"),
        ("verification:\n  sql: /x", "unknown setting 'verification.sql'"),
        ("alerts:\n  backup_age: 1d", "unknown setting 'alerts.backup_age'"),
    ])
    func unknownKeysAreRefusedAtEveryLevel(yaml: String, message: String) {
        #expect { try policy(yaml) } throws: { "\($0)".hasPrefix(message) }
    }

    @Test func aSyntaxErrorNeverEchoesTheLine() {
        #expect {
            try policy("retention:\n  redundancy: 3\n   keep_daily: [s3cret\n")
        } throws: { error in
            let text = "\(error)"
            return text.hasPrefix("unable to parse configuration file '\(path)': line ") && !text.contains("s3cret")
        }
    }
}
