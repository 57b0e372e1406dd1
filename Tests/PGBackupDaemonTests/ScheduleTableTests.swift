import Foundation
import Testing
import PGBackupDaemon
@testable import PGBackupServices
import PGBackupStorage

/// The scheduler's pure part, driven by instants the test chooses (its injected clock).
@Suite("schedule table")
struct ScheduleTableTests {
    let epoch = Date(timeIntervalSince1970: 1_800_000_000)  // a multiple of 4 s and of 10 s

    @Test func slotsFireAtTheirTimeAndMoveToTheNextOne() {
        var table = ScheduleTable(schedules: [.backup: .every(4), .verifyRestore: .every(10)], now: epoch.addingTimeInterval(0.5))
        #expect(table.nextRuns == [.backup: epoch.addingTimeInterval(4), .verifyRestore: epoch.addingTimeInterval(10)])
        #expect(table.earliest == epoch.addingTimeInterval(4))
        // Before the slot, nothing fires.
        #expect(table.fire(now: epoch.addingTimeInterval(3.9), running: []).isEmpty)
        let fired = table.fire(now: epoch.addingTimeInterval(4.1), running: [])
        #expect(fired.map(\.kind) == [.backup] && fired.map(\.decision) == [.start])
        #expect(table.nextRuns[.backup] == epoch.addingTimeInterval(8))
        #expect(table.nextRuns[.verifyRestore] == epoch.addingTimeInterval(10))
        // Both at once, in a fixed order.
        let both = table.fire(now: epoch.addingTimeInterval(10), running: [])
        #expect(both.map(\.kind) == [.backup, .verifyRestore])
        #expect(table.nextRuns == [.backup: epoch.addingTimeInterval(12), .verifyRestore: epoch.addingTimeInterval(20)])
    }

    @Test func aJobStillRunningSkipsItsSlotAndOnlyItsOwn() {
        var table = ScheduleTable(schedules: [.backup: .every(4), .verifyRestore: .every(4)], now: epoch)
        let fired = table.fire(now: epoch.addingTimeInterval(4), running: [.backup])
        #expect(fired.first { $0.kind == .backup }?.decision == .skip)
        #expect(fired.first { $0.kind == .verifyRestore }?.decision == .start)
        // The skipped slot is gone: the next one is the following slot, not a retry.
        #expect(table.nextRuns[.backup] == epoch.addingTimeInterval(8))
        #expect(table.fire(now: epoch.addingTimeInterval(8), running: []).first { $0.kind == .backup }?.decision == .start)
    }

    @Test func slotsMissedWhileTheProcessCouldNotLookFoldIntoOne() {
        var table = ScheduleTable(schedules: [.backup: .every(4)], now: epoch)
        // 30 s later (a suspended host): one start, then the next slot after now.
        let fired = table.fire(now: epoch.addingTimeInterval(30), running: [])
        #expect(fired.count == 1 && fired[0].decision == .start)
        #expect(table.nextRuns[.backup] == epoch.addingTimeInterval(32))
        #expect(table.fire(now: epoch.addingTimeInterval(31), running: []).isEmpty)
    }

    @Test func cronSlotsAreInUTC() throws {
        let daily = PolicySchedule.cron(try CronExpression(parsing: "30 1 * * *"))
        let now = try Date("2026-11-30T01:29:59Z", strategy: .iso8601)
        var table = ScheduleTable(schedules: [.backup: daily], now: now)
        #expect(table.nextRuns[.backup] == (try Date("2026-11-30T01:30:00Z", strategy: .iso8601)))
        #expect(table.fire(now: try Date("2026-11-30T01:30:00Z", strategy: .iso8601), running: []).count == 1)
        #expect(table.nextRuns[.backup] == (try Date("2026-12-01T01:30:00Z", strategy: .iso8601)))
    }

    @Test func replacingSchedulesKeepsUnchangedSlotsAndSaysWhatChanged() {
        var table = ScheduleTable(schedules: [.backup: .every(4), .verifyRestore: .every(10)], now: epoch)
        let unchanged = table.replace(schedules: [.backup: .every(4), .verifyRestore: .every(10)], now: epoch.addingTimeInterval(2))
        #expect(unchanged.isEmpty)
        #expect(table.nextRuns == [.backup: epoch.addingTimeInterval(4), .verifyRestore: epoch.addingTimeInterval(10)])

        let changes = table.replace(schedules: [.backup: .every(60)], now: epoch.addingTimeInterval(2))
        #expect(changes.map(\.description) == ["backup: \"every 4s\" -> \"every 60s\"", "verify_restore: \"every 10s\" -> none"])
        #expect(table.nextRuns == [.backup: epoch.addingTimeInterval(60)])
        // A removed schedule never fires.
        #expect(table.fire(now: epoch.addingTimeInterval(10), running: []).isEmpty)
    }

    @Test func aPolicysScheduleSectionGivesTheJobKinds() {
        #expect(ScheduleTable.schedules(of: nil).isEmpty)
        #expect(ScheduleTable.schedules(of: Policy(path: "/p.yaml", schedule: .init(backup: .every(3600)))) == [.backup: .every(3600)])
        #expect(ScheduleTable.schedules(of: Policy(path: "/p.yaml", schedule: .init(backup: .every(60), verifyRestore: .every(600))))
            == [.backup: .every(60), .verifyRestore: .every(600)])
    }
}

@Suite("scheduler configuration reload")
struct SchedulerConfigurationTests {
    @Test func aReloadTakesThePolicyAndJobSettingsAndReportsRestartOnlyChanges() throws {
        var old = Settings()
        old.repository = try RepositoryLocation(parsing: "file:///srv/repo")
        old.conninfo = Secret("host=a password=one")
        old.policy = "/etc/a.yaml"
        var fresh = old
        fresh.policy = "/etc/b.yaml"
        fresh.verifyRunAs = "postgres"
        fresh.conninfo = Secret("host=a password=two")
        fresh.slot = "other"
        let configuration = SchedulerConfiguration(settings: old, policy: Policy(path: "/etc/a.yaml"))
        #expect(configuration.restartOnlyChanges(in: old).isEmpty)
        let changed = configuration.restartOnlyChanges(in: fresh)
        #expect(changed == ["conninfo", "slot"])
        #expect(!changed.joined().contains("two"))
        let reloaded = configuration.reloaded(from: fresh, policy: Policy(path: "/etc/b.yaml", schedule: .init(backup: .every(60))))
        #expect(reloaded.settings.policy == "/etc/b.yaml" && reloaded.settings.verifyRunAs == "postgres")
        #expect(reloaded.settings.slot == "pgbackup" && reloaded.settings.conninfo?.value == "host=a password=one")
        #expect(reloaded.schedules == [.backup: .every(60)])
    }
}
