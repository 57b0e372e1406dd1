import Foundation
import PGBackupFoundations
import PGBackupRepository
import PGBackupTestSupport
import PropertyBased
import Testing
@testable import PGBackupServices

/// `CheckDecision` (pure: what `check` measured in, the report out).
@Suite("check decision")
struct CheckDecisionTests {
    static let now = Date(timeIntervalSince1970: 1_800_000_000)
    static let system: SystemIdentifier = 7_311_234_567_890_123_456
    static let info = RepositoryInfo(server: "main", systemIdentifier: system, postgresVersionNumber: 160_004, walSegmentSize: 16_777_216, createdBy: "test")
    static let size = try! WALSegmentSize(megabytes: 16)

    static func primary(system: SystemIdentifier? = CheckDecisionTests.system, version: Int = 160_004, inRecovery: Bool = false) -> PrimaryState {
        PrimaryState(
            server: "db1:5432", inRecovery: inRecovery, systemIdentifier: system, systemIdentifierProblem: nil,
            currentLSN: LSN(0x3000000), now: now, slot: .init(active: true, restartLSN: LSN(0x2F00000)), versionNumber: version)
    }

    static let archive = CheckInputs.Archive(
        segmentSize: size, continuity: WALContinuity(entries: [], segmentSize: size), histories: [:], end: LSN(0x3000000),
        newestTime: now, backups: [], gaps: [])
    static let backups = CheckInputs.Backups(newestID: "20270115T080000Z", newestStop: now - 3600, newestChecksumFailures: nil, complete: 2)

    static func inputs(
        repository: CheckInputs.RepositoryReading = .opened(location: "file:///repo", keyID: nil, encryption: "none", info: info),
        primary: CheckInputs.Measured<CheckInputs.Primary> = .measured(.init(state: primary(), splitBrain: nil))
    ) -> CheckInputs {
        var inputs = CheckInputs(
            server: "main", slot: "pgbackup", policyName: nil, policy: nil, conninfo: "host=db1,db2 password=********", now: now,
            repository: repository, primary: primary)
        if repository.info != nil {
            inputs.archive = .measured(archive)
            inputs.backups = .measured(backups)
            inputs.verification = .measured(nil)
            inputs.diverged = .measured(.init(records: [], newestBackupID: nil, newestBackupStop: nil))
        }
        return inputs
    }

    static func result(_ report: CheckReport, _ name: String) -> CheckResult {
        report.checks.first { $0.name == name }!
    }

    @Test func aHealthyClusterIsHealthyEverywhereInTheFixedOrder() {
        let report = CheckDecision.report(Self.inputs())
        #expect(report.checks.map(\.name) == CheckDecision.names + ["diverged"])
        let unhealthy = report.checks.filter { !$0.ok }
        #expect(unhealthy.isEmpty, "\(unhealthy)")
        #expect(Self.result(report, "repository").detail
            == "file:///repo reachable, initialized for server 'main' (system identifier \(Self.system)), not encrypted, the same as db1:5432")
        #expect(Self.result(report, "primary").detail == "db1:5432 is a primary (not in recovery), system identifier \(Self.system), WAL at 0/3000000")
    }

    @Test func anUnreachableRepositoryLeavesItsChecksUnmeasured() {
        let report = CheckDecision.report(Self.inputs(repository: .failed(reason: "connection refused")))
        #expect(report.checks.map(\.name) == CheckDecision.names + ["diverged"])
        #expect(Self.result(report, "repository") == CheckResult(name: "repository", ok: false, detail: "unable to read the repository: connection refused"))
        for name in ["wal", "continuity", "backup_age", "backup_checksums", "redundancy", "verification", "diverged"] {
            #expect(Self.result(report, name).detail == "not checked: the repository is unreachable (see the repository check)")
        }
        #expect(Self.result(report, "primary").ok && Self.result(report, "slot").ok)

        let uninitialized = CheckDecision.report(Self.inputs(repository: .notInitialized(server: "main", location: "s3://b/p")))
        #expect(Self.result(uninitialized, "repository").detail == "s3://b/p has no repository for server 'main'; HINT: run `pgbackup init`")
    }

    @Test func anotherClusterFailsTheRepositoryAndThePrimaryAndAnUpgradeSaysWhatToRun() {
        let other = CheckDecision.report(Self.inputs(primary: .measured(.init(state: Self.primary(system: 42), splitBrain: nil))))
        #expect(Self.result(other, "repository").detail.hasPrefix("the repository belongs to system identifier \(Self.system) (PostgreSQL 16) but db1:5432 is 42 (PostgreSQL 16): a different cluster"))
        #expect(Self.result(other, "primary").detail.hasPrefix("db1:5432 is a primary of system identifier 42, not the repository's \(Self.system)"))

        let upgraded = Self.result(CheckDecision.report(Self.inputs(primary: .measured(.init(state: Self.primary(system: 42, version: 180_001), splitBrain: nil)))), "repository")
        #expect(!upgraded.ok && !upgraded.detail.contains("\n") && upgraded.detail.contains("; HINT:") && upgraded.detail.contains("init --upgrade"))
    }

    @Test func thePrimaryVerdicts() {
        let standbys = Self.result(CheckDecision.report(Self.inputs(primary: .failed(reason: "db1:5432: standby on timeline 2"))), "primary")
        #expect(standbys.detail == "no primary reachable: only standbys answered, no primary was found: db1:5432: standby on timeline 2; HINT: list the current primary in PGBACKUP_CONNINFO (host=db1,db2 password=********)")
        let down = CheckDecision.report(Self.inputs(primary: .failed(reason: "connection refused")))
        #expect(Self.result(down, "primary").detail == "no primary reachable: connection refused; HINT: check that the server runs and PGBACKUP_CONNINFO (host=db1,db2 password=********)")
        #expect(Self.result(down, "repository").detail.hasSuffix("; not compared with the primary (none reachable)"))
        #expect(Self.result(down, "slot").detail == "replication slot 'pgbackup' not checked: no primary reachable")
        #expect(Self.result(down, "wal").detail.hasPrefix("not measured: no primary to compare with"))

        let alert = "ALERT: split brain: db1:5432 and db2:5432 both answer as primary"
        let split = Self.result(CheckDecision.report(Self.inputs(primary: .measured(.init(state: Self.primary(), splitBrain: alert)))), "primary")
        #expect(split == CheckResult(name: "primary", ok: false, detail: alert))
        let standby = Self.result(CheckDecision.report(Self.inputs(primary: .measured(.init(state: Self.primary(inRecovery: true), splitBrain: nil)))), "primary")
        #expect(!standby.ok && standby.detail.hasPrefix("db1:5432 answered but is in recovery"))
    }

    /// On random measurements: the report always holds every check once in the fixed order,
    /// and each measurement that failed makes exactly its own checks unhealthy, naming its reason.
    @Test func aFailedMeasurementFailsOnlyItsOwnChecks() async {
        await propertyCheck(count: 200, input: Gen.uint64()) { (seed: UInt64) in
            var rng = SeededGenerator(seed: seed)
            var inputs = Self.inputs()
            var failed: Set<String> = []
            if Bool.random(using: &rng) { inputs.archive = .failed(reason: "archive-\(seed)"); failed.formUnion(["wal", "continuity"]) }
            if Bool.random(using: &rng) { inputs.backups = .failed(reason: "backups-\(seed)"); failed.formUnion(["backup_age", "backup_checksums", "redundancy"]) }
            if Bool.random(using: &rng) { inputs.verification = .failed(reason: "verification-\(seed)"); failed.insert("verification") }
            if Bool.random(using: &rng) { inputs.diverged = .failed(reason: "diverged-\(seed)"); failed.insert("diverged") }
            let report = CheckDecision.report(inputs)
            #expect(report.checks.map(\.name) == CheckDecision.names + ["diverged"], "seed \(seed)")
            #expect(Set(report.checks.filter { !$0.ok }.map(\.name)) == failed, "seed \(seed)")
            for check in report.checks where failed.contains(check.name) {
                #expect(check.detail.hasPrefix("unable to ") && check.detail.hasSuffix("-\(seed)"), "seed \(seed): \(check.detail)")
            }
        }
    }
}
