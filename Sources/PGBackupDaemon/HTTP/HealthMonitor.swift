import Foundation
import Logging
import PGBackupFoundations
import PGBackupRepository
import PGBackupServices
import ServiceLifecycle
import Synchronization

/// The daemon's periodic look at the world, off the request path: every `interval`, the slot the
/// primary holds for the daemon (WAL pile-up protection, `SlotGuard`) and — when the HTTP endpoint
/// is on — `check`'s checks (`CheckService`) and a survey of the repository. `/health`,
/// `/status` and `/metrics` serve the last results, so they answer at once, whatever runs
/// (a backup, a slow repository). Staleness: a result is at most `interval` plus one round's
/// duration old (each check is bounded by its connect timeouts, 5 s for the primary).
final class HealthMonitor: Sendable {
    /// What the last rounds found.
    struct Observations: Sendable {
        var report: CheckReport?
        var reportTime: Date?
        var slotRetainedBytes: Int64?
        var survey: RepositorySurvey?
    }

    /// The repository, as the last survey found it.
    struct RepositorySurvey: Sendable {
        var backups: Int
        var newestBackupStop: Date?
        var newestBackupID: String?
        /// Pages whose checksum failed in the newest complete backup (0: none reported).
        var newestBackupChecksumFailures: Int
        /// The oldest moment a restore can reach: the oldest complete backup's end.
        var recoveryWindowStart: Date?
        var repositoryBytes: Int64
        var lastVerification: VerificationRecord?
        var lastVerificationSuccess: Date?
    }

    let settings: Settings
    let streamer: WALStreamer
    let logger: Logger
    let interval: Duration
    /// Runs the checks and the survey (the HTTP endpoint serves them); the slot guard runs anyway.
    let runChecks: Bool
    let slotGuard: SlotGuard
    private let observed = Mutex(Observations())
    /// When the repository's bytes were last summed: a listing of every object, so only every
    /// tenth round (`pgbackup_repository_bytes` is that much older).
    private let bytesSurveyed = Mutex<ContinuousClock.Instant?>(nil)

    init(settings: Settings, streamer: WALStreamer, logger: Logger, interval: Duration, runChecks: Bool) {
        self.settings = settings
        self.streamer = streamer
        self.logger = logger
        self.interval = interval
        self.runChecks = runChecks
        self.slotGuard = SlotGuard(settings: settings, streamer: streamer, logger: logger)
    }

    var observations: Observations { observed.withLock { $0 } }

    /// Rounds until cancelled (the group's graceful shutdown).
    func run() async {
        while !Task.isCancelled {
            await round()
            try? await Task.sleep(for: interval)
        }
    }

    /// One round: the slot, then the checks and the survey.
    func round() async {
        let retained = await slotGuard.inspect()
        observed.withLock { $0.slotRetainedBytes = retained }
        guard runChecks else { return }
        let report: CheckReport
        do {
            report = try await CheckService(settings: settings, logger: logger).run()
        } catch {
            report = CheckReport(checks: [CheckResult(name: "configuration", ok: false, detail: "\(error)")])
        }
        let survey = await surveyRepository()
        observed.withLock {
            $0.report = report
            $0.reportTime = Date()
            if let survey { $0.survey = survey }
        }
    }

    /// Backups, recovery window, bytes and verification; nil when the repository cannot be read
    /// (the checks say why; the previous survey stays).
    private func surveyRepository() async -> RepositorySurvey? {
        do {
            // The current cluster's history; the bytes of every history (`init --upgrade`).
            let histories = try await RepositoryAccess.openHistories(settings)
            let repository = histories[histories.count - 1].repository
            let backups = try await BackupCatalog(repository: repository).survey().backups
            let now = ContinuousClock.now
            let bytesDue = bytesSurveyed.withLock { $0.map { now - $0 >= interval * 10 } ?? true }
            var repositoryBytes = observations.survey?.repositoryBytes ?? 0
            if bytesDue {
                repositoryBytes = 0
                for (history, _) in histories {
                    repositoryBytes += try await history.store.list(prefix: "\(history.layout.root)/").reduce(0) { $0 + $1.size }
                }
            }
            if bytesDue { bytesSurveyed.withLock { $0 = now } }
            let verifications = try await VerificationLog(repository: repository).latest()
            let newest = backups.max { $0.stopTime < $1.stopTime }
            let successes = ([verifications.newest].compactMap { $0 } + Array(verifications.byBackup.values)).filter(\.ok)
            return RepositorySurvey(
                backups: backups.count, newestBackupStop: newest?.stopTime, newestBackupID: newest?.id.description,
                newestBackupChecksumFailures: newest?.checksumFailures?.total ?? 0,
                recoveryWindowStart: backups.map(\.stopTime).min(),
                repositoryBytes: repositoryBytes,
                lastVerification: verifications.newest,
                lastVerificationSuccess: successes.map(\.startedAt).max())
        } catch {
            logger.debug("unable to survey the repository for /status and /metrics", metadata: ["error": "\(error)"])
            return nil
        }
    }
}

/// The health monitor as a service of the daemon's group: stops on graceful shutdown.
struct HealthMonitorService: Service {
    let monitor: HealthMonitor

    func run() async throws {
        await cancelWhenGracefulShutdown { await monitor.run() }
    }
}
