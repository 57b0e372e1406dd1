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

    /// One history's part of `run`.
    private func verify(
        _ options: Options, repository: Repository, info: RepositoryInfo, walRetention: RetentionRules.WALRetention
    ) async throws -> VerifyReport {
        let segmentSize = info.walSegmentSize
        let catalog = BackupCatalog(repository: repository)
        let archive = WALArchive(repository: repository, segmentSize: segmentSize, compression: settings.compression)
        var report = VerifyReport()

        // The backups covered, read (and so verified) through their seals.
        let survey = try await catalog.survey()
        let backupObjects = Dictionary(
            try await repository.store.list(prefix: repository.layout.backupsPrefix).map { ($0.key, $0.size) },
            uniquingKeysWith: { first, _ in first })
        var covered: [BackupManifest] = []
        if let text = options.backupID {
            do {
                covered = [try await catalog.manifest(named: text)]
            } catch BackupCatalogError.damaged(_, let key, let problem) {
                report.errors.append(.init(object: key, problem: problem))
            }
        } else {
            report.errors += survey.damaged.map { VerifyReport.Problem(object: $0.key, problem: $0.problem) }
            for summary in survey.backups {
                do {
                    covered.append(try await catalog.manifest(summary.id))
                } catch BackupCatalogError.notFound {
                    continue  // removed since the survey
                }
            }
        }
        for manifest in covered {
            report.backups.append(manifest.id)
            report.objectsRead += 1
            report.bytesRead += backupObjects[catalog.layout.manifestKey(manifest.id)] ?? 0
        }

        // What the covered backups reference, each object once.
        var jobs: [VerifyJob] = []
        let stored = try await storedChunks(repository)
        var chunks: [SHA256Digest: (size: Int64, preferred: CompressionAlgorithm, backups: [BackupID])] = [:]
        for manifest in covered {
            for file in manifest.files {
                for chunk in file.chunks ?? [] {
                    chunks[chunk.sha256, default: (chunk.size, manifest.compression.algorithm, [])].backups.append(manifest.id)
                }
                if let packed = file.packed {
                    chunks[packed.pack, default: (packed.packSize, manifest.compression.algorithm, [])].backups.append(manifest.id)
                }
            }
            if let server = manifest.serverManifest {
                if let size = backupObjects[server.key] {
                    jobs.append(VerifyJob(key: server.key, algorithm: server.compression, storedSize: size, expected: (server.sha256, server.size), wal: false))
                } else {
                    report.errors.append(.init(object: server.key, problem: "missing (the server's backup_manifest of backup \(manifest.id))"))
                }
            }
        }
        report.chunks = chunks.count
        for (sha256, chunk) in chunks.sorted(by: { $0.key.description < $1.key.description }) {
            let candidates = stored[repository.chunkNaming.name(of: sha256)] ?? []
            guard let object = candidates.first(where: { $0.algorithm == chunk.preferred }) ?? candidates.first else {
                let backups = Set(chunk.backups).sorted().map(\.description).joined(separator: ", ")
                report.errors.append(.init(
                    object: catalog.layout.chunkKey(repository.chunkNaming.name(of: sha256), chunk.preferred),
                    problem: "missing (referenced by backup\(backups.contains(",") ? "s" : "") \(backups))"))
                continue
            }
            jobs.append(VerifyJob(key: object.key, algorithm: object.algorithm, storedSize: object.size, expected: (sha256, chunk.size), wal: false))
        }

        // Every WAL object the archive's layout knows, the recorded gaps, and diverged WAL (a
        // damaged record is reported by its own seal check).
        let walListing = try await repository.store.list(prefix: archive.layout.prefix)
        report.diverged = (try? await archive.diverged()) ?? []
        let divergedCompression = Dictionary(report.diverged.map { ($0.key, $0.compression) }, uniquingKeysWith: { first, _ in first })
        for object in walListing {
            if object.key.hasPrefix(archive.layout.divergedPrefix) {
                let algorithm = object.key.hasSuffix(".json") ? CompressionAlgorithm.none : divergedCompression[object.key]
                if let algorithm {
                    jobs.append(VerifyJob(key: object.key, algorithm: algorithm, storedSize: object.size, expected: nil, wal: true))
                }
            } else if object.key.hasPrefix(archive.layout.gapPrefix) {
                jobs.append(VerifyJob(key: object.key, algorithm: .none, storedSize: object.size, expected: nil, wal: true))
            } else if let entry = archive.layout.entry(forKey: object.key, segmentSize: segmentSize) {
                jobs.append(VerifyJob(key: object.key, algorithm: entry.algorithm, storedSize: object.size, expected: nil, wal: true))
            }
        }

        // Read them all, `jobs` at a time.
        let outcome = await VerifyJob.runAll(jobs, repository: repository, width: max(1, options.jobs), onProgress: options.onProgress)
        report.errors += outcome.problems
        report.objectsRead += jobs.count
        report.walObjects = jobs.filter(\.wal).count
        report.bytesRead += outcome.bytes
        report.errors += await serverManifestProblems(covered: covered, catalog: catalog, damaged: Set(outcome.problems.map(\.object)))

        // WAL continuity and recorded gaps.
        let continuity = WALContinuity(keys: walListing.map(\.key), layout: archive.layout, segmentSize: segmentSize)
        let newest = survey.backups.last?.id
        report.errors += await walProblems(
            covered: covered, continuity: continuity, archive: archive,
            rules: VerifyWALRules(walRetention: walRetention, newest: newest))
        return report
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
    private func storedChunks(_ repository: Repository) async throws -> [SHA256Digest: [(key: String, algorithm: CompressionAlgorithm, size: Int64)]] {
        var result: [SHA256Digest: [(key: String, algorithm: CompressionAlgorithm, size: Int64)]] = [:]
        let layout = BackupLayout(repository: repository.layout)
        for info in try await repository.store.list(prefix: repository.layout.chunksPrefix) {
            guard let chunk = layout.chunk(ofKey: info.key) else { continue }
            result[chunk.name, default: []].append((info.key, chunk.algorithm, info.size))
        }
        return result
    }

    /// The WAL the covered backups need and the archive lacks, and the recorded gaps crossing it.
    private func walProblems(
        covered: [BackupManifest], continuity: WALContinuity, archive: WALArchive, rules: VerifyWALRules
    ) async -> [VerifyReport.Problem] {
        var histories: [TimelineID: TimelineHistory] = [:]
        func history(_ timeline: TimelineID) async -> TimelineHistory {
            if let known = histories[timeline] { return known }
            // A damaged history file is reported by its seal check; follow the timeline alone.
            let found = timeline == TimelineID(1) ? nil : (try? await archive.history(of: timeline)) ?? nil
            let history = found ?? TimelineHistory(timeline: timeline, entries: [])
            histories[timeline] = history
            return history
        }
        let gaps: [WALGap] = (try? await archive.gaps()) ?? []  // a damaged record is reported by its seal check

        var missing: [WALSegmentRange: (own: Bool, backups: [BackupID])] = [:]
        var crossing: [String: (gap: WALGap, backups: [BackupID])] = [:]
        for manifest in covered {
            // Recovery follows the archive's newest timeline when it passes through the backup.
            var path = await history(manifest.timeline)
            if let latest = continuity.latestTimeline, latest != manifest.timeline {
                let candidate = await history(latest)
                if candidate.contains(manifest.timeline), (candidate.switchpoint(of: manifest.timeline) ?? manifest.stopLSN) >= manifest.stopLSN {
                    path = candidate
                }
            }
            let completedEnd = continuity.endOfArchive(timeline: path.timeline)
            var end = rules.requiredEnd(
                id: manifest.id, pin: manifest.pin, startLSN: manifest.startLSN, stopLSN: manifest.stopLSN, archiveEnd: completedEnd)
            // WAL past the last completed segment is in that segment's partial copy.
            let last = WALSegmentName(timeline: path.timeline, containing: end - 1, segmentSize: continuity.segmentSize)
            if end > (completedEnd ?? .zero), continuity.timeline(path.timeline)?.partials.contains(last) == true {
                end = max(manifest.startLSN, completedEnd ?? .zero)
            }
            for range in continuity.missingSegments(along: path, from: manifest.startLSN, to: end) {
                missing[range, default: (range.startLSN < manifest.stopLSN, [])].backups.append(manifest.id)
            }
            for gap in gaps where gap.startLSN < end && gap.endLSN > manifest.startLSN && path.contains(gap.timeline) {
                crossing[archive.layout.gapKey(gap), default: (gap, [])].backups.append(manifest.id)
            }
        }
        var problems: [VerifyReport.Problem] = []
        for (range, need) in missing.sorted(by: { ($0.key.timeline.rawValue, $0.key.first.segmentNumber) < ($1.key.timeline.rawValue, $1.key.first.segmentNumber) }) {
            let backups = need.backups.map(\.description).joined(separator: ", ")
            let key = archive.layout.key(of: .segment(range.first, settings.compression.algorithm))
            let problem = need.own
                ? "WAL \(range) missing: backup\(need.backups.count > 1 ? "s" : "") \(backups) cannot be restored without it"
                : "WAL \(range) missing after backup\(need.backups.count > 1 ? "s" : "") \(backups): recovery cannot pass it"
            problems.append(.init(object: key, problem: problem))
        }
        for (key, found) in crossing.sorted(by: { $0.key < $1.key }) {
            let backups = found.backups.map(\.description).joined(separator: ", ")
            problems.append(.init(object: key, problem: "\(found.gap) (WAL that backup\(found.backups.count > 1 ? "s" : "") \(backups) need\(found.backups.count > 1 ? "" : "s"))"))
        }
        return problems
    }
}
