import Foundation
import Logging
import PGBackupPostgres
import PGBackupRepository
import Synchronization

/// The base backup the daemon takes at once after it recorded a WAL gap, so that a restorable
/// point exists after the gap: `BackupService` in-process, from the server the daemon streams
/// from (never whichever host of a multi-host conninfo libpq would pick), retried with backoff
/// until it succeeds. Never two at once: a gap recorded while one runs makes one more run after.
public actor BackupAfterGap {
    let settings: Settings
    let logger: Logger
    let retryDelays: [Duration]
    /// The server to take the backup from (the daemon's chosen primary), asked at each attempt.
    let server: @Sendable () -> ConninfoServer?
    private let stopRequested = Atomic<Bool>(false)
    private var running = false
    private var requestedAgain = false
    /// The ids of the backups taken so far.
    public private(set) var taken: [String] = []

    public init(
        settings: Settings, logger: Logger, retryDelays: [Duration] = [.seconds(5), .seconds(15), .seconds(30), .seconds(60)],
        server: @escaping @Sendable () -> ConninfoServer?
    ) {
        self.settings = settings
        self.logger = logger
        self.retryDelays = retryDelays
        self.server = server
    }

    /// Asks for a backup after `gap`; returns at once.
    public nonisolated func request(after gap: WALGap) {
        Task { await self.run(after: gap) }
    }

    /// No new attempt starts after this (one under way runs to its end: `waitUntilIdle()`).
    public nonisolated func stop() { stopRequested.store(true, ordering: .sequentiallyConsistent) }

    /// Returns once no backup runs (after `stop()`, none starts again): a backup abandoned
    /// half-way would leave the repository's backup lock to go stale.
    public func waitUntilIdle() async {
        while running { try? await Task.sleep(for: .milliseconds(200)) }
    }

    private var isStopping: Bool { stopRequested.load(ordering: .sequentiallyConsistent) }

    private func run(after gap: WALGap) async {
        guard !running else {
            requestedAgain = true
            return
        }
        running = true
        defer { running = false }
        var current = gap
        repeat {
            requestedAgain = false
            await backUpRetrying(after: current)
            current.reason = "another gap was recorded while the backup ran"
        } while requestedAgain && !isStopping
    }

    private func backUpRetrying(after gap: WALGap) async {
        var attempt = 0
        while !isStopping {
            let server = server()
            logger.info(
                "taking a base backup after the WAL gap \(gap.firstSegment)-\(gap.lastSegment), so that a restorable point exists after it",
                metadata: ["server": "\(server.map { "\($0)" } ?? "-")"])
            do {
                let manifest = try await BackupService(settings: settings, logger: logger, server: server).run()
                let id = manifest.id.description
                taken.append(id)
                logger.info("backup \(id) after the WAL gap complete", metadata: ["backup_id": "\(id)", "server": "\(server.map { "\($0)" } ?? "-")"])
                return
            } catch {
                let delay = retryDelays[min(attempt, retryDelays.count - 1)]
                attempt += 1
                logger.error("unable to take the backup after the WAL gap; retrying in \(delay)", metadata: ["error": "\(error)"])
                let deadline = ContinuousClock.now + delay
                while !isStopping && ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(200)) }
            }
        }
    }
}
