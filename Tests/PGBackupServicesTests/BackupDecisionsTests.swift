import Foundation
import PGBackupFoundations
import PGBackupPostgres
import PGBackupRepository
import PGBackupTestSupport
import PropertyBased
import Testing
@testable import PGBackupServices

/// `BackupDecisions` (pure): the server a backup is taken from, and the manifest's files and
/// totals from what was split and stored.
@Suite("backup decisions")
struct BackupDecisionsTests {
    static let system: SystemIdentifier = 7_000_000_000_000_000_001
    static let mtime = Date(timeIntervalSince1970: 1_800_000_000)

    static func status(_ host: String, timeline: UInt32 = 1, standby: Bool = false) -> ServerStatus {
        ServerStatus(
            server: ConninfoServer(host: host, port: "5432"),
            identity: SystemIdentity(systemIdentifier: system, timeline: TimelineID(timeline), xlogPosition: LSN(0x1000), database: nil),
            inRecovery: standby, problem: nil)
    }

    static func choose(_ servers: [ServerStatus], latest: UInt32?) throws(BackupError) -> ConninfoServer? {
        let latest = latest.map { TimelineID($0) }
        let choice = PrimaryLocator.choose(from: servers, systemIdentifier: system, minimumTimeline: latest)
        return try BackupDecisions.server(from: choice, latestTimeline: latest)
    }

    @Test func thePrimaryElseLibpqsPickButNeverAFormerPrimary() throws {
        #expect(try Self.choose([Self.status("a", standby: true), Self.status("b", timeline: 2)], latest: 2)?.host == "b")
        #expect(try Self.choose([Self.status("a", standby: true)], latest: 1) == nil)
        #expect(try Self.choose([], latest: nil) == nil)
        do {
            _ = try Self.choose([Self.status("a", timeline: 1), Self.status("b", timeline: 2, standby: true)], latest: 2)
            Issue.record("a former primary was chosen")
        } catch {
            guard case let .formerPrimary(server, timeline, repositoryTimeline) = error else { throw error }
            #expect(server == "a:5432" && timeline == TimelineID(1) && repositoryTimeline == TimelineID(2))
        }
    }

    static func ref(_ job: Int, new: Bool) -> ChunkRef {
        ChunkRef(sha256: SHA256Hasher.hash(Array("chunk \(job)".utf8)), size: Int64(1000 + job), storedSize: Int64(100 + job), algorithm: .zstd, new: new)
    }

    static func file(_ path: String, chunks: [Int] = [], packed: Int? = nil) -> SplitFile {
        var file = SplitFile(path: path, tablespace: nil, type: .file, mode: 0o600, mtime: mtime, size: 10, linkTarget: nil)
        file.chunks = chunks.enumerated().map { .init(offset: Int64($0.offset) * 1000, size: 1000, job: $0.element) }
        file.packed = packed.map { ($0, 64) }
        return file
    }

    @Test func filesReferenceTheStoredChunksAndPacksAndTheTotalsCountEachJobOnce() throws {
        let stored = [0: Self.ref(0, new: true), 1: Self.ref(1, new: false), 2: Self.ref(2, new: true)]
        let (files, totals) = try BackupDecisions.files(
            [Self.file("base/5/1", chunks: [0, 1]), Self.file("PG_VERSION", packed: 2), Self.file("empty")], stored: stored, contentBytes: 4242)
        #expect(files.map(\.path) == ["base/5/1", "PG_VERSION", "empty"])
        #expect(files[0].chunks == [.init(offset: 0, size: 1000, sha256: stored[0]!.sha256), .init(offset: 1000, size: 1000, sha256: stored[1]!.sha256)])
        #expect(files[0].packed == nil && files[2].chunks == nil && files[2].packed == nil)
        #expect(files[1].packed == .init(pack: stored[2]!.sha256, packSize: 1002, offset: 64))
        #expect(totals == .init(databaseSize: 4242, newChunks: 2, storedNew: 202, deduplicatedChunks: 1, storedDeduplicated: 101))
    }

    @Test func aJobNeverStoredIsAnIncompleteStream() {
        #expect(throws: BackupError.self) {
            _ = try BackupDecisions.files([Self.file("base/5/1", chunks: [0, 7])], stored: [0: Self.ref(0, new: true)], contentBytes: 0)
        }
        do {
            _ = try BackupDecisions.files([Self.file("PG_VERSION", packed: 3)], stored: [:], contentBytes: 0)
        } catch {
            #expect("\(error)".contains("chunk 3 was never stored"))
        }
    }

    /// On random splits: every stored job counts once in the totals, whatever files share it.
    @Test func totalsCountEveryStoredJobOnce() async {
        await propertyCheck(count: 200, input: Gen.uint64()) { (seed: UInt64) in
            var rng = SeededGenerator(seed: seed)
            let jobs = Int.random(in: 1...12, using: &rng)
            let stored = Dictionary(uniqueKeysWithValues: (0..<jobs).map { ($0, Self.ref($0, new: Bool.random(using: &rng))) })
            let files = (0..<Int.random(in: 0...6, using: &rng)).map { index in
                Self.file("f\(index)", chunks: (0..<Int.random(in: 0...3, using: &rng)).map { _ in Int.random(in: 0..<jobs, using: &rng) })
            }
            guard let (manifestFiles, totals) = try? BackupDecisions.files(files, stored: stored, contentBytes: 1) else {
                Issue.record("seed \(seed): every job is stored")
                return
            }
            #expect(totals.newChunks + totals.deduplicatedChunks == jobs, "seed \(seed)")
            #expect(totals.storedNew + totals.storedDeduplicated == stored.values.reduce(0) { $0 + $1.storedSize }, "seed \(seed)")
            #expect(manifestFiles.map { $0.chunks?.count ?? 0 } == files.map(\.chunks.count), "seed \(seed)")
        }
    }
}
