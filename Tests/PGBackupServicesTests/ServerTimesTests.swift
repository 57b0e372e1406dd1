import Foundation
import Testing
import PGBackupFoundations
import PGBackupPostgres
import PGBackupRepository
@testable import PGBackupServices

/// Times come from the server's clock: the readings a WAL stream records with each object, the
/// backup's start and stop, and the refusal of a time target beyond the last recorded one. The
/// clock pgbackup runs on appears nowhere here: every time is an input.
@Suite("Server times")
struct ServerTimesTests {
    static let size = try! WALSegmentSize(megabytes: 1)
    static let t0 = Date(timeIntervalSince1970: 1_795_000_000)
    static func segment(_ number: UInt64) -> WALSegmentName { WALSegmentName(timeline: TimelineID(1), segmentNumber: number, segmentSize: size) }

    @Test func eachObjectGetsTheFirstAndNewestReadingOfItsOwnWAL() {
        var recorder = WALTimeRecorder()
        let (three, four) = (Self.segment(3), Self.segment(4))
        #expect(recorder.record(for: three, upTo: three.endLSN) == nil)
        recorder.observe(serverTime: Self.t0, sentUpTo: three.startLSN + 0x2_0000)
        recorder.observe(serverTime: Self.t0.addingTimeInterval(1), sentUpTo: three.startLSN + 0x4_0000)
        // A partial copy up to 0x40000 holds both readings.
        #expect(recorder.record(for: three, upTo: three.startLSN + 0x4_0000)?.marks.map(\.time) == [Self.t0, Self.t0.addingTimeInterval(1)])
        // A copy that the newest reading does not reach gets no record: its end has no time.
        #expect(recorder.record(for: three, upTo: three.startLSN + 0x3_0000) == nil)
        #expect(recorder.record(for: three, upTo: three.startLSN + 0x5_0000) == nil)
        recorder.observe(serverTime: Self.t0.addingTimeInterval(2), sentUpTo: three.endLSN)
        let completed = recorder.record(for: three, upTo: three.endLSN)
        #expect(completed?.marks.map(\.time) == [Self.t0, Self.t0.addingTimeInterval(2)])
        #expect(completed?.last?.lsn == three.endLSN)
        recorder.completed(three)
        // A keepalive at the boundary belongs to no WAL of segment 4; its first message does.
        recorder.observe(serverTime: Self.t0.addingTimeInterval(3), sentUpTo: four.startLSN)
        #expect(recorder.record(for: four, upTo: four.startLSN + 10) == nil)
        recorder.observe(serverTime: Self.t0.addingTimeInterval(4), sentUpTo: four.startLSN + 0x1000)
        #expect(recorder.record(for: four, upTo: four.startLSN + 0x1000)?.marks.map(\.time) == [Self.t0.addingTimeInterval(4)])
        // An idle server's keepalive moves the newest time on, not the WAL.
        recorder.observe(serverTime: Self.t0.addingTimeInterval(5), sentUpTo: four.startLSN + 0x1000)
        #expect(recorder.record(for: four, upTo: four.startLSN + 0x1000)?.marks.map(\.time)
            == [Self.t0.addingTimeInterval(4), Self.t0.addingTimeInterval(5)])
    }

    @Test func theBackupTimesAreTheServersLabelFirstThenItsStream() throws {
        let stream = BackupServerTimes(start: Self.t0.addingTimeInterval(0.4), stop: Self.t0.addingTimeInterval(9))
        let utc = BackupLabel(parsing: "START WAL LOCATION: 0/2000028 (file 000000010000000000000002)\nSTART TIME: 2026-11-18 11:06:40 UTC\nLABEL: x\n")
        #expect(utc.startTime == Self.t0)
        #expect(try BackupService.backupTimes(label: utc, stream: stream) == (Self.t0, Self.t0.addingTimeInterval(9)))
        // An ambiguous zone abbreviation: the stream's reading of the start instead.
        let ambiguous = BackupLabel(parsing: "START TIME: 2026-11-18 11:06:40 IST\n")
        #expect(ambiguous.startTime == nil)
        #expect(try BackupService.backupTimes(label: ambiguous, stream: stream).start == Self.t0.addingTimeInterval(0.4))
        #expect(try BackupService.backupTimes(label: nil, stream: stream).start == Self.t0.addingTimeInterval(0.4))
        // Without the server's clock at the stop there is no stop time to record.
        #expect(throws: BackupError.self) {
            try BackupService.backupTimes(label: utc, stream: .init(start: Self.t0, stop: nil))
        }
    }

    @Test(arguments: [
        ("2026-11-18 11:06:40 UTC", 0), ("2026-11-18 11:06:40 GMT", 0), ("2026-11-18 14:06:40 +03", 3 * 3600),
        ("2026-11-18 06:36:40 -0430", -(4 * 3600 + 1800)), ("2026-11-18 16:51:40 +05:45", 5 * 3600 + 2700),
    ])
    func labelTimesWithUnambiguousZonesParse(text: String, offset: Int) {
        #expect(BackupLabel(parsing: "START TIME: \(text)\n").startTime == Self.t0, "\(text) (\(offset))")
    }

    @Test(arguments: ["2026-11-18 11:06:40 CET", "2026-11-18 11:06:40", "2026-02-30 11:06:40 UTC", "2026-11-18 11:06:40 +99", "yesterday UTC"])
    func labelTimesWithoutAnUnambiguousZoneAreNotRead(text: String) {
        #expect(BackupLabel(parsing: "START TIME: \(text)\n").startTime == nil)
    }

    @Test func aTimeTargetBeyondTheLastRecordedServerTimeIsRefusedNamingIt() throws {
        let stop = LSN(2 * Self.size.bytes + 0x100)
        let manifest = BackupManifest(
            id: BackupID(date: Self.t0), server: "main", systemIdentifier: 1, postgresVersionNumber: 150_018,
            timeline: TimelineID(1), startLSN: LSN(2 * Self.size.bytes + 0x28), stopLSN: stop,
            startTime: Self.t0, stopTime: Self.t0.addingTimeInterval(5), label: "b", compression: .default, chunking: .default,
            tablespaces: [], files: [], totals: .init(databaseSize: 0, newChunks: 0, storedNew: 0, deduplicatedChunks: 0, storedDeduplicated: 0),
            serverManifest: nil, wal: .init(timeline: TimelineID(1), start: LSN(2 * Self.size.bytes + 0x28), stop: stop, segmentSize: Self.size),
            durationSeconds: 5)
        let continuity = WALContinuity(entries: (2...6).map { .segment(Self.segment($0), .zstd) }, segmentSize: Self.size)
        let last = Self.t0.addingTimeInterval(60.5)
        func planner(_ times: [TimelineID: Date]) -> RestorePlanner {
            RestorePlanner(backups: [BackupSummary(manifest)], continuity: continuity, histories: [:], serverTimes: times, server: "main")
        }
        let recorded = planner([TimelineID(1): last])
        #expect(try recorded.plan(target: .time(last), timeline: .latest, backupID: nil).backup.label == "b")
        let error = #expect(throws: RestoreRefusal.self) {
            try recorded.plan(target: .time(last.addingTimeInterval(0.001)), timeline: .latest, backupID: nil)
        }
        #expect(error?.description.contains("after the last recorded server time \(RestoreTime.format(last))") == true, "\(error?.description ?? "")")
        // WAL without a recorded time (wal-push) bounds nothing: the target is left to recovery.
        #expect(try planner([:]).plan(target: .time(last.addingTimeInterval(86400)), timeline: .latest, backupID: nil).backup.label == "b")
        // Other targets are not affected by the time.
        #expect(try recorded.plan(target: .latest, timeline: .latest, backupID: nil).backup.label == "b")
    }
}
