import Foundation
import Testing
import PGBackupFoundations
import PGBackupRepository
import PGBackupTestSupport

/// A file made of identical chunks puts the same chunk in flight several times at once: the
/// backup stores it once and counts the rest as deduplicated.
@Suite("pgbackup backup: identical chunks in flight, end to end", .serialized)
struct BackupIdenticalChunksEndToEndTests {
    static let chunkSize = 4 << 20
    static let copies = 6

    @Test(arguments: RepositoryKind.tested)
    func identicalChunksInOneBackupAreStoredOnce(kind: RepositoryKind) async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        try await withPostgresCluster(BackupEndToEndTests.options) { cluster in
            let fixture = try await DaemonFixture(kind, cluster: cluster, scratch: scratch)
            // Random content, so each copy takes real compression time and the copies overlap.
            var generator = SeededGenerator(seed: 42)
            let block = generator.bytes(Self.chunkSize)
            let content = Array([[UInt8]](repeating: block, count: Self.copies).joined())
            let path = cluster.dataDirectory + "/identical_chunks.bin"
            #expect(FileManager.default.createFile(atPath: path, contents: Data(content), attributes: [.posixPermissions: 0o644]))

            let backup = try await PGBackupBinary.run(["backup", "--json", "--jobs", "4"], environment: fixture.environment)
            try #require(backup.status == 0, "backup failed: \(backup.standardError.suffix(600))")
            let summary = try decode(BackupSummary.self, backup.standardOutput)
            let repository = try fixture.repository.mainServer
            let manifest = try await BackupCatalog(repository: repository).manifest(summary.id)
            let file = try #require(manifest.files.first { $0.path == "identical_chunks.bin" })
            let digest = SHA256Hasher.hash(block)
            #expect(file.chunks?.map(\.sha256) == Array(repeating: digest, count: Self.copies))
            // The block is incompressible: stored once it weighs one chunk, the rest of a fresh
            // cluster compresses to far less than another (about 1.3 MB).
            #expect(manifest.totals.storedNew < Int64(2 * Self.chunkSize), "the block was stored more than once: \(manifest.totals)")
            #expect(manifest.totals.deduplicatedChunks >= Self.copies - 1, "totals: \(manifest.totals)")
            let hex = digest.description
            let stored = try await fixture.repository.keys(under: "main/chunks/\(hex.prefix(2))/").filter { $0.contains(hex) }
            #expect(stored.count == 1, "\(stored)")
            let fetched = try await ChunkStore(repository: repository, compression: .default).fetch(sha256: digest, size: Int64(Self.chunkSize))
            #expect(fetched == block)
        }
    }
}
