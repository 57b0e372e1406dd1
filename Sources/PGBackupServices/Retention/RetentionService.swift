import Foundation
import Logging
import PGBackupFoundations
import PGBackupRepository
import PGBackupStorage

/// `pgbackup retention`: applies the policy's retention rules (DESIGN.md, "Retention policies").
///
/// Gathers the complete backups (a damaged `backup.json` is never removed, and is reported), the
/// WAL archive's continuity and timeline histories and `now`; plans with `RetentionPlanner`; then
/// applies, in this order:
/// 1. **backups**: each removed backup's `backup.json` first (it stops existing at once), then
///    its own objects (`BackupCatalog.removeBackup`);
/// 2. **WAL**: the plan's segments (every compression, and their `.times` records), never a
///    `.history` file; and stale partial segments (`WALExpiry`);
/// 3. **chunks last**, holding the backup lock: the leftovers of killed backups
///    (`BackupCatalog.cleanupIncomplete`) and the mark-and-sweep (`ChunkSweep`, whose
///    documentation says why a running backup never loses a chunk). When a backup holds the
///    lock, steps 1 and 2 still run (a running backup only adds) and step 3 is deferred to the
///    next run: the report says so and the run succeeds.
/// A dry run computes the same plan and what it would free, deletes nothing and takes no lock.
public struct RetentionService: Sendable {
    public let settings: Settings
    public let logger: Logger
    private let clock: @Sendable () -> Date

    /// How much older than the lock a chunk must be to be swept (`ChunkSweep.margin`).
    public var sweepMargin: TimeInterval = 5
    /// The policy to apply, loaded already (the daemon keeps the one it loaded and validated,
    /// whatever happens to the file later); nil: `settings`' policy, read now.
    public var policy: Policy?

    public init(settings: Settings, logger: Logger, clock: @escaping @Sendable () -> Date = { Date() }) {
        self.settings = settings
        self.logger = logger
        self.clock = clock
    }

    public func run(dryRun: Bool) async throws -> RetentionReport {
        let rules: RetentionRules? = if let policy { policy.retention } else { try settings.retentionRules() }

        // Gather every history (`init --upgrade`): the rules count backups across all of them.
        var parts: [HistoryPart] = []
        for (repository, info) in try await RepositoryAccess.openHistories(settings) {
            parts.append(try await HistoryPart.gather(repository: repository, info: info, compression: settings.compression))
        }
        let current = parts[parts.count - 1]
        let backups = parts.flatMap(\.backups)
        let plan = RetentionPlanner(rules: rules, backups: backups, continuity: current.continuity, histories: current.timelines, now: clock()).plan()
        let byID = Dictionary(uniqueKeysWithValues: backups.map { ($0.id, $0) })
        for id in plan.removed where byID[id]?.pin != nil || byID[id] == nil {
            throw RetentionError.wouldRemovePinned(id: id.description)
        }

        var report = RetentionReport(dryRun: dryRun, policy: settings.policy)
        report.damaged = parts.flatMap(\.damaged)
        report.kept = plan.kept.map { RetentionReport.Kept(id: $0.id, reasons: $0.reasons, pin: byID[$0.id]?.pin) }
        logger.info("retention plan", metadata: [
            "policy": "\(settings.policy ?? "none")", "kept": "\(plan.kept.count)", "removed": "\(plan.removed.count)", "dryRun": "\(dryRun)",
            "histories": "\(parts.count)",
        ])
        var sweeps: [String] = []
        for (index, part) in parts.enumerated() {
            let share = RetentionHistoryShare(
                plan, backups: part.backups, continuity: part.continuity, histories: part.timelines, isCurrent: index == parts.count - 1,
                rules: rules, now: clock())
            sweeps.append(try await apply(share, to: part, excluding: Set(plan.removed), byID: byID, dryRun: dryRun, report: &report))
        }
        report.sweep = RetentionHistoryShare.sweepOutcome(sweeps)
        return report
    }

    /// What one history holds, as retention plans with it.
    struct HistoryPart {
        var repository: Repository
        var segmentSize: WALSegmentSize
        var catalog: BackupCatalog
        var archive: WALArchive
        var damaged: [DamagedBackup]
        var continuity: WALContinuity
        var timelines: [TimelineID: TimelineHistory]
        var backups: [RetentionBackup]

        static func gather(repository: Repository, info: RepositoryInfo, compression: Compression) async throws -> HistoryPart {
            let segmentSize = info.walSegmentSize
            let catalog = BackupCatalog(repository: repository)
            let archive = WALArchive(repository: repository, segmentSize: segmentSize, compression: compression)
            let survey = try await catalog.survey()
            let continuity = try await archive.continuity()
            var timelines: [TimelineID: TimelineHistory] = [:]
            for timeline in continuity.timelines where timeline.hasHistoryFile {
                timelines[timeline.timeline] = try await archive.history(of: timeline.timeline)
            }
            let backups = survey.backups.map { summary in
                RetentionBackup(
                    id: summary.id, timeline: summary.timeline, startLSN: summary.startLSN, stopLSN: summary.stopLSN,
                    stopTime: summary.stopTime, pin: summary.pin.map(RetentionService.retentionPin))
            }
            return HistoryPart(
                repository: repository, segmentSize: segmentSize, catalog: catalog, archive: archive, damaged: survey.damaged,
                continuity: continuity, timelines: timelines, backups: backups)
        }
    }

    /// Applies (or, dry, reports) one history's share of the plan: its removed backups, the WAL
    /// its kept backups no longer need, then its leftovers and chunks (`excluding`: every backup
    /// the plan removes, whose chunks a dry run counts as freed). Returns the sweep's outcome.
    private func apply(
        _ share: RetentionHistoryShare, to part: HistoryPart, excluding removed: Set<BackupID>, byID: [BackupID: RetentionBackup],
        dryRun: Bool, report: inout RetentionReport
    ) async throws -> String {
        let repository = part.repository
        let catalog = part.catalog
        report.wal += share.walRemovals.map {
            RetentionReport.WALRemoval(timeline: $0.timeline, first: $0.first.name, last: $0.last.name, count: $0.count)
        }
        let walListing = try await repository.store.list(prefix: part.archive.layout.prefix)
        let expiry = WALExpiry(
            listing: walListing, layout: part.archive.layout, segmentSize: part.segmentSize, removals: share.walRemovals,
            oldestKeptStart: share.oldestKeptStart)
        report.walObjects += expiry.segmentObjects.count
        report.walBytesFreed += expiry.bytes
        report.partials += expiry.stalePartials.count

        if dryRun {
            for id in share.removed {
                let own = try await repository.store.list(prefix: catalog.layout.backupPrefix(id))
                report.removed.append(removedEntry(id, byID, bytes: own.reduce(0) { $0 + $1.size }))
            }
            let sweep = ChunkSweep(catalog: catalog, margin: sweepMargin)
            let found = try await sweep.candidates(modifiedBefore: clock().addingTimeInterval(-sweepMargin), excluding: removed)
            report.chunks.removed += found.unreferenced.count
            report.chunks.bytesFreed += found.bytes
            report.leftovers += try await catalog.incompleteBackups().map(\.id)
            return try await sweepBlocker(repository: repository, damaged: part.damaged).map { "deferred: \($0)" } ?? "dry-run"
        }

        // 1. Backups: backup.json first, then the backup's own objects.
        for id in share.removed {
            let own = try await repository.store.list(prefix: catalog.layout.backupPrefix(id))
            try await catalog.removeBackup(id)
            report.removed.append(removedEntry(id, byID, bytes: own.reduce(0) { $0 + $1.size }))
            logger.info("removed backup \(id)", metadata: ["objects": "\(own.count)"])
        }
        // 2. WAL, then stale partials.
        try await deleteInBatches(expiry.segmentObjects.map(\.key), from: repository.store)
        try await deleteInBatches(expiry.partialObjects.map(\.key), from: repository.store)
        if !expiry.segmentObjects.isEmpty || !expiry.partialObjects.isEmpty {
            logger.info("removed WAL", metadata: [
                "objects": "\(expiry.segmentObjects.count)", "partials": "\(expiry.stalePartials.count)", "history": "\(repository.layout.root)",
            ])
        }
        // 3. Leftovers and chunks, under the backup lock.
        return try await sweepChunks(part, report: &report)
    }

    /// Removes the leftovers of killed backups and sweeps the chunks, holding the backup lock;
    /// deferred while something blocks it (`sweepBlocker`). Returns the sweep's outcome.
    private func sweepChunks(_ part: HistoryPart, report: inout RetentionReport) async throws -> String {
        let repository = part.repository
        let catalog = part.catalog
        if let blocker = try await sweepBlocker(repository: repository, damaged: part.damaged) {
            logger.notice("chunk sweep deferred: \(blocker)")
            return "deferred: \(blocker)"
        }
        let lock = RepositoryLock(repository: repository, name: "backup", purpose: "retention")
        let owner: LockOwner
        do {
            owner = try await lock.acquire()
        } catch LockError.held(_, _, let holder) {
            logger.notice("chunk sweep deferred: \(Self.describe(holder)) is running")
            return "deferred: \(Self.describe(holder)) is running"
        }
        do {
            let lockTime = try await ChunkSweep.lockTime(lock)
            let held = try await lock.refresh(owner)
            let leftovers = try await catalog.cleanupIncomplete(olderThan: 0)
            report.leftovers += leftovers
            for id in leftovers { logger.info("removed the leftovers of backup \(id), which never completed") }
            let outcome = try await ChunkSweep(catalog: catalog, margin: sweepMargin).sweep(lock: lock, owner: held, lockTime: lockTime)
            report.chunks.removed += outcome.removed
            report.chunks.bytesFreed += outcome.bytesFreed
            logger.info("chunk sweep done", metadata: [
                "removed": "\(outcome.removed)", "bytes": "\(outcome.bytesFreed)", "keptYoung": "\(outcome.young)",
            ])
        } catch let error as LockError {
            logger.warning("chunk sweep stopped: \(error)")
            return "stopped: \(String(describing: error).split(separator: "\n").first ?? "")"
        } catch {
            try? await lock.release(owner)
            throw error
        }
        try await lock.release(owner)
        return "done"
    }

    /// Why the leftovers clean-up and the chunk sweep cannot run now, or nil: a damaged
    /// `backup.json` (its chunks are unknown) or a backup holding the lock.
    private func sweepBlocker(repository: Repository, damaged: [DamagedBackup]) async throws -> String? {
        if let first = damaged.first {
            return "the backup.json of backup \(first.id) is damaged, so the chunks it references are unknown"
        }
        let lock = RepositoryLock(repository: repository, name: "backup")
        if let holder = try await lock.current(), lock.isAlive(holder) {
            return "\(Self.describe(holder)) is running"
        }
        return nil
    }

    private func removedEntry(_ id: BackupID, _ byID: [BackupID: RetentionBackup], bytes: Int64) -> RetentionReport.Removed {
        let backup = byID[id]!
        return RetentionReport.Removed(id: id, timeline: backup.timeline, stopTime: backup.stopTime, bytes: bytes)
    }

    private func deleteInBatches(_ keys: [String], from store: any ObjectStore) async throws {
        var start = 0
        while start < keys.count {
            let end = min(keys.count, start + 1000)
            try await store.delete(Array(keys[start..<end]))
            start = end
        }
    }

    /// `backup <pid> on <host>` or `retention <pid> on <host>`.
    static func describe(_ holder: LockOwner) -> String {
        "\(holder.purpose ?? "backup") pid \(holder.pid) on \(holder.hostname)"
    }

    static func retentionPin(_ kind: BackupManifest.PinKind) -> RetentionPin {
        switch kind {
        case .full: .full
        case .standalone: .standalone
        }
    }
}
