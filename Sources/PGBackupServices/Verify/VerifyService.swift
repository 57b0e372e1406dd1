import Foundation
import Logging
import PGBackupFoundations
import PGBackupRepository
import PGBackupStorage

/// `pgbackup verify`: reads every object the covered backups need and every object of the WAL
/// archive, recomputes every seal, and checks WAL continuity (DESIGN.md, "Checks and
/// verification").
///
/// - Backups: every complete backup, or the one `--backup-id` names. A damaged `backup.json`
///   is a problem named by its key. Each chunk and pack a manifest references, and the server's
///   `backup_manifest`, must exist, verify against its seal and hold the content the manifest
///   records (its SHA-256 and length). An object shared by many backups is read once.
/// - WAL: every object under `wal/` that the archive's layout knows (segments, partials,
///   history files, backup history files, server-time records, gap records) verifies against its
///   seal; each covered backup's WAL is continuous along the timeline history, as `VerifyWALRules`
///   says (the holes retention makes on purpose are not problems); a recorded gap crossing that
///   WAL is a problem naming the gap record. Diverged WAL (`wal/diverged/`) is listed as
///   information (`VerifyReport.diverged`), not a problem; its objects and records are verified.
/// - Never stops at the first problem. Memory: the lists of keys and one read piece per job;
///   `jobs` objects are read at once.
public struct VerifyService: Sendable {
    public let settings: Settings
    public let logger: Logger

    public init(settings: Settings, logger: Logger) {
        self.settings = settings
        self.logger = logger
    }

    /// How far the reading went, for `--progress`.
    public struct Progress: Sendable {
        public var objectsDone: Int
        public var objectsTotal: Int
        public var bytesDone: Int64
        public var bytesTotal: Int64
    }

    public struct Options: Sendable {
        /// The backup to verify (as the operator typed it); nil for every complete backup.
        public var backupID: String?
        /// Objects read at once.
        public var jobs: Int = 4
        public var onProgress: (@Sendable (Progress) -> Void)?
        public init() {}
    }

    /// Verifies every history of the server (`init --upgrade`) in turn, or only the one holding
    /// `--backup-id`; one report for all.
    public func run(_ options: Options) async throws -> VerifyReport {
        let started = ContinuousClock.now
        let walRetention = try settings.retentionRules()?.wal ?? .pitr
        var histories = try await RepositoryAccess.openHistories(settings)
        if let text = options.backupID, let id = BackupID(text) {
            histories = [try await RepositoryAccess.history(holding: id, in: histories)]
        } else if options.backupID != nil {
            histories = [histories[histories.count - 1]]
        }
        var report = VerifyReport()
        for (repository, info) in histories {
            let part = try await verify(options, repository: repository, info: info, walRetention: walRetention)
            report.errors += part.errors
            report.backups += part.backups
            report.objectsRead += part.objectsRead
            report.bytesRead += part.bytesRead
            report.chunks += part.chunks
            report.walObjects += part.walObjects
            report.diverged += part.diverged
        }

        let elapsed = ContinuousClock.now - started
        report.seconds = elapsed.inSeconds
        logger.info("verify finished", metadata: [
            "backups": "\(report.backups.count)", "objects": "\(report.objectsRead)", "bytes": "\(report.bytesRead)",
            "problems": "\(report.errors.count)", "histories": "\(histories.count)",
        ])
        return report
    }

    /// One history's part of `run`: gather, decide (`VerifyPlan`), then read the objects.
    private func verify(
        _ options: Options, repository: Repository, info: RepositoryInfo, walRetention: RetentionRules.WALRetention
    ) async throws -> VerifyReport {
        let catalog = BackupCatalog(repository: repository)
        let inputs = try await gather(options, repository: repository, info: info, walRetention: walRetention)
        let plan = VerifyPlan(inputs)
        var report = VerifyReport()
        report.errors = plan.problems
        report.backups = inputs.covered.map(\.id)
        report.chunks = plan.chunks
        report.diverged = inputs.diverged

        // Read them all, `jobs` at a time.
        let outcome = await VerifyJob.runAll(plan.jobs, repository: repository, width: max(1, options.jobs), onProgress: options.onProgress)
        report.errors += outcome.problems
        report.objectsRead = inputs.covered.count + plan.jobs.count
        report.walObjects = plan.jobs.filter(\.wal).count
        report.bytesRead = plan.manifestBytes + outcome.bytes
        report.errors += await serverManifestProblems(covered: inputs.covered, catalog: catalog, damaged: Set(outcome.problems.map(\.object)))
        report.errors += plan.walProblems
        return report
    }

    /// Everything `VerifyPlan` decides from, read once: the covered backups (read, and so
    /// verified, through their seals), the listings, diverged WAL, timeline histories and gaps.
    private func gather(
        _ options: Options, repository: Repository, info: RepositoryInfo, walRetention: RetentionRules.WALRetention
    ) async throws -> VerifyInputs {
        let segmentSize = info.walSegmentSize
        let catalog = BackupCatalog(repository: repository)
        let archive = WALArchive(repository: repository, segmentSize: segmentSize, compression: settings.compression)

        let survey = try await catalog.survey()
        let backupObjects = Dictionary(
            try await repository.store.list(prefix: repository.layout.backupsPrefix).map { ($0.key, $0.size) },
            uniquingKeysWith: { first, _ in first })
        var covered: [BackupManifest] = []
        var damaged: [VerifyReport.Problem] = []
        if let text = options.backupID {
            do {
                covered = [try await catalog.manifest(named: text)]
            } catch BackupCatalogError.damaged(_, let key, let problem) {
                damaged.append(.init(object: key, problem: problem))
            }
        } else {
            damaged = survey.damaged.map { VerifyReport.Problem(object: $0.key, problem: $0.problem) }
            for summary in survey.backups {
                do {
                    covered.append(try await catalog.manifest(summary.id))
                } catch BackupCatalogError.notFound {
                    continue  // removed since the survey
                }
            }
        }
        let storedChunks = try await storedChunks(repository)

        let walListing = try await repository.store.list(prefix: archive.layout.prefix)
        let diverged = (try? await archive.diverged()) ?? []
        let continuity = WALContinuity(keys: walListing.map(\.key), layout: archive.layout, segmentSize: segmentSize)
        var histories: [TimelineID: TimelineHistory] = [:]
        for timeline in VerifyInputs.timelinesFollowed(covered: covered, latest: continuity.latestTimeline) where timeline != TimelineID(1) {
            // A damaged history file is reported by its seal check; follow the timeline alone.
            if let found = (try? await archive.history(of: timeline)) ?? nil { histories[timeline] = found }
        }
        let gaps: [WALGap] = (try? await archive.gaps()) ?? []  // a damaged record is reported by its seal check
        return VerifyInputs(
            backupLayout: catalog.layout, walLayout: archive.layout, segmentSize: segmentSize, chunkNaming: repository.chunkNaming,
            walCompression: settings.compression.algorithm, walRetention: walRetention, covered: covered, damaged: damaged,
            newest: survey.backups.last?.id, backupObjects: backupObjects, storedChunks: storedChunks, walListing: walListing,
            continuity: continuity, diverged: diverged, histories: histories, gaps: gaps)
    }

    /// Each covered backup's server `backup_manifest` that read back intact must describe the
    /// backup's cluster: version 2 (PostgreSQL 17+) names its system identifier. The head only
    /// is checked; the seals were checked by the jobs (`damaged`: the keys they found wrong).
    private func serverManifestProblems(covered: [BackupManifest], catalog: BackupCatalog, damaged: Set<String>) async -> [VerifyReport.Problem] {
        var problems: [VerifyReport.Problem] = []
        for manifest in covered {
            guard let stored = manifest.serverManifest, !damaged.contains(stored.key) else { continue }
            let expected = manifest.systemIdentifier
            do {
                guard let content = try await catalog.serverManifest(of: manifest) else { continue }
                try ServerManifestHeader(parsing: content).check(systemIdentifier: expected, source: "backup \(manifest.id)'s")
            } catch {
                problems.append(.init(object: stored.key, problem: "\(error)"))
            }
        }
        return problems
    }

    /// The chunk objects stored, by name (`Repository.chunkNaming`; one listing of `chunks/`).
    private func storedChunks(_ repository: Repository) async throws -> [SHA256Digest: [VerifyInputs.StoredChunk]] {
        var result: [SHA256Digest: [VerifyInputs.StoredChunk]] = [:]
        let layout = BackupLayout(repository: repository.layout)
        for info in try await repository.store.list(prefix: repository.layout.chunksPrefix) {
            guard let chunk = layout.chunk(ofKey: info.key) else { continue }
            result[chunk.name, default: []].append(.init(key: info.key, algorithm: chunk.algorithm, size: info.size))
        }
        return result
    }
}
