import Foundation
import PGBackupFoundations

/// One reading of the server's clock against the WAL: by server time `time`, the server had sent
/// the WAL before `lsn` (the send time of an XLogData message and the end of its WAL, or of a
/// keepalive and the end of what had been received by then).
///
/// Whatever the archive holds before `lsn` was sent, hence committed, by `time`: a commit record
/// there carries a timestamp no later than `time`. That makes the newest mark at the archive's
/// end an upper bound of every commit time recovery can find in it (DESIGN.md, "Time ↔ LSN").
public struct WALTimeMark: Codable, Hashable, Sendable {
    /// The server's clock, rounded *up* to the millisecond the record keeps (so that it stays an
    /// upper bound), stored as `2026-11-22T10:15:00.124Z`.
    public var time: Date { Date(timeIntervalSince1970: Double(milliseconds) / 1000) }
    public var lsn: LSN
    /// Milliseconds since 1970: exact in JSON and back.
    private var milliseconds: Int64

    public init(time: Date, lsn: LSN) {
        self.milliseconds = Int64((time.timeIntervalSince1970 * 1000).rounded(.up))
        self.lsn = lsn
    }

    private enum CodingKeys: String, CodingKey { case time, lsn }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        lsn = try container.decode(LSN.self, forKey: .lsn)
        let text = try container.decode(String.self, forKey: .time)
        guard let date = try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(text) else {
            throw DecodingError.dataCorruptedError(forKey: .time, in: container, debugDescription: "'\(text)' is not an ISO 8601 time with milliseconds")
        }
        milliseconds = Int64((date.timeIntervalSince1970 * 1000).rounded())
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(lsn, forKey: .lsn)
        let (seconds, fraction) = milliseconds.quotientAndRemainder(dividingBy: 1000)
        let (whole, millis) = fraction < 0 ? (seconds - 1, fraction + 1000) : (seconds, fraction)
        var text = Date(timeIntervalSince1970: Double(whole)).formatted(Date.ISO8601FormatStyle())
        text.removeLast()  // "Z"
        try container.encode(text + "." + String(millis + 1000).dropFirst() + "Z", forKey: .time)
    }
}

/// The server times recorded with one stored segment or partial segment (`WALArchiveEntry
/// .serverTimes`): the first and the last reading the stream that stored it had for its WAL,
/// oldest first. Written by the daemon's and the backup's WAL streams; `wal-push` has no server
/// time (archive_command gets a file, not a message), so what it stores has no record.
public struct WALTimeRecord: Codable, Hashable, Sendable {
    public var marks: [WALTimeMark]

    public init(marks: [WALTimeMark]) {
        self.marks = marks
    }

    /// The reading furthest into the WAL (the newest).
    public var last: WALTimeMark? { marks.max { ($0.lsn, $0.time) < ($1.lsn, $1.time) } }
}
