import Foundation
import PGBackupFoundations
import PGBackupPostgres
import PGBackupTestSupport
import Testing

extension ReplicationStreamTests {
    /// A standby's walsender streams through a slot on the standby; promoting the standby ends
    /// timeline 1 at the switch point recorded in 00000002.history, and streaming goes on with
    /// timeline 2 from the beginning of that segment. Asking for timeline 1 at its end gets the
    /// end of the timeline without a COPY.
    @Test func promotionEndsTheTimelineAtTheHistorySwitchPoint() async throws {
        try await withPostgresCluster(.init(name: "timeline")) { primary in
            let standby = try await primary.makeStandby()
            try await primary.sql("CREATE TABLE t AS SELECT g, repeat('z', 100) AS payload FROM generate_series(1, 5000) g")
            try await standby.waitForReplay(of: primary)

            let connection = try PostgresConnection(conninfo: standby.conninfo(replication: true), replication: .physical)
            #expect(try connection.createPhysicalReplicationSlot("archiver") == .created)
            let slot = try #require(try connection.readReplicationSlot("archiver"))
            let restart = try #require(slot.restartLSN)
            #expect(slot.restartTimeline == TimelineID(1))
            let first = WALSegmentName(timeline: TimelineID(1), containing: restart, segmentSize: Self.segmentSize)

            let stream = ReplicationStream(connection: connection)
            try stream.start(slot: "archiver", at: first.startLSN, timeline: TimelineID(1))
            var received: [UInt8] = []
            var position = first.startLSN
            guard case .walData(let firstData) = try nextEvent(stream) else {
                Issue.record("expected WAL first")
                return
            }
            #expect(firstData.start == first.startLSN)
            received += firstData.bytes
            position = firstData.end

            try await standby.promote()

            var switchEvent: (next: TimelineID, start: LSN)?
            while switchEvent == nil {
                switch try nextEvent(stream) {
                case .walData(let data):
                    #expect(data.start == position, "WAL must arrive contiguously")
                    received += data.bytes
                    position = data.end
                case .keepalive(_, _, let replyRequested):
                    if replyRequested { try stream.sendStatus(write: position, flush: .zero) }
                case .endOfTimeline(let next, let start):
                    switchEvent = (next, start)
                case .endOfStream:
                    Issue.record("the stream ended without a timeline switch")
                    return
                }
            }
            let (nextTimeline, switchpoint) = try #require(switchEvent)
            #expect(nextTimeline == TimelineID(2))
            #expect(switchpoint == position, "timeline 1 is streamed exactly up to the switch point")
            #expect(!stream.isStreaming)

            // The history file, byte for byte as in the server's pg_wal, names the same switch point.
            let (fileName, content) = try stream.connection.timelineHistory(TimelineID(2))
            #expect(fileName == "00000002.history")
            let onDisk = try #require(FileManager.default.contents(atPath: standby.dataDirectory + "/pg_wal/00000002.history"))
            #expect(content == Array(onDisk))
            let history = try TimelineHistory(parsing: String(decoding: content, as: UTF8.self), timeline: TimelineID(2))
            #expect(history.entries.map(\.timeline) == [TimelineID(1)])
            #expect(history.switchpoint(of: TimelineID(1)) == switchpoint)

            // Asking for timeline 1 from its end: the server answers without a COPY, and the
            // first receive reports the end of the timeline at once.
            try stream.start(slot: "archiver", at: switchpoint, timeline: TimelineID(1))
            #expect(try stream.receive(timeout: .zero) == .endOfTimeline(nextTimeline: TimelineID(2), nextTimelineStart: switchpoint))
            #expect(throws: ReplicationError.self) { try stream.receive(timeout: .zero) }

            // Timeline 2 from the start of the switch point's segment: that segment's copy on the
            // new timeline begins with timeline 1's bytes, then goes on with timeline 2's.
            let switchSegment = WALSegmentName(timeline: TimelineID(2), containing: switchpoint, segmentSize: Self.segmentSize)
            try stream.start(slot: "archiver", at: switchSegment.startLSN, timeline: TimelineID(2))
            var secondTimeline: [UInt8] = []
            var secondPosition = switchSegment.startLSN
            try await standby.sql("INSERT INTO t SELECT g, 'after' FROM generate_series(1, 100) g")
            let newEnd = try await standby.currentWALLSN()
            while secondPosition < newEnd {
                switch try nextEvent(stream) {
                case .walData(let data):
                    #expect(data.start == secondPosition)
                    secondTimeline += data.bytes
                    secondPosition = data.end
                case .keepalive(_, _, let replyRequested):
                    if replyRequested { try stream.sendStatus(write: secondPosition, flush: .zero) }
                case let other:
                    Issue.record("unexpected \(other) on timeline 2")
                    return
                }
            }
            let oldOffset = Int(switchSegment.startLSN - first.startLSN)
            let oldLength = Int(switchpoint - switchSegment.startLSN)
            #expect(secondTimeline.count > oldLength, "timeline 2 goes on past the switch point")
            #expect(Array(secondTimeline.prefix(oldLength)) == Array(received[oldOffset..<(oldOffset + oldLength)]))
            try stream.stop()
            #expect(try stream.connection.identifySystem().timeline == TimelineID(2))
        }
    }
}
