import Foundation
import Testing
import PGBackupFoundations
import PGBackupRepository
@testable import PGBackupServices

/// The restore's decisions, before anything is written: backup choice, timelines, WAL gaps,
/// the restorable window in the refusals.
@Suite("Restore planning")
struct RestorePlannerTests {
    static let segmentSize = WALFixture.segmentSize
    static let t0 = Date(timeIntervalSince1970: 1_795_000_000)

    /// A backup from segment `start` to segment `stop` (numbers on timeline `timeline`),
    /// ending `minutes` after t0.
    static func backup(_ id: Int, timeline: UInt32 = 1, start: UInt64, stop: UInt64, minutes: Double) -> BackupSummary {
        let startLSN = LSN(start * Self.segmentSize.bytes + 0x28)
        let stopLSN = LSN(stop * Self.segmentSize.bytes + 0x100)
        let manifest = BackupManifest(
            id: BackupID(date: t0.addingTimeInterval(Double(id))), server: "main", systemIdentifier: 1, postgresVersionNumber: 150_018,
            timeline: TimelineID(timeline), startLSN: startLSN, stopLSN: stopLSN,
            startTime: t0.addingTimeInterval(minutes * 60 - 5), stopTime: t0.addingTimeInterval(minutes * 60),
            label: "b\(id)", compression: .default, chunking: .default, tablespaces: [], files: [],
            totals: .init(databaseSize: 0, newChunks: 0, storedNew: 0, deduplicatedChunks: 0, storedDeduplicated: 0),
            serverManifest: nil,
            wal: .init(timeline: TimelineID(timeline), start: startLSN, stop: stopLSN, segmentSize: segmentSize), durationSeconds: 5)
        return BackupSummary(manifest)
    }

    static func continuity(_ segments: [(timeline: UInt32, numbers: ClosedRange<UInt64>)], histories: [UInt32] = []) -> WALContinuity {
        WALFixture.continuity(segments, histories: histories)
    }

    static let backups = [backup(1, start: 2, stop: 2, minutes: 10), backup(2, start: 6, stop: 7, minutes: 20)]

    func planner(_ continuity: WALContinuity, backups: [BackupSummary] = Self.backups, histories: [TimelineID: TimelineHistory] = [:]) -> RestorePlanner {
        RestorePlanner(backups: backups, continuity: continuity, histories: histories, serverTimes: [TimelineID(1): Self.t0.addingTimeInterval(3600)], server: "main")
    }

    @Test func aTimeTargetTakesTheNewestBackupThatEndedBeforeIt() throws {
        let planner = planner(Self.continuity([(1, 2...12)]))
        #expect(try planner.plan(target: .time(Self.t0.addingTimeInterval(15 * 60)), timeline: .latest, backupID: nil).backup.label == "b1")
        #expect(try planner.plan(target: .time(Self.t0.addingTimeInterval(25 * 60)), timeline: .latest, backupID: nil).backup.label == "b2")
        #expect(try planner.plan(target: .time(Self.t0.addingTimeInterval(20 * 60)), timeline: .latest, backupID: nil).backup.label == "b2")
        #expect(try planner.plan(target: .latest, timeline: .latest, backupID: nil).backup.label == "b2")
        #expect(try planner.plan(target: .xid(1234), timeline: .latest, backupID: nil).backup.label == "b1")
        let lsn = LSN(5 * Self.segmentSize.bytes)
        #expect(try planner.plan(target: .lsn(lsn), timeline: .latest, backupID: nil).backup.label == "b1")
    }

    @Test func aTargetBeforeTheFirstBackupNamesTheRestorableWindow() throws {
        let planner = planner(Self.continuity([(1, 2...12)]))
        let early = Self.t0.addingTimeInterval(5 * 60)
        let error = #expect(throws: RestoreRefusal.self) {
            try planner.plan(target: .time(early), timeline: .latest, backupID: nil)
        }
        let text = error?.description ?? ""
        #expect(text.contains("is before the earliest restorable point"), "\(text)")
        #expect(text.contains(RestoreTime.format(Self.t0.addingTimeInterval(10 * 60))), "\(text)")
        #expect(text.contains(Self.backups[0].id.description))
        #expect(throws: RestoreRefusal.self) {
            try planner.plan(target: .lsn(LSN(1 * Self.segmentSize.bytes)), timeline: .latest, backupID: nil)
        }
        // After the newest stored WAL, and beyond the archive's end.
        #expect(throws: RestoreRefusal.self) {
            try planner.plan(target: .time(Self.t0.addingTimeInterval(7200)), timeline: .latest, backupID: nil)
        }
        #expect(throws: RestoreRefusal.self) {
            try planner.plan(target: .lsn(LSN(40 * Self.segmentSize.bytes)), timeline: .latest, backupID: nil)
        }
    }

    @Test func aGapIsRefusedWithItsSegmentsAndAPointBeforeIt() throws {
        // Segments 8–9 are missing: b2 (6–7) restores to its end; b1 cannot reach b2's time.
        let planner = planner(Self.continuity([(1, 2...7), (1, 10...12)]))
        let error = #expect(throws: RestoreRefusal.self) {
            try planner.plan(target: .latest, timeline: .latest, backupID: nil)
        }
        #expect(error?.description.contains("000000010000000000000008…000000010000000000000009") == true, "\(error?.description ?? "")")
        #expect(error?.description.contains("--target-lsn 0/8000000") == true)
        #expect(try planner.plan(target: .immediate, timeline: .latest, backupID: nil).backup.label == "b2")
        #expect(try planner.plan(target: .lsn(LSN(7 * Self.segmentSize.bytes + 0x200)), timeline: .latest, backupID: nil).backup.label == "b2")
        // A backup whose own WAL is missing cannot be restored at all.
        let broken = self.planner(Self.continuity([(1, 2...5)]), backups: [Self.backups[1]])
        #expect(throws: RestoreRefusal.self) { try broken.plan(target: .immediate, timeline: .latest, backupID: nil) }
    }

    @Test func timelinesFollowTheHistoryFromTheBackupsTimeline() throws {
        // Timeline 2 branched from 1 at segment 9; both are archived.
        let switchpoint = LSN(9 * Self.segmentSize.bytes + 0x5000)
        let history = TimelineHistory(timeline: TimelineID(2), entries: [.init(timeline: TimelineID(1), switchpoint: switchpoint)])
        let continuity = Self.continuity([(1, 2...8), (2, 9...14)], histories: [2])
        let planner = planner(continuity, histories: [TimelineID(2): history])
        let latest = try planner.plan(target: .latest, timeline: .latest, backupID: nil)
        #expect(latest.timeline == TimelineID(2) && latest.backup.label == "b2")
        #expect(latest.endOfArchive == LSN(15 * Self.segmentSize.bytes))
        #expect(try planner.plan(target: .immediate, timeline: .current, backupID: nil).timeline == TimelineID(1))
        // A backup taken on timeline 2 after the switch is not on timeline 1's path.
        let onTwo = Self.backup(3, timeline: 2, start: 11, stop: 11, minutes: 30)
        let later = self.planner(continuity, backups: Self.backups + [onTwo], histories: [TimelineID(2): history])
        #expect(try later.plan(target: .latest, timeline: .latest, backupID: nil).backup.label == "b3")
        #expect(try later.plan(target: .immediate, timeline: .number(TimelineID(1)), backupID: nil).backup.label == "b2")
        #expect(throws: RestoreRefusal.self) {
            try later.plan(target: .immediate, timeline: .number(TimelineID(1)), backupID: onTwo.id)
        }
    }

    @Test func aGivenBackupIdIsUsedOrRefusedByName() throws {
        let planner = planner(Self.continuity([(1, 2...12)]))
        #expect(try planner.plan(target: .latest, timeline: .latest, backupID: Self.backups[0].id).backup.label == "b1")
        let unknown = BackupID(date: Self.t0.addingTimeInterval(-86400))
        let error = #expect(throws: RestoreRefusal.self) { try planner.plan(target: .latest, timeline: .latest, backupID: unknown) }
        #expect(error?.description.contains(unknown.description) == true)
        let empty = RestorePlanner(backups: [], continuity: Self.continuity([]), histories: [:], serverTimes: [:], server: "main")
        #expect(throws: RestoreRefusal.noBackups(server: "main")) { try empty.plan(target: .latest, timeline: .latest, backupID: nil) }
    }

    @Test(arguments: [
        ("2026-11-22 10:15:00+00", 0.0), ("2026-11-22T10:15:00Z", 0), ("2026-11-22 11:15:00+01", 0),
        ("2026-11-22 11:45:00+01:30", 0), ("2026-11-22 04:15:00-0600", 0), ("2026-11-22 10:15:00.25 UTC", 0.25),
        ("2026-11-22 10:15:00.123456+00", 0.123456),
    ])
    func timesWithAZoneParse(text: String, fraction: Double) throws {
        let expected = Date(timeIntervalSince1970: 1_795_342_500 + fraction)
        let parsed = try RestoreTime.parse(text)
        #expect(abs(parsed.timeIntervalSince(expected)) < 1e-6, "\(text) → \(parsed)")
    }

    @Test(arguments: ["2026-11-22 10:15:00", "yesterday", "2026-13-40 10:15:00+00", "2026-11-22"])
    func timesWithoutAZoneOrMalformedAreRefused(text: String) {
        #expect(throws: RestoreRefusal.self) { try RestoreTime.parse(text) }
    }

    @Test func timesFormatAsPostgreSQLReadsThem() throws {
        let date = Date(timeIntervalSince1970: 1_795_342_500.5)
        #expect(RestoreTime.format(date) == "2026-11-22 10:15:00.500000+00")
        #expect(try RestoreTime.parse(RestoreTime.format(date)) == date)
        #expect(RestoreTime.format(Date(timeIntervalSince1970: 1_795_342_500)) == "2026-11-22 10:15:00+00")
    }

    @Test func recoveryConfigurationQuotesAndTargets() {
        let recovery = RecoveryConfiguration(
            restoreCommand: "/usr/bin/pgbackup wal-fetch --config '/etc/it''s.yaml' %f %p", target: .name("before 'upgrade'"),
            timeline: TimelineID(3), action: .pause, exclusive: true, primaryConninfo: nil)
        let block = recovery.autoConfBlock(comment: "test")
        #expect(block.contains("restore_command = '/usr/bin/pgbackup wal-fetch --config ''/etc/it''''s.yaml'' %f %p'"))
        #expect(block.contains("recovery_target_name = 'before ''upgrade'''"))
        #expect(block.contains("recovery_target_timeline = '3'"))
        #expect(block.contains("recovery_target_action = 'pause'"))
        #expect(block.contains("recovery_target_inclusive = 'off'"))
        #expect(recovery.signalFile == "recovery.signal")
        let standby = RecoveryConfiguration(
            restoreCommand: "x", target: .latest, timeline: nil, action: .promote, exclusive: false, primaryConninfo: "host=db1 user=r")
        #expect(standby.signalFile == "standby.signal")
        #expect(standby.autoConfBlock(comment: "c").contains("primary_conninfo = 'host=db1 user=r'"))
        #expect(standby.autoConfBlock(comment: "c").contains("recovery_target_timeline = 'latest'"))
        #expect(!standby.autoConfBlock(comment: "c").contains("recovery_target_action"))
        let backedUp = "# Do not edit\nshared_buffers = '1GB'\nrecovery_target_time = '2020-01-01 00:00:00+00'\nRestore_Command = 'old'\nprimary_conninfo = 'host=old'\n"
        let restored = recovery.autoConf(replacing: backedUp, comment: "c")
        #expect(restored.contains("shared_buffers = '1GB'"))
        #expect(restored.contains("primary_conninfo = 'host=old'"))  // not a standby: left alone
        #expect(!restored.contains("2020-01-01") && !restored.contains("'old'"))
        #expect(restored.hasSuffix(recovery.autoConfBlock(comment: "c")))
        #expect(!standby.autoConf(replacing: backedUp, comment: "c").contains("host=old"))
        var offline = recovery
        offline.archiveOff = true
        let archivedOff = offline.autoConf(replacing: "archive_mode = on\narchive_command = 'x %p'\n", comment: "c")
        #expect(archivedOff.contains("archive_mode = 'off'") && !archivedOff.contains("archive_mode = on"))
        #expect(archivedOff.contains("archive_command = 'x %p'"))
        #expect(recovery.autoConf(replacing: "archive_mode = on\n", comment: "c").contains("archive_mode = on"))
        #expect(Quoting.shellWord("/usr/bin/pgbackup") == "/usr/bin/pgbackup")
        #expect(Quoting.shellWord("/tmp/a b") == "'/tmp/a b'")
        #expect(Quoting.shellWord("it's") == #"'it'\''s'"#)
    }

    @Test func theRestoreConfigurationFileReadsBackAsTheSameRepository() throws {
        var settings = Settings()
        settings.repository = try .init(parsing: "s3://bucket/prefix")
        settings.server = "db-one"
        settings.s3.endpoint = "http://127.0.0.1:9000"
        settings.s3.pathStyle = true
        settings.s3.accessKeyID = "AKIA"
        settings.s3.secretAccessKey = Secret("se\"cr\\et")
        let yaml = settings.repositoryConfigurationYAML(comment: "test")
        let path = NSTemporaryDirectory() + "/pgbackup-restore-config-\(UUID().uuidString).yaml"
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let loaded = try SettingsLoader.load(configPath: path, environment: [:], server: "db-one")
        #expect(loaded.repository == settings.repository)
        #expect(loaded.server == "db-one")
        #expect(loaded.s3.endpoint == settings.s3.endpoint && loaded.s3.pathStyle)
        #expect(loaded.s3.secretAccessKey?.value == "se\"cr\\et")
    }
}
