import Foundation
import PGBackupFoundations
import PGBackupRepository

/// What a WAL stream knows of the server's clock, turned into the record stored with each
/// segment and partial segment (`WALTimeRecord`). Pure value, driven by `WALReceiverStateMachine`: every
/// XLogData and keepalive message is a reading (`observe`), and each object queued for the
/// repository takes its record (`record(for:upTo:)`).
///
/// A record holds the first reading inside the segment's WAL and the newest one up to the
/// object's end: when a segment completes, the message that completed it is the newest reading,
/// so a completed segment's record reaches exactly its end.
struct WALTimeRecorder: Sendable {
    /// The first reading past `completedEnd`: inside the segment being received.
    private var first: WALTimeMark?
    /// The end of the last completed segment.
    private var completedEnd = LSN.zero
    /// The newest reading.
    private(set) var latest: WALTimeMark?

    /// The server's clock said `time` when it had sent the WAL before `lsn`: an XLogData's send
    /// time and end, or a keepalive's send time and the end of what was received before it.
    mutating func observe(serverTime time: Date, sentUpTo lsn: LSN) {
        let mark = WALTimeMark(time: time, lsn: lsn)
        latest = mark
        if first == nil && lsn > completedEnd { first = mark }
    }

    /// The record for the object holding `segment`'s WAL up to `end` (the segment's end, or a
    /// partial copy's); nil unless the newest reading is exactly at `end`: a record always reaches
    /// the end of the WAL it is stored with, so its newest time bounds all of it.
    func record(for segment: WALSegmentName, upTo end: LSN) -> WALTimeRecord? {
        guard let latest, latest.lsn == end, end > segment.startLSN else { return nil }
        guard let first, first != latest, segment.startLSN < first.lsn, first.lsn <= end else { return WALTimeRecord(marks: [latest]) }
        return WALTimeRecord(marks: [first, latest])
    }

    /// `segment` is complete: later readings belong to the next one.
    mutating func completed(_ segment: WALSegmentName) {
        completedEnd = max(completedEnd, segment.endLSN)
        first = latest.flatMap { $0.lsn > completedEnd ? $0 : nil }
    }
}
