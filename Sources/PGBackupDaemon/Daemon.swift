import Foundation
import Logging
import PGBackupServices
import ServiceLifecycle
import Synchronization
import UnixSignals

/// `pgbackup daemon`, the sidecar: one process, one service group (swift-service-lifecycle),
/// whose services are the WAL streamer (with the backup after a recorded gap), and — as the
/// configuration asks — the schedules and the HTTP endpoint. SIGTERM and SIGINT shut the group
/// down gracefully; the first service to end or fail ends the group (exit status from its error).
public struct Daemon: Sendable {
    public let settings: Settings
    public let streamerOptions: WALStreamerOptions
    public let logger: Logger
    /// What every part reports, for `/status`, `/health` and `/metrics`.
    public let state: DaemonState
    /// Loads the settings again from the same sources (file and environment), for SIGHUP; nil:
    /// SIGHUP is logged and ignored.
    public var reload: (@Sendable () throws -> Settings)?
    /// After SIGTERM, how long running jobs (a backup) may take to finish before they are abandoned.
    public var shutdownGrace: Duration = .seconds(5)
    /// Options of the scheduled backups.
    public var backupOptions = BackupOptions()
    /// The `pgbackup` executable, for the `restore_command` of a scheduled verify-restore.
    public var executable: String = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    /// How often the health monitor looks at the slot and (with the HTTP endpoint) runs the checks
    /// `/health` serves: its answers are at most this plus one round old.
    public let checkInterval: Duration

    public init(settings: Settings, streamerOptions: WALStreamerOptions, logger: Logger, checkInterval: Duration = .seconds(15)) {
        self.settings = settings
        self.streamerOptions = streamerOptions
        self.logger = logger
        self.checkInterval = checkInterval
        self.state = DaemonState(server: settings.server)
    }

    public func run() async throws {
        var options = streamerOptions
        // SIGTERM: the stream's graceful finish gives up waiting for the repository 5 s before
        // the services are cancelled (shutdownGrace + 20 s below), so the daemon exits then
        // (CI saw a backlog outlast the grace and the session wait on, 60 s, after cancellation).
        options.finishTimeout = min(options.finishTimeout, shutdownGrace + .seconds(15))
        // A recorded WAL gap: a base backup at once, from the primary the streamer chose.
        let chosen = Mutex<WALStreamer?>(nil)
        let backupAfterGap = BackupAfterGap(settings: settings, logger: logger) { chosen.withLock { $0?.streamingServer } }
        options.onGapRecorded = { backupAfterGap.request(after: $0) }
        let streamer = WALStreamer(settings: settings, options: options, logger: logger)
        chosen.withLock { $0 = streamer }
        let http = try settings.httpAddress()
        let monitor = HealthMonitor(settings: settings, streamer: streamer, logger: logger, interval: checkInterval, runChecks: http != nil)

        // The scheduler runs even with nothing scheduled: it handles SIGHUP (whose default action
        // would end the process; trapped here, before any service starts), and a reload may
        // bring a schedule.
        let scheduler = Scheduler(
            configuration: try SchedulerConfiguration.load(settings), state: state, logger: logger,
            server: { chosen.withLock { $0?.streamingServer } }, executable: executable, backupOptions: backupOptions,
            reload: reload, shutdownGrace: shutdownGrace, hangups: await UnixSignalsSequence(trapping: .sighup))

        // Shut down in reverse order: the scheduler first (no new jobs), the streamer last.
        var services: [any Service] = [
            StreamerService(streamer: streamer, backupAfterGap: backupAfterGap, logger: logger),
            HealthMonitorService(monitor: monitor),
        ]
        if let http { services.append(HTTPService(address: http, streamer: streamer, state: state, monitor: monitor, settings: settings, logger: logger)) }
        services.append(scheduler)
        var configuration = ServiceGroupConfiguration(
            services: services.map {
                .init(service: $0, successTerminationBehavior: .gracefullyShutdownGroup, failureTerminationBehavior: .gracefullyShutdownGroup)
            },
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger)
        // Bounded: the jobs' grace, then time for the streamer to store the partial segment and
        // send its final status; past that, the services are cancelled.
        configuration.maximumGracefulShutdownDuration = shutdownGrace + .seconds(20)
        let group = ServiceGroup(configuration: configuration)
        var starting: Logger.Metadata = ["server": "\(settings.server)", "repository": "\(settings.repository?.description ?? "-")"]
        if case .s3 = settings.repository, let credentials = try? StoreFactory.credentials(settings) {
            // Which source signs: the chain's choice, said once (check and /health say it too).
            starting["s3_credentials"] = "\(credentials.provider.source.rawValue): \(credentials.provider.detail)"
        }
        logger.info("pgbackup daemon starting", metadata: starting)
        async let swept: Void = TemporaryFileSweep.run(settings, logger: logger)
        try await group.run()
        await swept
    }
}
