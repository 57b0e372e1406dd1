import PGBackupFoundations

extension SessionPlan {
    /// Where a session streams from on a server whose timeline history is `history` (its own
    /// timeline last), given what the repository holds.
    ///
    /// The repository's newest timeline on the server's path is `T`, ending at `E`:
    /// - `T` is the server's timeline, or an ancestor the server switched away from after `E`:
    ///   stream `T` from `E` (the server serves an old timeline up to its switch point, then
    ///   says where the next one starts).
    /// - The repository holds `T` up to or past the server's switch point (the old primary got
    ///   further than the new one before it failed): start on `T`'s child on the server's path,
    ///   at the segment boundary of the switch point. Never ask for a position the server says
    ///   is not in its history; the repository's WAL past the switch point is not on this path.
    ///
    /// Nothing of the server's path in the repository: `start(archiveEnd: nil, …)` (the slot's
    /// restart point, else the server's current segment), `fromArchive` false.
    static func start(
        archiveEnds: [TimelineID: LSN], history: TimelineHistory, slot: (LSN, TimelineID?)?, server: (TimelineID, LSN),
        segmentSize: WALSegmentSize
    ) -> (timeline: TimelineID, lsn: LSN, fromArchive: Bool) {
        func boundary(_ lsn: LSN) -> LSN { lsn - segmentSize.offset(of: lsn) }
        let path = history.path
        guard let index = path.lastIndex(where: { archiveEnds[$0] != nil }), let end = archiveEnds[path[index]] else {
            let start = start(archiveEnd: nil, slot: slot, server: server, segmentSize: segmentSize)
            return (start.timeline, start.lsn, false)
        }
        let timeline = path[index]
        if let switchpoint = history.switchpoint(of: timeline), end >= switchpoint {
            return (path[index + 1], boundary(switchpoint), true)
        }
        return (timeline, boundary(end), true)
    }

    /// The timelines of the server's path (timeline 1 has no history file) whose history file
    /// the repository lacks, oldest first: stored before any WAL of the session.
    static func missingHistories(path: [TimelineID], held: Set<TimelineID>) -> [TimelineID] {
        path.filter { $0 > TimelineID(1) && !held.contains($0) }
    }
}
