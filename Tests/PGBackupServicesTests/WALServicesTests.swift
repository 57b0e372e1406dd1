import Foundation
import Logging
import PGBackupFoundations
import PGBackupRepository
import PGBackupStorage
import Testing
@testable import PGBackupServices

/// wal-push and wal-fetch as services, over a file:// repository made in code.
@Suite("WAL push and fetch services")
struct WALServicesTests {
    let directory = FileManager.default.temporaryDirectory.path + "/pgbackup-walservices-\(UUID().uuidString)"
    let logger = Logger(label: "test")

    func settings(compression: Compression = .zstd(level: 1)) -> Settings {
        var settings = Settings()
        settings.repository = .file(path: directory + "/repo")
        settings.compression = compression
        return settings
    }

    func initialize(walSegmentSize: WALSegmentSize = 1_048_576) async throws {
        let store = try FileObjectStore(root: directory + "/repo", create: true)
        _ = try await Repository(store: store, server: "main").initialize(RepositoryInfo(
            server: "main", systemIdentifier: 7_000_000_000_000_000_001, postgresVersionNumber: 150018,
            walSegmentSize: walSegmentSize, createdBy: "test"))
    }

    func file(_ name: String, _ bytes: [UInt8]) throws -> String {
        try FileManager.default.createDirectory(atPath: directory + "/pg_wal", withIntermediateDirectories: true)
        let path = directory + "/pg_wal/" + name
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test func pushThenFetchWithTheConfiguredCompressionAndTheRepositorysSegmentSize() async throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await initialize()
        let content = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 / 1000) }
        let path = try file("000000010000000000000FFF", content)  // segment 0xFFF exists only with 1 MiB segments
        let outcome = try await WALPushService(settings: settings(compression: .gzip(level: 6)), logger: logger).run(path: path)
        #expect(outcome.key == "main/wal/0000000100000000/000000010000000000000FFF.gz")
        #expect(try await WALPushService(settings: settings(), logger: logger).run(path: path) == .alreadyArchived(key: outcome.key))

        let destination = directory + "/pg_wal/RECOVERYXLOG"
        try await WALFetchService(settings: settings(), logger: logger).run(name: "000000010000000000000FFF", destination: destination)
        #expect(Array(try Data(contentsOf: URL(fileURLWithPath: destination))) == content)
        await #expect(throws: WALArchiveError.notFound("000000010000000100000000")) {
            try await WALFetchService(settings: settings(), logger: logger).run(name: "000000010000000100000000", destination: destination)
        }
    }

    @Test func anUninitializedRepositoryIsRefused() async throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        _ = try FileObjectStore(root: directory + "/repo", create: true)
        let path = try file("000000010000000000000001", [UInt8](repeating: 0, count: 1 << 20))
        await #expect(throws: RepositoryError.notInitialized(server: "main", location: "file://\(directory)/repo")) {
            try await WALPushService(settings: settings(), logger: logger).run(path: path)
        }
        await #expect(throws: RepositoryError.notInitialized(server: "main", location: "file://\(directory)/repo")) {
            try await WALFetchService(settings: settings(), logger: logger).run(name: "000000010000000000000001", destination: directory + "/x")
        }
    }

    @Test func anImpossibleSegmentSizeInRepositoryJSONIsReportedAsCorrupt() async throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await initialize()
        // The size is decoded with repository.json: an impossible one in the file is refused there.
        let info = directory + "/repo/main/repository.json"
        let json = try String(contentsOfFile: info, encoding: .utf8)
        #expect(json.contains("\"walSegmentSize\" : 1048576"))
        try json.replacingOccurrences(of: "\"walSegmentSize\" : 1048576", with: "\"walSegmentSize\" : 3145728")
            .write(toFile: info, atomically: true, encoding: .utf8)
        do {
            _ = try await WALArchiveAccess.open(settings())
            Issue.record("a 3 MiB segment size was accepted")
        } catch let error as RepositoryError {
            guard case .corrupt(let key, _, let reason) = error else { Issue.record("\(error)"); return }
            #expect(key == "main/repository.json")
            #expect(reason.contains("power of two"))
        }
    }
}
