import PGBackupFoundations

/// What `follow` needs from a data directory's `global/pg_control`, as `pg_controldata` prints
/// it. Pure: `init(parsing:)` reads the tool's output (run with `LC_ALL=C`, so in English).
public struct ControlData: Sendable, Hashable, Codable {
    public var systemIdentifier: SystemIdentifier
    /// "in production", "shut down", "shut down in recovery", "in archive recovery", …
    public var state: String
    public var checkpointLocation: LSN
    public var checkpointTimeline: TimelineID
    /// How far recovery must replay before the directory is consistent; 0/0 for a primary.
    public var minimumRecoveryPoint: LSN
    /// The timeline of `minimumRecoveryPoint`; 0 when there is none.
    public var minimumRecoveryTimeline: UInt32

    public init(
        systemIdentifier: SystemIdentifier, state: String, checkpointLocation: LSN, checkpointTimeline: TimelineID,
        minimumRecoveryPoint: LSN, minimumRecoveryTimeline: UInt32
    ) {
        self.systemIdentifier = systemIdentifier
        self.state = state
        self.checkpointLocation = checkpointLocation
        self.checkpointTimeline = checkpointTimeline
        self.minimumRecoveryPoint = minimumRecoveryPoint
        self.minimumRecoveryTimeline = minimumRecoveryTimeline
    }

    /// Parses `pg_controldata`'s `Name:   value` lines; unknown lines are ignored, a missing or
    /// malformed field we need is an error naming it.
    public init(parsing output: String) throws(FollowError) {
        var fields: [String: String] = [:]
        for line in output.split(whereSeparator: \.isNewline) {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let name = line[..<colon].trimmingCharacters(in: .whitespaces)
            fields[name] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        func field(_ name: String) throws(FollowError) -> String {
            guard let value = fields[name], !value.isEmpty else { throw .controlData("no '\(name)' line in pg_controldata's output") }
            return value
        }
        func lsn(_ name: String) throws(FollowError) -> LSN {
            let text = try field(name)
            guard let value = LSN(text) else { throw .controlData("'\(name)' is '\(text)', not an LSN") }
            return value
        }
        func number(_ name: String) throws(FollowError) -> UInt32 {
            let text = try field(name)
            guard let value = UInt32(text) else { throw .controlData("'\(name)' is '\(text)', not a number") }
            return value
        }
        let identifierText = try field("Database system identifier")
        guard let identifier = SystemIdentifier(identifierText) else {
            throw .controlData("'Database system identifier' is '\(identifierText)', not a number")
        }
        self.init(
            systemIdentifier: identifier, state: try field("Database cluster state"),
            checkpointLocation: try lsn("Latest checkpoint location"),
            checkpointTimeline: TimelineID(try number("Latest checkpoint's TimeLineID")),
            minimumRecoveryPoint: try lsn("Minimum recovery ending location"),
            minimumRecoveryTimeline: try number("Min recovery ending loc's timeline"))
    }

    /// How far the directory is known to have replayed or written WAL, and on which timeline:
    /// the minimum recovery point when set (a standby), else the latest checkpoint. A lower bound
    /// for a running server, which flushes pg_control only now and then.
    public var knownPosition: (lsn: LSN, timeline: TimelineID) {
        if minimumRecoveryTimeline != 0, minimumRecoveryPoint > checkpointLocation {
            return (minimumRecoveryPoint, TimelineID(minimumRecoveryTimeline))
        }
        return (checkpointLocation, checkpointTimeline)
    }

    /// Why a directory that has WAL up to `position` cannot follow a primary on the timeline
    /// `history` describes, or nil when it can: its timeline is not on the primary's history, or
    /// it went past the point where the primary's history left that timeline. Pure.
    public static func divergence(position: (lsn: LSN, timeline: TimelineID), primaryHistory history: TimelineHistory) -> String? {
        if position.timeline == history.timeline { return nil }
        guard history.contains(position.timeline), let switchpoint = history.switchpoint(of: position.timeline) else {
            return "it is on timeline \(position.timeline), which is not on the primary's timeline \(history.timeline) history"
        }
        guard position.lsn > switchpoint else { return nil }
        return "it has WAL up to \(position.lsn) on timeline \(position.timeline), past \(switchpoint), where the primary's history leaves timeline \(position.timeline) for the next (the primary is on timeline \(history.timeline))"
    }
}
