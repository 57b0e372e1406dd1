import Foundation
import Logging
import Synchronization
import Testing
import PGBackupDaemon
import PGBackupServices

/// The scheduler's bookkeeping with an injected clock: each slot starts the job, a failure is
/// counted and the job runs again at its next slot, the next run is in `DaemonState`.
@Suite("scheduler")
struct SchedulerTests {
    @Test func aFailedJobIsCountedAndRunsAgainAtItsNextSlot() async throws {
        let epoch = Date(timeIntervalSince1970: 1_800_000_000)
        let clock = Mutex(epoch.addingTimeInterval(0.5))
        // No conninfo: every backup fails at once, before touching anything.
        var settings = Settings()
        settings.server = "main"
        let state = DaemonState(server: "main")
        let scheduler = Scheduler(
            configuration: SchedulerConfiguration(settings: settings, policy: Policy(path: "/p.yaml", schedule: .init(backup: .every(60)))),
            state: state, logger: Logger(label: "test"), server: { nil }, executable: "/bin/false", reload: nil,
            tick: .milliseconds(20), now: { clock.withLock { $0 } })
        let running = Task { try await scheduler.run() }
        defer { running.cancel() }

        func waitFor(_ what: String, _ condition: (DaemonState.Job?) -> Bool) async throws {
            // Generous: the whole suite runs side by side on a loaded 2-core CI machine.
            let deadline = ContinuousClock.now + .seconds(60)
            while !condition(state.snapshot.jobs[.backup]) {
                guard ContinuousClock.now < deadline else { Issue.record("not within 60 s: \(what); \(String(describing: state.snapshot.jobs[.backup]))"); return }
                try await Task.sleep(for: .milliseconds(20))
            }
        }
        try await waitFor("the first slot published") { $0?.nextRun == epoch.addingTimeInterval(60) }
        #expect(state.snapshot.jobs[.backup]?.runs == 0)

        clock.withLock { $0 = epoch.addingTimeInterval(60.1) }
        try await waitFor("the first run failed") { $0?.failures == 1 && $0?.running == false }
        var job = try #require(state.snapshot.jobs[.backup])
        #expect(job.runs == 1 && job.lastSuccess == nil && job.lastFailure == epoch.addingTimeInterval(60.1))
        #expect(job.lastError?.contains("conninfo") == true, "\(job.lastError ?? "-")")
        #expect(job.nextRun == epoch.addingTimeInterval(120))
        #expect(state.snapshot.errors["backup"] == 1)

        // Nothing happens between slots; the next slot runs it again.
        clock.withLock { $0 = epoch.addingTimeInterval(119) }
        try await Task.sleep(for: .milliseconds(200))
        #expect(state.snapshot.jobs[.backup]?.runs == 1)
        clock.withLock { $0 = epoch.addingTimeInterval(120) }
        try await waitFor("the second run failed") { $0?.failures == 2 && $0?.running == false }
        job = try #require(state.snapshot.jobs[.backup])
        #expect(job.runs == 2 && job.nextRun == epoch.addingTimeInterval(180) && job.skipped == 0)
        #expect(state.snapshot.errors["backup"] == 2)
        // Retention runs only after a successful backup.
        #expect(state.snapshot.jobs[.retention] == nil)
    }
}
