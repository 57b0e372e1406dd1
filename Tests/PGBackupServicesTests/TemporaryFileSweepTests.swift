import Foundation
import Logging
import PGBackupStorage
import Testing
@testable import PGBackupServices

/// What the daemon and `backup` run as they start.
@Suite("Temporary file sweep at start-up")
struct TemporaryFileSweepTests {
    @Test func aFileRepositoryLosesItsDeadWritersFilesButKeepsLiveOnesAndObjects() async throws {
        let root = FileManager.default.temporaryDirectory.path + "/pgbackup-sweep-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: root) }
        let store = try FileObjectStore(root: root, create: true)
        try await store.put("main/wal/0000000100000000/000000010000000000000001.zst", bytes: [1])
        let dead = root + "/main/wal/0000000100000000/.pgbackup-tmp.000000010000000000000002.zst.1.0123456789abcdef"
        #expect(FileManager.default.createFile(atPath: dead, contents: Data([2])))
        let live = try await store.writer(for: "main/wal/0000000100000000/000000010000000000000003.zst")
        try await live.write([3])

        var settings = Settings()
        settings.repository = try RepositoryLocation(parsing: "file://" + root)
        await TemporaryFileSweep.run(settings, logger: Logger(label: "test"))

        #expect(!FileManager.default.fileExists(atPath: dead))
        let names = try FileManager.default.contentsOfDirectory(atPath: root + "/main/wal/0000000100000000")
        #expect(names.filter { $0.hasPrefix(".pgbackup-tmp.") }.count == 1, "the live writer's file stays: \(names)")
        try await live.commit()
        #expect(try await store.list(prefix: "main/").map(\.key) == [
            "main/wal/0000000100000000/000000010000000000000001.zst", "main/wal/0000000100000000/000000010000000000000003.zst",
        ])
    }

    @Test func aMissingRepositoryIsLeftToTheCommandToReport() async throws {
        var settings = Settings()
        settings.repository = try RepositoryLocation(parsing: "file:///nonexistent/pgbackup-\(UUID().uuidString)")
        await TemporaryFileSweep.run(settings, logger: Logger(label: "test"))
        #expect(!FileManager.default.fileExists(atPath: settings.repository!.description.replacingOccurrences(of: "file://", with: "")))
    }
}
