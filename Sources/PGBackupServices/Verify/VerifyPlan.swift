import PGBackupFoundations
import PGBackupRepository
import PGBackupStorage

/// What `pgbackup verify` reads in one history and what it knows is wrong without reading,
/// decided from what was gathered (`VerifyInputs`). Pure.
///
/// - Each chunk or pack the covered backups reference is one job, however many backups share
///   it: the stored object in the backup's compression, else any stored one. None stored is a
///   problem naming every backup that references it.
/// - Each covered backup's server `backup_manifest` is a job; not stored, a problem.
/// - Every object under `wal/` the archive's layout knows, every gap record, and diverged WAL
///   whose compression its record names (records themselves as they are) is a job.
/// - `walProblems`: the WAL each covered backup needs (`VerifyWALRules`) that the archive lacks,
///   along the timeline recovery follows, and the recorded gaps crossing it.
struct VerifyPlan: Sendable {
    var jobs: [VerifyJob] = []
    /// Problems found without reading an object, in report order: damaged `backup.json` files,
    /// missing server manifests, missing chunks.
    var problems: [VerifyReport.Problem] = []
    /// Chunks (and packs) referenced, each counted once.
    var chunks = 0
    /// Stored bytes of the covered backups' `backup.json` files (read already).
    var manifestBytes: Int64 = 0
    var walProblems: [VerifyReport.Problem] = []

    init(_ inputs: VerifyInputs) {
        problems = inputs.damaged
        for manifest in inputs.covered {
            manifestBytes += inputs.backupObjects[inputs.backupLayout.manifestKey(manifest.id)] ?? 0
        }

        // What the covered backups reference, each object once.
        var chunks: [SHA256Digest: (size: Int64, preferred: CompressionAlgorithm, backups: [BackupID])] = [:]
        for manifest in inputs.covered {
            for file in manifest.files {
                for chunk in file.chunks ?? [] {
                    chunks[chunk.sha256, default: (chunk.size, manifest.compression.algorithm, [])].backups.append(manifest.id)
                }
                if let packed = file.packed {
                    chunks[packed.pack, default: (packed.packSize, manifest.compression.algorithm, [])].backups.append(manifest.id)
                }
            }
            if let server = manifest.serverManifest {
                if let size = inputs.backupObjects[server.key] {
                    jobs.append(VerifyJob(key: server.key, algorithm: server.compression, storedSize: size, expected: (server.sha256, server.size), wal: false))
                } else {
                    problems.append(.init(object: server.key, problem: "missing (the server's backup_manifest of backup \(manifest.id))"))
                }
            }
        }
        self.chunks = chunks.count
        for (sha256, chunk) in chunks.sorted(by: { $0.key.description < $1.key.description }) {
            let name = inputs.chunkNaming.name(of: sha256)
            let candidates = inputs.storedChunks[name] ?? []
            guard let object = candidates.first(where: { $0.algorithm == chunk.preferred }) ?? candidates.first else {
                let backups = Set(chunk.backups).sorted().map(\.description).joined(separator: ", ")
                problems.append(.init(
                    object: inputs.backupLayout.chunkKey(name, chunk.preferred),
                    problem: "missing (referenced by backup\(backups.contains(",") ? "s" : "") \(backups))"))
                continue
            }
            jobs.append(VerifyJob(key: object.key, algorithm: object.algorithm, storedSize: object.size, expected: (sha256, chunk.size), wal: false))
        }

        // Every WAL object the archive's layout knows, the recorded gaps, and diverged WAL (a
        // damaged record is reported by its own seal check).
        let layout = inputs.walLayout
        let divergedCompression = Dictionary(inputs.diverged.map { ($0.key, $0.compression) }, uniquingKeysWith: { first, _ in first })
        for object in inputs.walListing {
            if object.key.hasPrefix(layout.divergedPrefix) {
                let algorithm = object.key.hasSuffix(".json") ? CompressionAlgorithm.none : divergedCompression[object.key]
                if let algorithm {
                    jobs.append(VerifyJob(key: object.key, algorithm: algorithm, storedSize: object.size, expected: nil, wal: true))
                }
            } else if object.key.hasPrefix(layout.gapPrefix) {
                jobs.append(VerifyJob(key: object.key, algorithm: .none, storedSize: object.size, expected: nil, wal: true))
            } else if let entry = layout.entry(forKey: object.key, segmentSize: inputs.segmentSize) {
                jobs.append(VerifyJob(key: object.key, algorithm: entry.algorithm, storedSize: object.size, expected: nil, wal: true))
            }
        }

        walProblems = Self.walProblems(inputs, rules: VerifyWALRules(walRetention: inputs.walRetention, newest: inputs.newest))
    }

    /// The WAL the covered backups need and the archive lacks, and the recorded gaps crossing it.
    static func walProblems(_ inputs: VerifyInputs, rules: VerifyWALRules) -> [VerifyReport.Problem] {
        let continuity = inputs.continuity
        var missing: [WALSegmentRange: (own: Bool, backups: [BackupID])] = [:]
        var crossing: [String: (gap: WALGap, backups: [BackupID])] = [:]
        for manifest in inputs.covered {
            // Recovery follows the archive's newest timeline when it passes through the backup.
            var path = inputs.history(manifest.timeline)
            if let latest = continuity.latestTimeline, latest != manifest.timeline {
                let candidate = inputs.history(latest)
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
            for gap in inputs.gaps where gap.startLSN < end && gap.endLSN > manifest.startLSN && path.contains(gap.timeline) {
                crossing[inputs.walLayout.gapKey(gap), default: (gap, [])].backups.append(manifest.id)
            }
        }
        var problems: [VerifyReport.Problem] = []
        for (range, need) in missing.sorted(by: { ($0.key.timeline.rawValue, $0.key.first.segmentNumber) < ($1.key.timeline.rawValue, $1.key.first.segmentNumber) }) {
            let backups = need.backups.map(\.description).joined(separator: ", ")
            let key = inputs.walLayout.key(of: .segment(range.first, inputs.walCompression))
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
