import Foundation
import Logging
import PGBackupPostgres
import PGBackupServices
import ServiceLifecycle
import Synchronization
import UnixSignals

/// The daemon's schedules (DESIGN.md, "The daemon"): base backups and verify-restore at the
/// policy's slots, retention after each successful scheduled backup, SIGHUP reloads.
///
/// - A job never overlaps with itself: a slot that comes while the job's previous run still goes
///   is skipped, logged and counted (`skipped`). A failed job is logged and counted and runs
///   again at its next slot. Each job's record and next slot are in `DaemonState`.
/// - Retention waits for a running verify-restore (which may be restoring a backup retention
///   would remove): it runs when the verify-restore ends.
/// - Graceful shutdown: no new job starts; running jobs get `shutdownGrace` to finish, then are
///   cancelled (a cancelled backup leaves only its in-progress leftovers, which the next backup
///   removes, and releases its lock).
/// - SIGHUP: `reload` loads the settings and the policy again; a bad one is refused (error log)
///   and the old one kept; a good one replaces the schedules (the log says what changed).
public final class Scheduler: Service, Sendable {
    let state: DaemonState
    let logger: Logger
    let jobs: ScheduledJobs
    let recorder: JobRecorder
    let reload: (@Sendable () throws -> Settings)?
    let shutdownGrace: Duration
    /// How often the loop looks at the clock.
    let tick: Duration
    private let now: @Sendable () -> Date
    private let current: Mutex<SchedulerConfiguration>
    private let table: Mutex<ScheduleTable>
    private let running = Mutex<Set<DaemonState.JobKind>>([])
    private let retentionPending = Atomic<Bool>(false)
    private let stopping = Atomic<Bool>(false)
    /// SIGHUP, trapped by the caller before the service group starts (nil: by `run()`).
    private let hangups: UnixSignalsSequence?

    public init(
        configuration: SchedulerConfiguration, state: DaemonState, logger: Logger, server: @escaping @Sendable () -> ConninfoServer?,
        executable: String, backupOptions: BackupOptions = BackupOptions(), reload: (@Sendable () throws -> Settings)?,
        shutdownGrace: Duration = .seconds(5), tick: Duration = .milliseconds(250), now: @escaping @Sendable () -> Date = { Date() },
        hangups: UnixSignalsSequence? = nil
    ) {
        self.hangups = hangups
        self.state = state
        self.logger = logger
        self.jobs = ScheduledJobs(logger: logger, server: server, executable: executable, backupOptions: backupOptions)
        self.recorder = JobRecorder(state: state, logger: logger, now: now)
        self.reload = reload
        self.shutdownGrace = shutdownGrace
        self.tick = tick
        self.now = now
        self.current = Mutex(configuration)
        self.table = Mutex(ScheduleTable(schedules: configuration.schedules, now: now()))
    }

    /// The configuration in force.
    public var configuration: SchedulerConfiguration { current.withLock { $0 } }

    private var isStopping: Bool { stopping.load(ordering: .sequentiallyConsistent) }

    public func run() async throws {
        // Trapped before anything else: SIGHUP's default action would end the process.
        let hangups = if let hangups { hangups } else { await UnixSignalsSequence(trapping: .sighup) }
        publishNextRuns()
        let schedules = configuration.schedules
        logger.info("scheduler started", metadata: [
            "backup": "\(schedules[.backup].map { "\($0)" } ?? "none")",
            "verify_restore": "\(schedules[.verifyRestore].map { "\($0)" } ?? "none")",
            "policy": "\(configuration.policy?.path ?? "none")",
        ])
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { outer in
                outer.addTask {
                    for await _ in hangups where !self.isStopping { self.reloadConfiguration() }
                }
                await self.schedule()
                outer.cancelAll()
            }
        } onGracefulShutdown: {
            self.logger.info("scheduler stopping: no new job starts")
            self.stopping.store(true, ordering: .sequentiallyConsistent)
        }
    }

    /// The slots, until shutdown; then the running jobs' grace.
    private func schedule() async {
        // Discarding: a daemon runs jobs for months; finished ones must not pile up.
        await withDiscardingTaskGroup { group in
            while !isStopping && !Task.isCancelled {
                let runningNow = running.withLock { $0 }
                let fired = table.withLock { $0.fire(now: now(), running: runningNow) }
                if !fired.isEmpty { publishNextRuns() }
                for (kind, decision) in fired {
                    switch decision {
                    case .skip:
                        recorder.skipped(kind)
                    case .start:
                        running.withLock { _ = $0.insert(kind) }
                        group.addTask { await self.runJob(kind) }
                    }
                }
                try? await Task.sleep(for: tick)
            }
            let left = running.withLock { $0 }
            guard !left.isEmpty else { return }
            let names = left.map(\.rawValue).sorted().joined(separator: ", ")
            logger.info("waiting up to \(shutdownGrace) for the running \(names) to finish")
            let deadline = ContinuousClock.now + shutdownGrace
            while ContinuousClock.now < deadline && !running.withLock({ $0.isEmpty }) && !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(100))
            }
            if !running.withLock({ $0.isEmpty }) {
                logger.warning("abandoning the running \(names) at shutdown: a backup's leftovers are removed by the next backup")
                group.cancelAll()
            }
        }
    }

    /// One job started by its slot, and what follows it.
    private func runJob(_ kind: DaemonState.JobKind) async {
        let configuration = self.configuration
        switch kind {
        case .backup:
            let ok = await recorder.run(.backup, trigger: "schedule") { try await self.jobs.backup(configuration) }
            running.withLock { _ = $0.remove(.backup) }
            if ok { await retentionAfterBackup() }
        case .verifyRestore:
            _ = await recorder.run(.verifyRestore, trigger: "schedule") { try await self.jobs.verifyRestore(configuration) }
            running.withLock { _ = $0.remove(.verifyRestore) }
            if retentionPending.exchange(false, ordering: .sequentiallyConsistent) { await runRetention(trigger: "after the verify-restore") }
        case .retention:
            await runRetention(trigger: "schedule")
        }
    }

    /// Retention after a successful scheduled backup, or once the running verify-restore ends.
    private func retentionAfterBackup() async {
        let deferred = running.withLock { running -> Bool in
            guard running.contains(.verifyRestore) else { return false }
            retentionPending.store(true, ordering: .sequentiallyConsistent)
            return true
        }
        if deferred {
            logger.info("retention deferred until the running verify-restore ends (it may be restoring a backup retention would remove)")
            return
        }
        await runRetention(trigger: "after the backup")
    }

    private func runRetention(trigger: String) async {
        guard !isStopping else {
            logger.info("retention not started: the daemon is shutting down; it runs after the next scheduled backup")
            return
        }
        let configuration = self.configuration
        guard configuration.policy?.retention != nil else { return }
        let started = running.withLock { running -> Bool in
            guard !running.contains(.retention) else { return false }
            running.insert(.retention)
            return true
        }
        guard started else { return recorder.skipped(.retention) }
        _ = await recorder.run(.retention, trigger: trigger) { try await self.jobs.retention(configuration) }
        running.withLock { _ = $0.remove(.retention) }
    }

    /// Each kind's next slot into `DaemonState` (nil for a kind no longer scheduled).
    private func publishNextRuns() {
        let next = table.withLock { $0.nextRuns }
        for kind in [DaemonState.JobKind.backup, .verifyRestore] {
            guard next[kind] != nil || state.snapshot.jobs[kind] != nil else { continue }
            state.updateJob(kind) { $0.nextRun = next[kind] }
        }
    }

    /// SIGHUP: loads the configuration again; a bad one is refused and the old one kept.
    func reloadConfiguration() {
        guard let reload else {
            logger.warning("SIGHUP received, but this daemon cannot reload its configuration; ignored")
            return
        }
        logger.info("SIGHUP received: reloading the configuration and the policy")
        let fresh: Settings
        let policy: Policy?
        do {
            fresh = try reload()
            policy = try fresh.loadPolicy()
        } catch {
            state.countError("reload")
            logger.error("configuration reload refused, the previous configuration stays in force: \(error)", metadata: [
                "event": "reload", "outcome": "refused",
            ])
            return
        }
        let old = configuration
        let ignored = old.restartOnlyChanges(in: fresh)
        if !ignored.isEmpty {
            logger.warning("changed settings that take effect only after a restart, kept as they were: \(ignored.joined(separator: ", "))")
        }
        let new = old.reloaded(from: fresh, policy: policy)
        current.withLock { $0 = new }
        let changes = table.withLock { $0.replace(schedules: new.schedules, now: now()) }
        publishNextRuns()
        let retentionChanged = old.policy?.retention != new.policy?.retention
        logger.info(
            changes.isEmpty ? "configuration reloaded; the schedules are unchanged" : "configuration reloaded; schedules changed: \(changes.map(\.description).joined(separator: ", "))",
            metadata: [
                "event": "reload", "outcome": "applied", "policy": "\(new.policy?.path ?? "none")",
                "retention_changed": "\(retentionChanged)",
            ])
    }
}
