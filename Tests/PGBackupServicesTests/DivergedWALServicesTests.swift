import Foundation
import Logging
import PGBackupFoundations
import PGBackupRepository
import PGBackupStorage
import Synchronization
import Testing
@testable import PGBackupServices

/// Keeps the messages logged through it.
struct CapturingLogHandler: LogHandler {
    let box: LogLines
    var logLevel: Logger.Level = .trace
    var metadata: Logger.Metadata = [:]
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
    func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        box.lines.withLock { $0.append("\(event.level) \(event.message) \(merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))") }
    }
}

final class LogLines: Sendable {
    let lines = Mutex<[String]>([])
    var logger: Logger {
        let box = self
        return Logger(label: "test") { _ in CapturingLogHandler(box: box) }
    }
}

/// What the services make of diverged WAL: `check`'s decision, and retention never touching it.
@Suite("diverged WAL: check and retention")
struct DivergedWALServicesTests {
    static func record(_ name: String, at time: Date, source: String = "wal-push on host a from data directory /d") -> DivergedWAL {
        DivergedWAL(
            key: "main/wal/diverged/00000001/\(name).0123456789abcdef", fileName: name, timeline: TimelineID(1),
            sha256: SHA256Hasher.hash(Array(name.utf8)), size: 16 << 20, compression: .zstd,
            reason: .beyondSwitchPoint(LSN("0/5000060")!, history: "00000002.history"), source: source, detectedAt: time)
    }

    @Test func checkIsHealthyWithoutDivergedWALOrWhenAllOfItPredatesTheNewestBackup() {
        let backupStop = Date(timeIntervalSince1970: 2_000_000)
        let none = CheckRules.diverged([], newestBackupID: "20261130T120000Z", newestBackupStop: backupStop)
        #expect(none.name == "diverged" && none.ok && none.detail == "no diverged WAL")

        let old = [Self.record("000000010000000000000006", at: backupStop - 100), Self.record("000000010000000000000007", at: backupStop - 50)]
        let settled = CheckRules.diverged(old, newestBackupID: "20261130T120000Z", newestBackupStop: backupStop)
        #expect(settled.ok)
        #expect(settled.detail == "2 diverged WAL files kept apart under wal/diverged/, all recorded before the newest backup 20261130T120000Z")

        let recent = old + [Self.record("000000010000000000000008", at: backupStop + 10, source: "wal-push on host old-primary from data directory /pg")]
        let alarm = CheckRules.diverged(recent, newestBackupID: "20261130T120000Z", newestBackupStop: backupStop)
        #expect(!alarm.ok)
        #expect(alarm.detail.hasPrefix(
            "1 diverged WAL file kept apart under wal/diverged/ since the newest backup 20261130T120000Z (newest 000000010000000000000008 from wal-push on host old-primary from data directory /pg at "),
            "\(alarm.detail)")
        #expect(alarm.detail.hasSuffix("HINT: a former primary archived WAL after a failover: fence it, then rejoin it with `pgbackup follow`"))

        let noBackup = CheckRules.diverged(old, newestBackupID: nil, newestBackupStop: nil)
        #expect(!noBackup.ok && noBackup.detail.hasPrefix("2 diverged WAL files kept apart under wal/diverged/ (newest 000000010000000000000007 from "))
    }

    @Test func retentionNeverSelectsDivergedWAL() async throws {
        let segmentSize = WALFixture.segmentSize
        let archive = WALArchive(repository: Repository(store: MemoryObjectStore(), server: "main"), segmentSize: segmentSize, compression: .zstd(level: 1))
        let scratch = FileManager.default.temporaryDirectory.path + "/pgbackup-diverged-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        func segment(_ number: UInt64) -> WALSegmentName {
            WALSegmentName(timeline: TimelineID(1), segmentNumber: number, segmentSize: segmentSize)
        }
        func file(_ seed: UInt8) throws -> String {
            let path = scratch + "/\(seed)"
            try Data(repeating: seed, count: Int(segmentSize.bytes)).write(to: URL(fileURLWithPath: path))
            return path
        }
        for number in UInt64(1)...3 { _ = try await archive.storeSegment(segment(number), contentsOf: try file(UInt8(number))) }
        guard case .diverged(let conflict, _) = try await archive.storeSegment(segment(2), contentsOf: try file(20)) else {
            Issue.record("a conflicting segment was not kept apart")
            return
        }
        try await archive.storeHistory(TimelineID(2), content: Array("1\t0/30000A0\tno recovery target specified\n".utf8))
        guard case .diverged(let beyond, _) = try await archive.storeSegment(segment(4), contentsOf: try file(4)) else {
            Issue.record("a segment past the switch point was not kept apart")
            return
        }

        // Retention removes every completed segment of timeline 1 and every partial: none of the diverged objects.
        let listing = try await archive.repository.store.list(prefix: archive.layout.prefix)
        let expiry = WALExpiry(
            listing: listing, layout: archive.layout, segmentSize: segmentSize,
            removals: [WALSegmentRange(first: segment(0), last: segment(100))], oldestKeptStart: segment(100).startLSN)
        let selected = Set((expiry.segmentObjects + expiry.partialObjects).map(\.key))
        #expect(selected.count == 3, "\(selected)")
        for key in [conflict, beyond] {
            #expect(listing.contains { $0.key == key } && listing.contains { $0.key == key + ".json" })
            #expect(!selected.contains(key) && !selected.contains(key + ".json"))
        }
        #expect(selected.allSatisfy { !$0.hasPrefix(archive.layout.divergedPrefix) })
    }

    @Test func theDaemonsUploaderLogsADivergedSegmentAndCountsItAsHandled() async throws {
        let segmentSize = WALFixture.segmentSize
        let archive = WALArchive(repository: Repository(store: MemoryObjectStore(), server: "main"), segmentSize: segmentSize, compression: .zstd(level: 1))
        let scratch = FileManager.default.temporaryDirectory.path + "/pgbackup-uploader-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let segment = WALSegmentName(timeline: TimelineID(1), segmentNumber: 5, segmentSize: segmentSize)
        // Timeline 1 ended inside segment 5; the repository holds that segment's partial copy.
        try await archive.storeHistory(TimelineID(2), content: Array("1\t0/5000100\tno recovery target specified\n".utf8))
        let partial = scratch + "/partial"
        try Data(repeating: 7, count: 0x100).write(to: URL(fileURLWithPath: partial))
        try await archive.storePartial(segment, contentsOf: partial, length: 0x100)

        let spooled = scratch + "/" + segment.name
        try Data(repeating: 9, count: Int(segmentSize.bytes)).write(to: URL(fileURLWithPath: spooled))
        let progress = SharedProgress(StreamProgress(start: segment.startLSN, archived: segment.startLSN))
        let log = LogLines()
        var uploader = WALUploader(archive: archive, progress: progress, logger: log.logger)
        uploader.attempts = 1
        uploader.source = { "WAL stream from 127.0.0.1:5999" }
        try await uploader.performRetrying(.segment(segment, path: spooled))

        let records = try await archive.diverged()
        let record = try #require(records.first)
        #expect(records.count == 1 && record.fileName == segment.name && record.source == "WAL stream from 127.0.0.1:5999")
        #expect(progress.value.archived == segment.endLSN)  // handled: the stream goes on
        #expect(!FileManager.default.fileExists(atPath: spooled))
        #expect(try await archive.partialLength(of: segment) == 0x100)  // the partial copy stays
        #expect(try await archive.continuity().timeline(TimelineID(1))?.ranges.isEmpty != false)
        let lines = log.lines.withLock { $0 }
        #expect(lines.contains { $0.hasPrefix("error WAL segment \(segment.name) conflicts with the repository's WAL history and was kept apart") && $0.contains("object=\(record.key)") }, "\(lines)")
    }

    /// A cancelled uploader stops (the daemon past its shutdown grace): before, a cancelled
    /// task's failing store was retried in a loop whose sleeps returned at once, logging without
    /// end, and the daemon never exited (seen in CI: 60 s after SIGTERM).
    @Test func aCancelledUploaderStopsInsteadOfRetryingForEver() async throws {
        let segmentSize = WALFixture.segmentSize
        let archive = WALArchive(repository: Repository(store: MemoryObjectStore(), server: "main"), segmentSize: segmentSize, compression: .zstd(level: 1))
        let segment = WALSegmentName(timeline: TimelineID(1), segmentNumber: 5, segmentSize: segmentSize)
        let progress = SharedProgress(StreamProgress(start: segment.startLSN, archived: segment.startLSN))
        let log = LogLines()
        let uploader = WALUploader(archive: archive, progress: progress, logger: log.logger)
        // A spool file that is not there: every attempt fails.
        let task = Task { try await uploader.performRetrying(.segment(segment, path: "/nonexistent/\(segment.name)")) }
        while log.lines.withLock({ $0.isEmpty }) { try await Task.sleep(for: .milliseconds(10)) }
        task.cancel()
        await #expect(throws: CancellationError.self) { try await task.value }
        #expect(log.lines.withLock { $0.count } <= 2, "\(log.lines.withLock { $0 })")
    }
}
