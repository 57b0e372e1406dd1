import Foundation
import PGBackupFoundations
import PGBackupRepository
import PGBackupStorage
import PGBackupTestSupport
import PropertyBased
import Testing
@testable import PGBackupServices

/// `VerifyPlan` (pure: what verify gathered in, the objects to read and the problems found
/// without reading out).
@Suite("verify plan")
struct VerifyPlanTests {
    static let size = try! WALSegmentSize(megabytes: 16)
    static let t0 = Date(timeIntervalSince1970: 1_800_000_000)
    static let backupLayout = BackupLayout(repository: RepositoryLayout(server: "main"))
    static let walLayout = WALArchiveLayout(repository: RepositoryLayout(server: "main"))
    static func digest(_ text: String) -> SHA256Digest { SHA256Hasher.hash(Array(text.utf8)) }
    static func segment(_ number: UInt64, timeline: UInt32 = 1) -> WALSegmentName {
        WALSegmentName(timeline: TimelineID(timeline), containing: LSN(number * size.bytes), segmentSize: size)
    }

    /// A backup of timeline 1 from `start` to `stop`, its files chunked as `chunks` says.
    static func manifest(
        at offset: TimeInterval, start: LSN, stop: LSN, chunks: [String], packed: String? = nil,
        serverManifest: String? = nil, compression: Compression = .zstd(level: 1)
    ) -> BackupManifest {
        let time = t0 + offset
        var files = [BackupManifest.File(
            path: "base/5/1", type: .file, mode: 0o600, mtime: time, size: Int64(chunks.count) * 10, sha256: digest("file"),
            chunks: chunks.enumerated().map { .init(offset: Int64($0.offset) * 10, size: 10, sha256: digest($0.element)) })]
        if let packed {
            files.append(.init(path: "PG_VERSION", type: .file, mode: 0o600, mtime: time, size: 3, sha256: digest("15"),
                               packed: .init(pack: digest(packed), packSize: 500, offset: 0)))
        }
        let id = BackupID(date: time)
        return BackupManifest(
            id: id, server: "main", systemIdentifier: 7_311_234_567_890_123_456,
            postgresVersionNumber: 150_018, timeline: TimelineID(1), startLSN: start, stopLSN: stop,
            startTime: time, stopTime: time, label: "test", compression: compression, chunking: .default,
            tablespaces: [], files: files,
            totals: .init(databaseSize: 0, newChunks: 0, storedNew: 0, deduplicatedChunks: 0, storedDeduplicated: 0),
            serverManifest: serverManifest.map {
                .init(key: backupLayout.backupPrefix(id) + "backup_manifest.zst", size: 100, sha256: digest($0), storedSize: 60, compression: .zstd)
            },
            wal: .init(start: segment(start.rawValue / size.bytes).name, stop: segment(stop.rawValue / size.bytes).name), durationSeconds: 1)
    }

    static func stored(_ text: String, _ algorithm: CompressionAlgorithm) -> VerifyInputs.StoredChunk {
        .init(key: backupLayout.chunkKey(digest(text), algorithm), algorithm: algorithm, size: 42)
    }

    static func inputs(
        covered: [BackupManifest], stored: [VerifyInputs.StoredChunk] = [], backupObjects: [String: Int64] = [:],
        walKeys: [String] = [], diverged: [DivergedWAL] = [], gaps: [WALGap] = [], retention: RetentionRules.WALRetention = .pitr
    ) -> VerifyInputs {
        var chunks: [SHA256Digest: [VerifyInputs.StoredChunk]] = [:]
        for chunk in stored { chunks[backupLayout.chunk(ofKey: chunk.key)!.name, default: []].append(chunk) }
        return VerifyInputs(
            backupLayout: backupLayout, walLayout: walLayout, segmentSize: size, chunkNaming: .contentDigest, walCompression: .zstd,
            walRetention: retention, covered: covered, damaged: [], newest: covered.last?.id, backupObjects: backupObjects,
            storedChunks: chunks, walListing: walKeys.map { ObjectInfo(key: $0, size: 7, modified: t0) },
            continuity: WALContinuity(keys: walKeys, layout: walLayout, segmentSize: size), diverged: diverged, histories: [:], gaps: gaps)
    }

    static func walKey(_ number: UInt64) -> String { walLayout.key(of: .segment(segment(number), .zstd)) }

    @Test func aSharedChunkIsReadOnceAndAMissingOneNamesEveryBackupReferencingIt() {
        let older = Self.manifest(at: 0, start: LSN(0x1000028), stop: LSN(0x1000100), chunks: ["a", "b"], packed: "p", serverManifest: "m1")
        let newer = Self.manifest(at: 3600, start: LSN(0x2000028), stop: LSN(0x2000100), chunks: ["a", "b"], serverManifest: "m2")
        let serverKey = older.serverManifest!.key
        let inputs = Self.inputs(
            covered: [older, newer], stored: [Self.stored("a", .none), Self.stored("a", .zstd), Self.stored("p", .gzip)],
            backupObjects: [Self.backupLayout.manifestKey(older.id): 300, Self.backupLayout.manifestKey(newer.id): 200, serverKey: 60])
        let plan = VerifyPlan(inputs)

        #expect(plan.chunks == 3)
        #expect(plan.manifestBytes == 500)
        // "a" in the backups' compression, the pack in the only one stored, older's server manifest.
        #expect(Set(plan.jobs.map(\.key)) == [Self.stored("a", .zstd).key, Self.stored("p", .gzip).key, serverKey])
        #expect(plan.jobs.allSatisfy { !$0.wal && $0.expected != nil })
        #expect(plan.problems == [
            .init(object: newer.serverManifest!.key, problem: "missing (the server's backup_manifest of backup \(newer.id))"),
            .init(object: Self.backupLayout.chunkKey(Self.digest("b"), .zstd), problem: "missing (referenced by backups \(older.id), \(newer.id))"),
        ])
    }

    @Test func everyWALObjectTheLayoutKnowsIsReadAndDivergedWALOnlyWithItsCompression() {
        let diverged = DivergedWALServicesTests.record("000000010000000000000009", at: Self.t0)
        let gap = WALGap(
            startLSN: LSN(0x5000000), endLSN: LSN(0x6000000), timeline: TimelineID(1), resumedTimeline: TimelineID(1), segmentSize: Self.size,
            detectedAt: Self.t0, archivedBefore: nil, reason: "slot invalidated")
        let keys = [
            Self.walKey(1), Self.walLayout.gapKey(gap), diverged.key, Self.walLayout.divergedRecordKey(diverged.key),
            Self.walLayout.divergedPrefix + "00000001/00000001000000000000000A.unknown", Self.walLayout.prefix + "stray.txt",
        ]
        let plan = VerifyPlan(Self.inputs(covered: [], walKeys: keys, diverged: [diverged]))
        #expect(plan.jobs.map(\.key) == Array(keys.prefix(4)))
        #expect(plan.jobs.map(\.algorithm) == [.zstd, .none, .zstd, .none])
        #expect(plan.jobs.filter { !$0.wal }.isEmpty)
        #expect(plan.problems.isEmpty && plan.walProblems.isEmpty)
    }

    @Test func missingWALIsTheBackupsOwnOrPastItsStopAndACrossingGapIsNamed() {
        // Segments 1, 2 and 5 stored. Under pitr both backups need the WAL to segment 5's end:
        // 3–4 lie past the first one's stop and inside the second one's own WAL.
        let first = Self.manifest(at: 0, start: LSN(0x1000028), stop: LSN(0x2000100), chunks: [])
        let second = Self.manifest(at: 3600, start: LSN(0x3000028), stop: LSN(0x3000100), chunks: [])
        let gap = WALGap(
            startLSN: LSN(0x3000000), endLSN: LSN(0x5000000), timeline: TimelineID(1), resumedTimeline: TimelineID(1), segmentSize: Self.size,
            detectedAt: Self.t0, archivedBefore: nil, reason: "slot invalidated")
        let keys = [1, 2, 5].map(Self.walKey)
        let both = VerifyPlan(Self.inputs(covered: [first, second], walKeys: keys, gaps: [gap])).walProblems
        #expect(both.map(\.object) == [Self.walKey(3), Self.walLayout.gapKey(gap)])
        #expect(both[0].problem.hasPrefix("WAL ") && both[0].problem.hasSuffix(" missing after backups \(first.id), \(second.id): recovery cannot pass it"))
        #expect(both[1].problem == "\(gap) (WAL that backups \(first.id), \(second.id) need)")

        let own = VerifyPlan(Self.inputs(covered: [second], walKeys: keys)).walProblems
        #expect(own.count == 1 && own[0].object == Self.walKey(3))
        #expect(own[0].problem.hasSuffix(" missing: backup \(second.id) cannot be restored without it"))

        // Under consistency a backup but the newest needs only its own WAL, which is whole.
        var consistent = Self.inputs(covered: [first], walKeys: keys, gaps: [gap], retention: .consistency)
        consistent.newest = second.id
        #expect(VerifyPlan(consistent).walProblems.isEmpty)
        consistent.walRetention = .pitr
        #expect(VerifyPlan(consistent).walProblems.count == 2)
    }

    /// On random stores: each chunk a backup references is read once or reported missing once,
    /// never both, and only stored objects are read.
    @Test func everyReferencedChunkIsReadOrReportedExactlyOnce() async {
        await propertyCheck(count: 200, input: Gen.uint64()) { (seed: UInt64) in
            var rng = SeededGenerator(seed: seed)
            let names = (0..<8).map { "c\($0)" }
            var manifests: [BackupManifest] = []
            for index in 0..<Int.random(in: 1...3, using: &rng) {
                let base = UInt64(index + 1) * 0x1000000
                let chunks = names.filter { _ in Bool.random(using: &rng) }
                manifests.append(Self.manifest(at: TimeInterval(index * 3600), start: LSN(base + 0x28), stop: LSN(base + 0x100), chunks: chunks))
            }
            let algorithms: [CompressionAlgorithm] = [.none, .gzip, .zstd]
            let stored = names.flatMap { name in algorithms.filter { _ in Int.random(in: 0..<3, using: &rng) == 0 }.map { Self.stored(name, $0) } }
            let plan = VerifyPlan(Self.inputs(covered: manifests, stored: stored))

            let referenced = Set(manifests.flatMap { $0.files.flatMap { $0.chunks ?? [] }.map(\.sha256) })
            let storedNames = Set(stored.map { Self.backupLayout.chunk(ofKey: $0.key)!.name })
            let read = plan.jobs.map { $0.expected!.sha256 }
            let missing = plan.problems.map { Self.backupLayout.chunk(ofKey: $0.object)!.name }
            #expect(plan.chunks == referenced.count, "seed \(seed)")
            #expect(read.count == Set(read).count && missing.count == Set(missing).count, "seed \(seed)")
            #expect(Set(read) == referenced.intersection(storedNames), "seed \(seed)")
            #expect(Set(missing) == referenced.subtracting(storedNames), "seed \(seed)")
            #expect(Set(plan.jobs.map(\.key)).isSubset(of: stored.map(\.key)), "seed \(seed)")
            // The backups' own compression (zstd) whenever it is stored.
            for job in plan.jobs where stored.contains(where: { $0.key == Self.backupLayout.chunkKey(job.expected!.sha256, .zstd) }) {
                #expect(job.algorithm == .zstd, "seed \(seed)")
            }
        }
    }
}
