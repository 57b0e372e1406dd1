import Foundation
import Testing
import PGBackupFoundations
import PGBackupPostgres
import PGBackupRepository
@testable import PGBackupServices

/// The WAL receiver as transcripts: events in, actions out, no socket, no spool, no clock (every
/// instant is `t0` plus an offset). The daemon's session and the backup's receiver drive this
/// same machine (`WALStreamSession.swift`, `BackupWALReceiver.swift`).
@Suite("WAL receiver state machine")
struct WALReceiverStateMachineTests {
    typealias Machine = WALReceiverStateMachine
    static let size = try! WALSegmentSize(megabytes: 1)
    static let t0 = ContinuousClock.now
    static let serverT0 = Date(timeIntervalSince1970: 1_795_000_000)
    static let tl1 = TimelineID(1)

    static func at(_ seconds: Double) -> ContinuousClock.Instant { t0 + .milliseconds(Int((seconds * 1000).rounded())) }
    static func server(_ seconds: Double) -> Date { serverT0.addingTimeInterval(seconds) }
    static func segment(_ number: UInt64, timeline: TimelineID = tl1) -> WALSegmentName {
        WALSegmentName(timeline: timeline, segmentNumber: number, segmentSize: size)
    }
    static func data(_ start: LSN, count: Int, sent: Double) -> XLogData {
        XLogData(start: start, serverWALEnd: start + UInt64(count), serverTime: server(sent), bytes: [UInt8](repeating: 0x5A, count: count))
    }
    static func daemon(archived: LSN, synchronous: Bool = false, partialEvery: Duration? = .seconds(10)) -> Machine {
        Machine(
            .init(role: .daemon(partialUploadInterval: partialEvery), segmentSize: size, synchronous: synchronous),
            progress: StreamProgress(start: archived, archived: archived))
    }

    /// A daemon streaming from the start of segment 3, its first status update sent at t = 0.1.
    static func streamingDaemon(synchronous: Bool = false, partialEvery: Duration? = .seconds(10)) -> Machine {
        let start = segment(3).startLSN
        var machine = daemon(archived: start, synchronous: synchronous, partialEvery: partialEvery)
        _ = machine.handle(.start(timeline: tl1, at: start, now: at(0)))
        _ = machine.handle(.tick(now: at(0.1)))
        return machine
    }

    @Test func walWithinASegmentIsWrittenAndFsyncedOnceTheSocketRunsDry() {
        let three = Self.segment(3).startLSN
        var machine = Self.daemon(archived: three)
        #expect(machine.handle(.start(timeline: Self.tl1, at: three, now: Self.at(0))) == [])
        let first = Self.data(three, count: 0x1000, sent: 1)
        let second = Self.data(three + 0x1000, count: 0x1000, sent: 1)
        #expect(machine.handle(.walData(first, now: Self.at(0.01))) == [.write(first, timeline: Self.tl1)])
        #expect(machine.pollTimeout == .zero, "received, not fsync'd: drain the socket before waiting")
        #expect(machine.handle(.walData(second, now: Self.at(0.02))) == [.write(second, timeline: Self.tl1)])
        #expect(machine.handle(.tick(now: Self.at(0.03))) == [.syncSpool])
        #expect(machine.progress.written == three, "write waits for the fsync")
        #expect(machine.handle(.spoolSynced) == [.sendStatus(write: three + 0x2000, flush: three)], "a new stream's first status goes out at once")
        #expect(machine.pollTimeout == .milliseconds(100))
        #expect(machine.currentSegment == Self.segment(3))
        #expect(machine.handle(.tick(now: Self.at(0.2))) == [], "nothing moved, nothing due")
    }

    @Test func aSegmentCompletedIsQueuedWithTheServerTimesOfItsWAL() {
        var machine = Self.streamingDaemon()
        let three = Self.segment(3)
        let first = Self.data(three.startLSN, count: 0x8_0000, sent: 1)
        let last = Self.data(three.startLSN + 0x8_0000, count: 0x8_0000, sent: 2)
        _ = machine.handle(.walData(first, now: Self.at(1)))
        let times = WALTimeRecord(marks: [WALTimeMark(time: Self.server(1), lsn: first.end), WALTimeMark(time: Self.server(2), lsn: three.endLSN)])
        #expect(machine.handle(.walData(last, now: Self.at(2))) == [.write(last, timeline: Self.tl1), .queueSegment(three, times: times)])
        #expect(machine.progress.written == three.endLSN, "the spool fsyncs a segment it completes")
        #expect(machine.currentSegment == nil)
    }

    @Test func walCrossingSegmentBoundariesQueuesEachCompletedSegment() {
        var machine = Self.streamingDaemon()
        let (three, four, five) = (Self.segment(3), Self.segment(4), Self.segment(5))
        let data = Self.data(three.startLSN + 0xF_F000, count: 0x10_2000, sent: 1)
        // The message's newest reading lies past both ends: neither segment gets a record.
        #expect(machine.handle(.walData(data, now: Self.at(1))) == [
            .write(data, timeline: Self.tl1), .queueSegment(three, times: nil), .queueSegment(four, times: nil),
        ])
        #expect(machine.progress.written == four.endLSN)
        #expect(machine.currentSegment == five)
        #expect(machine.handle(.tick(now: Self.at(1.1))) == [.syncSpool])
        #expect(machine.handle(.spoolSynced) == [], "not synchronous: write alone moving sends nothing")
    }

    @Test func aKeepaliveAskingForAReplyGetsAStatusAtOnceAndTheIntervalBoundsTheRest() {
        var machine = Self.streamingDaemon()
        let three = Self.segment(3).startLSN
        #expect(machine.handle(.keepalive(walEnd: three, serverTime: Self.server(1), replyRequested: true, now: Self.at(1)))
            == [.sendStatus(write: three, flush: three)])
        #expect(machine.handle(.keepalive(walEnd: three, serverTime: Self.server(2), replyRequested: false, now: Self.at(2))) == [])
        #expect(machine.handle(.tick(now: Self.at(10.9))) == [], "10 s not yet passed since the last status (t = 1)")
        #expect(machine.handle(.tick(now: Self.at(11))) == [.sendStatus(write: three, flush: three)])
        #expect(machine.handle(.keepalive(walEnd: three, serverTime: Self.server(12), replyRequested: false, now: Self.at(21)))
            == [.sendStatus(write: three, flush: three)], "a keepalive without a request, once the interval passed")
    }

    @Test func synchronousModeReportsWriteOnlyAfterTheFsyncAndFlushOnlyAfterTheRepository() {
        var machine = Self.streamingDaemon(synchronous: true, partialEvery: nil)
        let three = Self.segment(3).startLSN
        let data = Self.data(three, count: 0x2000, sent: 1)
        #expect(machine.handle(.walData(data, now: Self.at(1))) == [.write(data, timeline: Self.tl1)])
        #expect(machine.handle(.keepalive(walEnd: data.end, serverTime: Self.server(1), replyRequested: true, now: Self.at(1)))
            == [.syncSpool], "even a requested reply waits for the fsync")
        #expect(machine.progress.status == (write: three, flush: three))
        #expect(machine.handle(.spoolSynced) == [.sendStatus(write: data.end, flush: three)])
        #expect(machine.handle(.archived(upTo: three + 0x1000)) == [], "the repository's answer is reported with the next status")
        #expect(machine.handle(.tick(now: Self.at(1.2))) == [.sendStatus(write: data.end, flush: three + 0x1000)])
        #expect(machine.handle(.tick(now: Self.at(1.3))) == [])
        // Unasked, and long before the interval: every fsync is reported (remote_write waits).
        let more = Self.data(data.end, count: 0x1000, sent: 2)
        _ = machine.handle(.walData(more, now: Self.at(2)))
        #expect(machine.handle(.tick(now: Self.at(2.01))) == [.syncSpool])
        #expect(machine.handle(.spoolSynced) == [.sendStatus(write: more.end, flush: three + 0x1000)])
    }

    @Test func withoutSynchronousModeOnlyFlushOrTheIntervalSendsAStatus() {
        var machine = Self.streamingDaemon(partialEvery: nil)
        let three = Self.segment(3).startLSN
        let data = Self.data(three, count: 0x2000, sent: 1)
        _ = machine.handle(.walData(data, now: Self.at(1)))
        #expect(machine.handle(.tick(now: Self.at(1))) == [.syncSpool])
        #expect(machine.handle(.spoolSynced) == [])
        _ = machine.handle(.archived(upTo: data.end))
        #expect(machine.handle(.tick(now: Self.at(1.05))) == [.sendStatus(write: data.end, flush: data.end)])
    }

    @Test func theSegmentBeingWrittenIsStoredWhenTheStreamGoesQuietAndEveryInterval() {
        var machine = Self.streamingDaemon()
        let three = Self.segment(3)
        let data = Self.data(three.startLSN, count: 0x3000, sent: 1)
        _ = machine.handle(.walData(data, now: Self.at(0.5)))
        #expect(machine.handle(.tick(now: Self.at(0.6))) == [.syncSpool])
        #expect(machine.handle(.spoolSynced) == [], "not quiet: WAL had just come")
        let record = WALTimeRecord(marks: [WALTimeMark(time: Self.server(1), lsn: data.end)])
        #expect(machine.handle(.tick(now: Self.at(1.1))) == [.queuePartial(three, length: 0x3000, final: false, times: record)])
        #expect(machine.handle(.tick(now: Self.at(2.5))) == [], "that copy holds it all already")
        let more = Self.data(data.end, count: 0x1000, sent: 3)
        _ = machine.handle(.walData(more, now: Self.at(3)))
        #expect(machine.handle(.tick(now: Self.at(3.1))) == [.syncSpool])
        #expect(machine.handle(.spoolSynced) == [], "a second copy within a second of the last")
        let newer = WALTimeRecord(marks: [WALTimeMark(time: Self.server(1), lsn: data.end), WALTimeMark(time: Self.server(3), lsn: more.end)])
        #expect(machine.handle(.tick(now: Self.at(3.2))) == [.queuePartial(three, length: 0x4000, final: false, times: newer)])
        // Not quiet (a keepalive): only the interval stores a copy.
        let latest = Self.data(more.end, count: 0x1000, sent: 4)
        _ = machine.handle(.walData(latest, now: Self.at(4)))
        #expect(machine.handle(.keepalive(walEnd: latest.end, serverTime: Self.server(5), replyRequested: false, now: Self.at(5))) == [.syncSpool])
        #expect(machine.handle(.spoolSynced) == [])
        #expect(machine.handle(.keepalive(walEnd: latest.end, serverTime: Self.server(13), replyRequested: false, now: Self.at(13.2))) == [
            .queuePartial(three, length: 0x5000, final: false, times: WALTimeRecord(marks: [WALTimeMark(time: Self.server(1), lsn: data.end), WALTimeMark(time: Self.server(13), lsn: latest.end)])),
            .sendStatus(write: latest.end, flush: three.startLSN),
        ])
    }

    @Test func aTimelineSwitchStoresTheOldTimelinesLastSegmentAsAFinalPartial() {
        var machine = Self.streamingDaemon()
        let three = Self.segment(3)
        let data = Self.data(three.startLSN, count: 0x6000, sent: 1)
        _ = machine.handle(.walData(data, now: Self.at(1)))
        let switchPoint = three.startLSN + 0x6000
        #expect(machine.handle(.endOfTimeline(next: TimelineID(2), start: switchPoint)) == [.closeSpoolSegment])
        #expect(machine.handle(.spoolSynced) == [
            .queuePartial(three, length: 0x6000, final: true, times: nil), .switchTimeline(next: TimelineID(2), start: switchPoint),
        ])
        // The new timeline's copy of the segment begins with the old timeline's bytes.
        #expect(machine.handle(.start(timeline: TimelineID(2), at: three.startLSN, now: Self.at(2))) == [])
        let again = Self.data(three.startLSN, count: 0x7000, sent: 2)
        #expect(machine.handle(.walData(again, now: Self.at(2))) == [.write(again, timeline: TimelineID(2))])
        #expect(machine.currentSegment == Self.segment(3, timeline: TimelineID(2)))
    }

    @Test func aTimelineSwitchAtASegmentBoundaryHasNoPartialToStore() {
        var machine = Self.streamingDaemon()
        #expect(machine.handle(.endOfTimeline(next: TimelineID(2), start: Self.segment(3).startLSN))
            == [.switchTimeline(next: TimelineID(2), start: Self.segment(3).startLSN)])
    }

    @Test func theEndOfTheStreamEndsTheReceiverAtWhatItReceived() {
        var machine = Self.streamingDaemon()
        let data = Self.data(Self.segment(3).startLSN, count: 0x1000, sent: 1)
        _ = machine.handle(.walData(data, now: Self.at(1)))
        #expect(machine.handle(.endOfStream) == [.streamEnded(at: data.end)])
        #expect(machine.isDone)
        #expect(machine.handle(.tick(now: Self.at(2))) == [])
    }

    @Test func aGapFoundBeforeTheStreamIsRecordedAtTheServersFirstMessageStampedWithItsClock() {
        let five = Self.segment(5).startLSN
        var machine = Self.daemon(archived: Self.segment(3).startLSN)
        let gap = WALGap(
            startLSN: Self.segment(3).startLSN, endLSN: five, timeline: Self.tl1, resumedTimeline: Self.tl1, segmentSize: Self.size,
            detectedAt: Date(timeIntervalSince1970: 0), archivedBefore: nil, reason: "removed")
        #expect(machine.handle(.gapFound(gap)) == [])
        _ = machine.handle(.start(timeline: Self.tl1, at: five, now: Self.at(0)))
        var stamped = gap
        stamped.detectedAt = Self.server(7)
        let data = Self.data(five, count: 0x1000, sent: 7)
        #expect(machine.handle(.walData(data, now: Self.at(1))) == [.write(data, timeline: Self.tl1), .queueGap(stamped)])
        #expect(machine.handle(.walData(Self.data(data.end, count: 0x1000, sent: 8), now: Self.at(1))).count == 1, "recorded once")
    }

    @Test func aGracefulStopStoresThePartialAndWaitsForTheRepositoryBeforeItsLastStatus() {
        var machine = Self.streamingDaemon()
        let three = Self.segment(3)
        let data = Self.data(three.startLSN, count: 0x4000, sent: 1)
        _ = machine.handle(.walData(data, now: Self.at(1)))
        #expect(machine.handle(.stopRequested(now: Self.at(2))) == [.syncSpool])
        let record = WALTimeRecord(marks: [WALTimeMark(time: Self.server(1), lsn: data.end)])
        #expect(machine.handle(.spoolSynced) == [.queuePartial(three, length: 0x4000, final: false, times: record)])
        #expect(machine.isFinishing)
        #expect(machine.handle(.stopRequested(now: Self.at(2.1))) == [], "asked once")
        #expect(machine.handle(.archived(upTo: three.startLSN + 0x2000)) == [])
        #expect(machine.handle(.tick(now: Self.at(30))) == [])
        #expect(machine.handle(.archived(upTo: data.end)) == [.sendStatus(write: data.end, flush: data.end), .stop])
        #expect(machine.isDone)
    }

    @Test func aGracefulStopGivesUpWaitingForTheRepositoryAfterItsTimeout() {
        var machine = Self.streamingDaemon()
        let three = Self.segment(3).startLSN
        let data = Self.data(three, count: 0x4000, sent: 1)
        _ = machine.handle(.walData(data, now: Self.at(1)))
        _ = machine.handle(.stopRequested(now: Self.at(2)))
        _ = machine.handle(.spoolSynced)
        #expect(machine.handle(.tick(now: Self.at(61.9))) == [])
        #expect(machine.handle(.tick(now: Self.at(62))) == [.sendStatus(write: data.end, flush: three), .stop], "flush stays what the repository holds")
    }

    // MARK: reconnections (DaemonRPOZeroTests, DaemonResilienceTests, DaemonPIDOneRestartTests kill the daemon or the server)

    @Test func aSessionRestartedAtTheRepositorysEndNeverReportsAFlushBeyondIt() {
        // The repository holds segment 3 up to 0x8_0000 (a partial copy); the killed daemon's
        // spool had received and fsync'd more, never stored.
        let three = Self.segment(3)
        let repositoryEnd = three.startLSN + 0x8_0000
        var progress = StreamProgress(start: repositoryEnd, archived: repositoryEnd)
        progress.didReceive(upTo: three.startLSN + 0xC_0000)
        progress.didSyncSpool()
        var machine = Machine(.init(role: .daemon(partialUploadInterval: .seconds(10)), segmentSize: Self.size), progress: progress)
        // Streaming starts again at the segment's start.
        _ = machine.handle(.start(timeline: Self.tl1, at: three.startLSN, now: Self.at(0)))
        let data = Self.data(three.startLSN, count: 0x1000, sent: 1)
        _ = machine.handle(.walData(data, now: Self.at(0.01)))
        #expect(machine.handle(.tick(now: Self.at(0.02))) == [.syncSpool])
        #expect(machine.handle(.spoolSynced) == [.sendStatus(write: repositoryEnd, flush: repositoryEnd)],
                "flush is the repository's end; write is never reported below it")
        // The shorter copies of the resumed segment are queued (the uploader keeps the longer
        // copy, `StreamProgress.holdsPartial`), and flush moves only with the repository.
        let rest = Self.data(data.end, count: 0x8_F000, sent: 2)
        _ = machine.handle(.walData(rest, now: Self.at(1)))
        #expect(machine.handle(.tick(now: Self.at(1.1))) == [.syncSpool])
        #expect(machine.handle(.spoolSynced) == [])
        let record = WALTimeRecord(marks: [WALTimeMark(time: Self.server(1), lsn: data.end), WALTimeMark(time: Self.server(2), lsn: rest.end)])
        #expect(machine.handle(.tick(now: Self.at(2.2))) == [.queuePartial(three, length: 0x9_0000, final: false, times: record)])
        #expect(machine.progress.status.flush == repositoryEnd)
        _ = machine.handle(.archived(upTo: rest.end))
        #expect(machine.handle(.tick(now: Self.at(2.3))) == [.sendStatus(write: rest.end, flush: rest.end)])
    }

    @Test func aSessionOnAnEmptyRepositoryReportsItsStartAsFlush() {
        // PostgreSQL moves a physical slot to whatever flush it is told: never behind the stream.
        let five = Self.segment(5).startLSN
        var machine = Self.daemon(archived: .zero)
        _ = machine.handle(.start(timeline: Self.tl1, at: five, now: Self.at(0)))
        #expect(machine.handle(.tick(now: Self.at(0.1))) == [.sendStatus(write: five, flush: five)])
    }

    @Test func aReconnectionStartsAFreshStreamWhosePartialCopiesAndStatusBeginAnew() {
        var machine = Self.streamingDaemon()
        let three = Self.segment(3)
        let data = Self.data(three.startLSN, count: 0x3000, sent: 1)
        _ = machine.handle(.walData(data, now: Self.at(1)))
        _ = machine.handle(.tick(now: Self.at(1.1)))
        _ = machine.handle(.spoolSynced)
        _ = machine.handle(.tick(now: Self.at(2.2)))  // the partial copy of 0x3000 bytes
        // The connection broke; the next session starts at the segment's start again.
        _ = machine.handle(.start(timeline: Self.tl1, at: three.startLSN, now: Self.at(5)))
        #expect(machine.progress.received == three.startLSN)
        #expect(machine.currentSegment == nil)
        #expect(machine.handle(.tick(now: Self.at(5.1))) == [.sendStatus(write: three.startLSN, flush: three.startLSN)])
        let again = Self.data(three.startLSN, count: 0x3000, sent: 6)
        _ = machine.handle(.walData(again, now: Self.at(6)))
        _ = machine.handle(.tick(now: Self.at(6.1)))
        #expect(machine.handle(.spoolSynced) == [])
        #expect(machine.handle(.tick(now: Self.at(7.2))) == [
            .queuePartial(three, length: 0x3000, final: false, times: WALTimeRecord(marks: [WALTimeMark(time: Self.server(6), lsn: again.end)])),
        ], "the new stream's copy is queued; the uploader decides whether the repository needs it")
    }

    // MARK: the backup

    static func backup(start: LSN) -> Machine {
        let position = start - size.offset(of: start)
        var machine = Machine(
            .init(role: .backup(start: start, partialAfter: .seconds(10)), segmentSize: size),
            progress: StreamProgress(start: position, archived: position))
        _ = machine.handle(.start(timeline: tl1, at: position, now: at(0)))
        return machine
    }

    @Test func theBackupStoresAStopSegmentThatDoesNotCompleteAsAPartialAfterTenSeconds() {
        let three = Self.segment(3)
        var machine = Self.backup(start: three.startLSN + 0x100)
        let data = Self.data(three.startLSN, count: 0x1000, sent: 1)
        #expect(machine.handle(.walData(data, now: Self.at(0.5))) == [.write(data, timeline: Self.tl1)])
        #expect(machine.serverTimes.start == Self.server(1))
        #expect(machine.handle(.tick(now: Self.at(0.6))) == [.syncSpool])
        #expect(machine.handle(.spoolSynced) == [.sendStatus(write: data.end, flush: three.startLSN)])
        #expect(machine.handle(.stopLSN(three.startLSN + 0x800, now: Self.at(1))) == [])
        #expect(machine.serverTimes.stop == Self.server(1))
        #expect(machine.serverTimes.stopReceivedAt == Self.at(1))
        #expect(machine.pollTimeout == .milliseconds(5), "waits for the uploader rather than the server")
        #expect(machine.handle(.tick(now: Self.at(10.9))) == [.sendStatus(write: data.end, flush: three.startLSN)], "the status interval")
        let record = WALTimeRecord(marks: [WALTimeMark(time: Self.server(1), lsn: data.end)])
        #expect(machine.handle(.tick(now: Self.at(11))) == [.queuePartial(three, length: 0x1000, final: false, times: record)])
        #expect(machine.handle(.tick(now: Self.at(12))) == [], "stored once")
        #expect(machine.handle(.archived(upTo: three.startLSN + 0x400)) == [])
        #expect(machine.handle(.archived(upTo: data.end)) == [.sendStatus(write: data.end, flush: data.end), .stop])
        #expect(machine.isDone)
    }

    @Test func theBackupEndsOnceTheRepositoryHoldsItsCompletedStopSegment() {
        let three = Self.segment(3)
        var machine = Self.backup(start: three.startLSN + 0x100)
        let data = Self.data(three.startLSN, count: Int(Self.size.bytes), sent: 1)
        _ = machine.handle(.walData(data, now: Self.at(0.5)))
        #expect(machine.serverTimes.stop == nil, "the stop LSN is not known yet")
        #expect(machine.handle(.stopLSN(three.startLSN + 0x9_0000, now: Self.at(1))) == [])
        #expect(machine.serverTimes.stop == Self.server(1), "the newest reading once the stop LSN is known")
        #expect(machine.serverTimes.stopReceivedAt == Self.at(1))
        #expect(machine.handle(.tick(now: Self.at(20))) == [.sendStatus(write: three.endLSN, flush: three.startLSN)], "no partial: the segment completed")
        #expect(machine.handle(.archived(upTo: three.endLSN)) == [.sendStatus(write: three.endLSN, flush: three.endLSN), .stop])
    }

    @Test func theBackupsStopTimeIsTheMessageThatBroughtTheStopLSN() {
        let three = Self.segment(3)
        var machine = Self.backup(start: three.startLSN + 0x100)
        #expect(machine.handle(.stopLSN(three.startLSN + 0x1800, now: Self.at(1))) == [])
        _ = machine.handle(.walData(Self.data(three.startLSN, count: 0x1000, sent: 1), now: Self.at(1.5)))
        #expect(machine.serverTimes.stop == nil)
        _ = machine.handle(.walData(Self.data(three.startLSN + 0x1000, count: 0x1000, sent: 2), now: Self.at(2)))
        #expect(machine.serverTimes.stop == Self.server(2))
        #expect(machine.serverTimes.stopReceivedAt == Self.at(2))
    }

    @Test func theBackupFailsOnATimelineSwitchOrTheEndOfTheStream() {
        let three = Self.segment(3)
        var switched = Self.backup(start: three.startLSN + 0x100)
        _ = switched.handle(.walData(Self.data(three.startLSN, count: 0x1000, sent: 1), now: Self.at(1)))
        #expect(switched.handle(.endOfTimeline(next: TimelineID(2), start: three.startLSN + 0x1000)) == [.streamEnded(at: three.startLSN + 0x1000)])
        var ended = Self.backup(start: three.startLSN + 0x100)
        #expect(ended.handle(.endOfStream) == [.streamEnded(at: three.startLSN)])
        #expect(ended.handle(.stopRequested(now: Self.at(1))) == [], "only the daemon is asked to stop")
    }
}
