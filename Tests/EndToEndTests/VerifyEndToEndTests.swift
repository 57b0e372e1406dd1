import Foundation
import Testing
import PGBackupFoundations
import PGBackupRepository
import PGBackupStorage
import PGBackupTestSupport

#if canImport(Glibc)
import Glibc
#endif

/// `pgbackup verify` against a repository of real backups and daemon-archived WAL, healthy and
/// then damaged object by object through the store (file:// and s3).
@Suite("pgbackup verify, end to end", .serialized)
struct VerifyEndToEndTests {
    struct Report: Decodable {
        struct Problem: Decodable { var object: String; var problem: String }
        var ok: Bool
        var errors: [Problem]
        var backups: [String]
        var objectsRead: Int
        var bytesRead: Int64
        var chunks: Int
        var walObjects: Int
    }

    static func verify(_ fixture: DaemonFixture, _ arguments: [String] = []) async throws -> (Report?, ProcessResult) {
        let result = try await PGBackupBinary.run(["verify", "--json", "--jobs", "3"] + arguments, environment: fixture.environment)
        return (try? decode(Report.self, result.standardOutput), result)
    }

    /// The chunk digests (and packs) backup `id` references.
    static func references(_ repository: Repository, _ id: BackupID) async throws -> (chunks: Set<SHA256Digest>, packs: Set<SHA256Digest>) {
        let manifest = try await BackupCatalog(repository: repository).manifest(id)
        return (Set(manifest.files.flatMap { $0.chunks ?? [] }.map(\.sha256)), Set(manifest.files.compactMap(\.packed?.pack)))
    }

    @Test(arguments: RepositoryKind.tested)
    func aHealthyRepositoryVerifiesAndEveryDamagedObjectIsNamed(kind: RepositoryKind) async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        try await withPostgresCluster(RestoreEndToEndTests.options) { cluster in
            let fixture = try await DaemonFixture(kind, cluster: cluster, scratch: scratch)
            let daemon = try fixture.startDaemon()
            defer { daemon.send(SIGKILL) }
            // Content only the first backup holds (dropped after it) and only the second holds.
            try await cluster.sql("CREATE TABLE old_rows AS SELECT g, md5(g::text) AS m FROM generate_series(1, 20000) g")
            let a = try await backupSummary(fixture)
            try await cluster.sql("DROP TABLE old_rows", "CREATE TABLE new_rows AS SELECT g, md5((g * 7)::text) AS m FROM generate_series(1, 20000) g")
            let b = try await backupSummary(fixture)
            for _ in 0..<3 { _ = try await fixture.switchSegment() }
            try await fixture.waitForArchive(of: try await fixture.switchSegment(), daemon: daemon)
            daemon.send(SIGTERM)
            _ = try await daemon.wait()

            // Healthy: exit 0, both backups, every object read.
            let (healthy, healthyRun) = try await Self.verify(fixture)
            try #require(healthyRun.status == 0, "verify of a healthy repository failed: \(healthyRun.standardOutput) \(healthyRun.standardError)")
            let clean = try #require(healthy)
            #expect(clean.ok && clean.errors.isEmpty)
            #expect(clean.backups == [a.id.description, b.id.description])
            #expect(clean.chunks > 0 && clean.walObjects > 0 && clean.bytesRead > 0)
            #expect(clean.objectsRead >= clean.chunks + clean.walObjects + 2)
            let text = try await PGBackupBinary.run(["verify"], environment: fixture.environment)
            #expect(text.status == 0 && text.standardOutput.contains("ok: 2 backups"), "\(text.standardOutput)")
            // --progress: quiet off a terminal; on one (script(1)), objects and bytes read of the total.
            let quiet = try await PGBackupBinary.run(["verify", "--progress"], environment: fixture.environment)
            #expect(quiet.status == 0 && !quiet.standardError.contains("\u{1B}[K"))
            var environment = fixture.environment
            environment["PGBACKUP_CONFIG"] = "/dev/null"
            let onTerminal = try await runProcess(
                "/usr/bin/script", ["-qec", "'\(PGBackupBinary.path)' verify --progress --jobs 1 --log-level warning", "/dev/null"],
                environment: environment.merging(["PATH": "/usr/bin:/bin"]) { $1 })
            #expect(onTerminal.status == 0, "\(onTerminal.standardOutput)")
            #expect(onTerminal.standardOutput.contains("\u{1B}[K") && onTerminal.standardOutput.contains(" objects, "), "\(onTerminal.standardOutput)")
            #expect(onTerminal.standardOutput.contains("%)") && onTerminal.standardOutput.contains("ok: 2 backups"))

            // An unknown backup id: exit 1, named.
            let unknown = try await PGBackupBinary.run(["verify", "--backup-id", "20200101T000000Z"], environment: fixture.environment)
            #expect(unknown.status == 1 && unknown.standardError.contains("20200101T000000Z"), "\(unknown.standardError)")

            let repository = try fixture.repository.mainServer
            let stored = try await repository.store.list(prefix: repository.layout.chunksPrefix).map(\.key)
            func chunkKey(_ digest: SHA256Digest) throws -> String {
                try #require(stored.first { $0.contains(digest.description) })
            }
            let refsA = try await Self.references(repository, a.id)
            let refsB = try await Self.references(repository, b.id)
            let onlyB = refsB.chunks.subtracting(refsA.chunks).subtracting(refsA.packs).sorted { $0.description < $1.description }
            try #require(onlyB.count >= 2, "backup B has no chunks of its own")
            let packOfA = try #require(refsA.packs.first)

            // A flipped byte in a chunk only B references: not reported when only A is verified.
            let flipped = try chunkKey(onlyB[0])
            try await fixture.repository.damage(flipped)
            let (onlyA, onlyARun) = try await Self.verify(fixture, ["--backup-id", a.id.description])
            #expect(onlyARun.status == 0, "\(onlyARun.standardOutput) \(onlyARun.standardError)")
            #expect(onlyA?.ok == true && onlyA?.backups == [a.id.description])

            // Then a removed chunk, a truncated pack, a removed WAL segment after B.
            let removed = try chunkKey(onlyB[1])
            try await repository.store.delete([removed])
            let pack = try chunkKey(packOfA)
            let packBytes = try await repository.store.get(pack)
            try await repository.store.put(pack, bytes: Array(packBytes.prefix(packBytes.count / 2)))
            let manifestB = try await BackupCatalog(repository: repository).manifest(b.id)
            let segments = try await fixture.archivedSegments()
            let candidates = segments.filter { $0.name > manifestB.wal.stop }.dropLast()
            let afterB = try #require(candidates.first)
            let walKeys = try await repository.store.list(prefix: repository.layout.walPrefix).map(\.key)
            let segmentKeys = walKeys.filter { !$0.hasSuffix(".times") && $0.contains("/" + afterB.name + ".") }
            let walKey = try #require(segmentKeys.first)
            try await repository.store.delete([walKey])
            // And a WAL segment cut short.
            let truncatedSegment = try #require(candidates.dropFirst().first)
            let truncatedKey = try #require(walKeys.first { !$0.hasSuffix(".times") && $0.contains("/" + truncatedSegment.name + ".") })
            let segmentBytes = try await repository.store.get(truncatedKey)
            try await repository.store.put(truncatedKey, bytes: Array(segmentBytes.prefix(segmentBytes.count - 100)))

            let (damaged, damagedRun) = try await Self.verify(fixture)
            #expect(damagedRun.status == 1, "\(damagedRun.standardOutput) \(damagedRun.standardError)")
            let report = try #require(damaged, "no JSON: \(damagedRun.standardOutput)")
            #expect(!report.ok)
            print("verify of the damaged repository (\(kind)):\n" + report.errors.map { "\($0.object): \($0.problem)" }.joined(separator: "\n"))
            func problem(_ key: String) -> String? { report.errors.first { $0.object == key }?.problem }
            let flippedProblem = problem(flipped) ?? ""
            #expect(flippedProblem.hasPrefix("seal mismatch") || flippedProblem.contains("damaged"), "\(report.errors)")
            #expect(problem(removed)?.contains("missing (referenced by backup \(b.id))") == true, "\(report.errors)")
            #expect(problem(pack)?.contains("truncated") == true, "\(report.errors)")
            let walProblem = report.errors.first { $0.object.contains(afterB.name) }
            #expect(walProblem?.problem.contains("missing after backup") == true, "\(report.errors)")
            #expect(walProblem?.problem.contains(b.id.description) == true, "\(report.errors)")
            #expect(problem(truncatedKey)?.contains("truncated") == true, "\(report.errors)")
            #expect(report.errors.count == 5, "\(report.errors)")

            // A damaged backup.json is a problem named by its key (and the rest is still read).
            let manifestKey = BackupLayout(repository: repository.layout).manifestKey(a.id)
            try await fixture.repository.damage(manifestKey)
            let (withDamagedManifest, damagedManifestRun) = try await Self.verify(fixture)
            #expect(damagedManifestRun.status == 1)
            let manifestErrors = try #require(withDamagedManifest).errors
            #expect(manifestErrors.contains { $0.object == manifestKey }, "\(manifestErrors)")
            #expect(manifestErrors.contains { $0.object == removed }, "\(manifestErrors)")
        }
    }

    @Test(arguments: RepositoryKind.tested)
    func theHolesRetentionMakesOnPurposeAreNotProblems(kind: RepositoryKind) async throws {
        typealias Restore = RestoreEndToEndTests
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        try await withPostgresCluster(Restore.options) { cluster in
            let fixture = try await DaemonFixture(kind, cluster: cluster, scratch: scratch)
            let daemon = try fixture.startDaemon()
            defer { daemon.send(SIGKILL) }
            try await cluster.sql("CREATE TABLE rows (batch int, id int)")
            _ = try await Restore.commitBatch(1, on: cluster)
            let standalone = try await backupSummary(fixture)
            _ = try await Restore.commitBatch(2, on: cluster)
            let afterStandalone = try await fixture.switchSegment()
            let middle = try await backupSummary(fixture)
            _ = try await Restore.commitBatch(3, on: cluster)
            let afterMiddle = try await fixture.switchSegment()
            let newest = try await backupSummary(fixture)
            _ = try await Restore.commitBatch(4, on: cluster)
            try await fixture.waitForArchive(of: try await fixture.switchSegment(), daemon: daemon)
            daemon.send(SIGTERM)
            _ = try await daemon.wait()

            let pinned = try await PGBackupBinary.run(["pin", standalone.id.description, "--standalone"], environment: fixture.environment)
            try #require(pinned.status == 0, "\(pinned.standardError)")
            let environment = try RetentionEndToEndTests.policy("retention:\n  redundancy: 2\n  wal: consistency\n", fixture)
            let (retention, _) = try await RetentionEndToEndTests.retention(environment)
            #expect(retention.removed.isEmpty)
            let segments = try await fixture.archivedSegments()
            #expect(!segments.contains(afterStandalone) && !segments.contains(afterMiddle), "retention left the holes out: \(segments.map(\.name))")

            // Under the policy that made them, the holes are expected: exit 0.
            let result = try await PGBackupBinary.run(["verify", "--json"], environment: environment)
            #expect(result.status == 0, "\(result.standardOutput) \(result.standardError)")
            let report = try decode(Report.self, result.standardOutput)
            #expect(report.ok && report.backups == [standalone.id, middle.id, newest.id].map(\.description))

            // Without it (wal: pitr), the middle backup needs the WAL after it; the standalone pin
            // still needs only its own.
            let (strict, strictRun) = try await Self.verify(fixture)
            #expect(strictRun.status == 1, "\(strictRun.standardOutput) \(strictRun.standardError)")
            let errors = try #require(strict).errors
            #expect(errors.contains { $0.object.contains(afterMiddle.name) && $0.problem.contains("missing after backup \(middle.id)") }, "\(errors)")
            #expect(!errors.contains { $0.problem.contains(standalone.id.description) }, "\(errors)")

            // A recorded gap in the newest backup's WAL (the WAL itself still there) is a problem
            // naming the gap record; it concerns that backup only.
            let segmentSize = DaemonFixture.segmentSize
            let gapStart = WALSegmentName(timeline: newest.timeline, containing: newest.startLSN, segmentSize: segmentSize).startLSN
            let gap = WALGap(
                startLSN: gapStart, endLSN: gapStart + segmentSize.bytes, timeline: newest.timeline, resumedTimeline: newest.timeline,
                segmentSize: segmentSize, detectedAt: Date(), archivedBefore: nil, reason: "the server no longer had it")
            let archive = WALArchive(repository: try fixture.repository.mainServer, segmentSize: segmentSize, compression: .default)
            try await archive.recordGap(gap)
            let gapRun = try await PGBackupBinary.run(["verify", "--json"], environment: environment)
            #expect(gapRun.status == 1, "\(gapRun.standardOutput) \(gapRun.standardError)")
            let gapErrors = try decode(Report.self, gapRun.standardOutput).errors
            #expect(gapErrors.map(\.object) == [archive.layout.gapKey(gap)], "\(gapErrors)")
            #expect(gapErrors.first?.problem.contains(newest.id.description) == true, "\(gapErrors)")
        }
    }
}
