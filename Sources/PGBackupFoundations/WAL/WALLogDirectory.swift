/// The repository directory `TTTTTTTTXXXXXXXX` (timeline + the segment name's "log" part) that
/// groups segments as `wal/<directory>/<segment>`: at most 4 GiB of WAL per directory.
public struct WALLogDirectory: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let timeline: TimelineID
    /// The high 32 bits of every LSN in the directory's segments.
    public let logID: UInt32

    public init(timeline: TimelineID, logID: UInt32) {
        self.timeline = timeline
        self.logID = logID
    }

    /// Parses the 16-hex-digit name (upper case).
    public init(parsing name: some StringProtocol) throws(WALNameError) {
        let utf8 = Array(name.utf8)
        guard utf8.count == 16, let tli = Hex.parse8(utf8[0..<8]), let log = Hex.parse8(utf8[8..<16]) else {
            throw .notAWALFileName(String(name))
        }
        guard tli != 0 else { throw .timelineZero(String(name)) }
        self.init(timeline: TimelineID(tli), logID: log)
    }

    public var name: String { timeline.hex + Hex.format8(logID) }

    public var description: String { name }

    public static func < (lhs: WALLogDirectory, rhs: WALLogDirectory) -> Bool {
        (lhs.timeline, lhs.logID) < (rhs.timeline, rhs.logID)
    }
}
