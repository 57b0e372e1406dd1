import Foundation
import Testing
import PGBackupPostgres
import PGBackupFoundations
import PGBackupRepository
@testable import PGBackupServices

/// `check`'s decisions without a server: thresholds, WAL lag and age, continuity with the holes
/// retention makes on purpose.
@Suite("check: the decisions")
struct CheckRulesTests {
    static let segment = WALFixture.segmentSize.bytes
    static func lsn(_ segmentNumber: UInt64, plus offset: UInt64 = 0) -> LSN { LSN(segmentNumber * segment + offset) }
    static func backup(_ id: String, _ first: UInt64, _ last: UInt64, pin: BackupManifest.PinKind? = nil, timeline: UInt32 = 1) -> CheckContinuity.Backup {
        CheckContinuity.Backup(id: id, timeline: TimelineID(timeline), startLSN: lsn(first, plus: 40), stopLSN: lsn(last, plus: 100), pin: pin)
    }

    @Test func thresholdsDefaultWithoutAPolicyAndFollowTheAlerts() {
        let defaults = CheckThresholds(policy: nil)
        #expect(defaults.backupMaxAge == 26 * 3600)
        #expect(defaults.walMaxAge == 300)
        #expect(defaults.slotRetainedMax == 2 * 1024 * 1024 * 1024)
        #expect(defaults.minimumBackups == 1)
        let policy = Policy(path: "/p.yaml", retention: RetentionRules(minimumRedundancy: 3), alerts: Policy.Alerts(walMaxAge: 7))
        let custom = CheckThresholds(policy: policy)
        #expect(custom.walMaxAge == 7)
        #expect(custom.backupMaxAge == 26 * 3600)  // left out: the default
        #expect(custom.minimumBackups == 3)
    }

    @Test func backupAgeAndRedundancy() {
        let now = Date(timeIntervalSince1970: 1_000_000)
        #expect(!CheckRules.backupAge(newestStop: nil, newestID: nil, now: now, maxAge: 60).ok)
        #expect(CheckRules.backupAge(newestStop: now - 59, newestID: "b", now: now, maxAge: 60).ok)
        let old = CheckRules.backupAge(newestStop: now - 61, newestID: "b", now: now, maxAge: 60)
        #expect(!old.ok && old.detail.contains("HINT"))
        #expect(!CheckRules.redundancy(complete: 0, minimum: 1, policy: nil).ok)
        #expect(CheckRules.redundancy(complete: 2, minimum: 2, policy: "default").ok)
        #expect(!CheckRules.redundancy(complete: 1, minimum: 2, policy: "default").ok)
    }

    @Test func theNewestBackupsChecksumFailuresFailTheCheckNamingFilesAndPages() {
        #expect(CheckRules.backupChecksums(newestID: nil, failures: nil).ok)
        let clean = CheckRules.backupChecksums(newestID: "20261207T101500Z", failures: nil)
        #expect(clean.ok && clean.name == "backup_checksums" && clean.detail.contains("20261207T101500Z"))
        let failures = PageChecksumFailures(total: 8, files: [.init(path: "base/5/16384", pages: 8, blocks: [1, 3, 5, 6, 7])])
        let damaged = CheckRules.backupChecksums(newestID: "20261207T101500Z", failures: failures)
        #expect(!damaged.ok)
        #expect(damaged.detail.hasPrefix("newest backup 20261207T101500Z has checksum failures: 8 pages in 1 file: base/5/16384 (8 pages"), "\(damaged.detail)")
        #expect(damaged.detail.contains("HINT: run pg_amcheck"))
    }

    @Test func walLagIsHealthyWhenCaughtUpWhateverTheAge() {
        let now = Date(timeIntervalSince1970: 1_000_000)
        func wal(_ current: LSN, _ end: LSN?, age: TimeInterval?) -> CheckResult {
            CheckRules.wal(currentLSN: current, archiveEnd: end, serverNow: now, newestArchivedTime: age.map { now - $0 }, maxAge: 10, segmentSize: Self.segment)
        }
        #expect(wal(LSN(1000), LSN(1000), age: 3600).ok)  // idle and caught up
        #expect(wal(LSN(1000), LSN(900), age: 5).ok)  // behind, but recent
        let late = wal(LSN(1000), LSN(900), age: 11)
        #expect(!late.ok && late.detail.contains("100 B behind"))
        #expect(!wal(LSN(1000), nil, age: nil).ok)  // no WAL at all
        #expect(wal(LSN(1000), LSN(900), age: nil).ok)  // no server time: less than a segment behind
        #expect(!wal(Self.lsn(3), Self.lsn(1), age: nil).ok)
    }

    @Test func slotRetention() {
        #expect(!CheckRules.slot(name: "s", active: nil, restartLSN: nil, currentLSN: LSN(10), maxRetained: 5).ok)
        #expect(CheckRules.slot(name: "s", active: true, restartLSN: LSN(10), currentLSN: LSN(15), maxRetained: 5).ok)
        let over = CheckRules.slot(name: "s", active: false, restartLSN: LSN(10), currentLSN: LSN(16), maxRetained: 5)
        #expect(!over.ok && over.detail.contains("inactive") && over.detail.contains("6 B"))
    }

    @Test func verificationNeverFailedOrPassed() {
        #expect(CheckRules.verification(nil).ok)
        #expect(CheckRules.verification(nil).detail.contains("never"))
        let failed = VerificationRecord(startedAt: Date(), backupID: nil, target: "latest", restoreSeconds: nil, recoverySeconds: nil, bytes: nil,
                                        checks: [.init(name: "check-sql", ok: false, detail: "returned false")])
        let result = CheckRules.verification(failed)
        #expect(!result.ok && result.detail.contains("check-sql: returned false"))
        var passed = failed
        passed.checks = [.init(name: "restore", ok: true, detail: "")]
        passed.ok = true
        #expect(CheckRules.verification(passed).ok)
    }

    @Test func continuityUnderPITRNeedsEverythingFromTheOldestBackup() {
        let whole = WALFixture.continuity([(1, 1...10)])
        #expect(CheckContinuity(backups: [Self.backup("a", 2, 3), Self.backup("b", 6, 7)], wal: .pitr, continuity: whole, histories: [:], gaps: []).result().ok)
        let holed = WALFixture.continuity([(1, 1...4), (1, 6...10)])
        let result = CheckContinuity(backups: [Self.backup("a", 2, 3), Self.backup("b", 7, 8)], wal: .pitr, continuity: holed, histories: [:], gaps: []).result()
        #expect(!result.ok)
        #expect(result.detail.contains(WALSegmentName(timeline: TimelineID(1), segmentNumber: 5, segmentSize: WALFixture.segmentSize).name))
    }

    @Test func retentionHolesAreNotDamage() {
        // A standalone-pinned backup keeps only its own WAL: the hole after it is expected.
        let holed = WALFixture.continuity([(1, 2...3), (1, 7...10)])
        let standalone = CheckContinuity(backups: [Self.backup("a", 2, 3, pin: .standalone), Self.backup("b", 7, 8)], wal: .pitr, continuity: holed, histories: [:], gaps: [])
        #expect(standalone.result().ok, "\(standalone.result().detail)")
        // Under wal: consistency, each backup's own WAL and from the newest on.
        let consistency = CheckContinuity(backups: [Self.backup("a", 2, 3), Self.backup("b", 7, 8)], wal: .consistency, continuity: holed, histories: [:], gaps: [])
        #expect(consistency.result().ok, "\(consistency.result().detail)")
        // The same hole under pitr is damage.
        #expect(!CheckContinuity(backups: [Self.backup("a", 2, 3), Self.backup("b", 7, 8)], wal: .pitr, continuity: holed, histories: [:], gaps: []).result().ok)
        // A standalone backup missing its own WAL is damage.
        let ownMissing = WALFixture.continuity([(1, 2...2), (1, 7...10)])
        let broken = CheckContinuity(backups: [Self.backup("a", 2, 3, pin: .standalone), Self.backup("b", 7, 8)], wal: .pitr, continuity: ownMissing, histories: [:], gaps: []).result()
        #expect(!broken.ok && broken.detail.contains("backup a lacks its own WAL"))
        // Under consistency, the WAL after the newest backup must still be whole.
        let afterNewest = WALFixture.continuity([(1, 2...3), (1, 7...8), (1, 10...11)])
        #expect(!CheckContinuity(backups: [Self.backup("a", 2, 3), Self.backup("b", 7, 8)], wal: .consistency, continuity: afterNewest, histories: [:], gaps: []).result().ok)
    }

    @Test func recordedGapsAfterTheOldestBackupAreNamed() {
        let whole = WALFixture.continuity([(1, 1...10)])
        let size = WALFixture.segmentSize
        func gap(_ first: UInt64, _ last: UInt64) -> WALGap {
            WALGap(startLSN: Self.lsn(first), endLSN: Self.lsn(last + 1), timeline: TimelineID(1), resumedTimeline: TimelineID(1), segmentSize: size,
                   detectedAt: Date(), archivedBefore: nil, reason: "requested WAL segment has already been removed")
        }
        let before = CheckContinuity(backups: [Self.backup("a", 5, 6)], wal: .pitr, continuity: whole, histories: [:], gaps: [gap(1, 2)]).result()
        #expect(before.ok, "\(before.detail)")
        let after = CheckContinuity(backups: [Self.backup("a", 5, 6)], wal: .pitr, continuity: whole, histories: [:], gaps: [gap(7, 8)]).result()
        #expect(!after.ok && after.detail.contains("recorded gap"))
    }

    @Test func connectionsReachTheChosenServerWithABoundedTimeout() {
        let server = ConninfoServer(host: "b", port: "5433")
        #expect(PrimaryLocator.overrides(server, conninfo: "host=a,b port=5432", environment: [:])
            == ["host": "b", "port": "5433", "target_session_attrs": "any", "connect_timeout": "5"])
        #expect(PrimaryLocator.overrides(server, conninfo: "host=a connect_timeout=2", environment: [:])["connect_timeout"] == nil)
        #expect(PrimaryLocator.overrides(server, conninfo: "postgresql://u@a,b/db", environment: [:])["connect_timeout"] == "5")
        #expect(PrimaryLocator.overrides(server, conninfo: "postgresql://u@a,b/db?connect_timeout=2", environment: [:])["connect_timeout"] == nil)
        #expect(PrimaryLocator.overrides(server, conninfo: "postgresql://u@a/db?sslmode=disable", environment: ["PGCONNECT_TIMEOUT": "3"])["connect_timeout"] == nil)
    }
}
