import Foundation
import PGBackupFoundations
import PGBackupPostgres
import PGBackupTestSupport
import Testing

/// ReplicationStream against real PostgreSQL 15 servers.
///
/// Serialized: `receive` blocks its thread (by design: the WAL receiver gives it a thread of its
/// own), and these tests call it from test tasks; one at a time leaves the cooperative pool free
/// for the other suites.
@Suite("ReplicationStream against a real server", .serialized)
struct ReplicationStreamTests {
    static let segmentSize = WALSegmentSize.default

    @Test func streamsASegmentByteForByteAndTheSlotFollowsTheFlushPosition() async throws {
        try await withPostgresCluster(.init(name: "stream")) { cluster in
            let connection = try PostgresConnection(conninfo: cluster.conninfo(replication: true), replication: .physical)
            try connection.createPhysicalReplicationSlot("archiver")
            let slotBefore = try #require(try connection.readReplicationSlot("archiver")?.restartLSN)
            let identity = try connection.identifySystem()
            let segment = WALSegmentName(timeline: identity.timeline, containing: identity.xlogPosition, segmentSize: Self.segmentSize)
            try await cluster.sql(
                "CREATE TABLE t (id int, payload text)",
                "INSERT INTO t SELECT g, repeat('x', 200) FROM generate_series(1, 20000) g",
                "SELECT pg_switch_wal()")

            let stream = ReplicationStream(connection: connection)
            try stream.start(slot: "archiver", at: segment.startLSN, timeline: identity.timeline)
            #expect(try await cluster.sql("SELECT active FROM pg_replication_slots WHERE slot_name = 'archiver'") == "t")
            var received: [UInt8] = []
            received.reserveCapacity(Int(Self.segmentSize.bytes))
            var position = segment.startLSN
            while position < segment.endLSN {
                switch try nextEvent(stream) {
                case .walData(let data):
                    #expect(data.start == position, "WAL must arrive contiguously")
                    #expect(data.end <= segment.endLSN, "an XLogData message never crosses a segment boundary")
                    #expect(data.serverWALEnd >= data.end)
                    #expect(abs(data.serverTime.timeIntervalSinceNow) < 60)
                    received += data.bytes
                    position = data.end
                case .keepalive(_, _, let replyRequested):
                    if replyRequested { try stream.sendStatus(write: position, flush: .zero) }
                case let other:
                    Issue.record("unexpected \(other) before the end of \(segment)")
                    return
                }
            }
            let onDisk = try #require(FileManager.default.contents(atPath: cluster.dataDirectory + "/pg_wal/" + segment.name))
            #expect(received.count == onDisk.count)
            #expect(received == Array(onDisk), "the streamed segment differs from the server's pg_wal/\(segment.name)")

            // Acknowledge the whole segment as flushed: the slot moves there, not further.
            let flushed = segment.endLSN
            try stream.sendStatus(write: flushed, flush: flushed)
            try await cluster.waitUntil("the slot to move past \(slotBefore)", timeout: .seconds(20)) {
                let text = try await cluster.sql("SELECT restart_lsn FROM pg_replication_slots WHERE slot_name = 'archiver'")
                return LSN(text).map { $0 != slotBefore } ?? false
            }
            let moved = try #require(LSN(try await cluster.sql("SELECT restart_lsn FROM pg_replication_slots WHERE slot_name = 'archiver'")))
            #expect(moved > slotBefore)
            #expect(moved <= flushed)

            // More WAL, received and reported as *written* only: the slot stays at the flush position.
            try await cluster.sql("INSERT INTO t SELECT g, repeat('y', 200) FROM generate_series(1, 5000) g", "SELECT pg_switch_wal()")
            let next = try #require(segment.next)
            while position < next.endLSN {
                if case .walData(let data) = try nextEvent(stream) { position = data.end }
            }
            try stream.sendStatus(write: position, flush: flushed, replyRequested: true)
            // The reply the server sends back proves it has processed our update.
            while true {
                if case .keepalive = try nextEvent(stream) { break }
            }
            try await cluster.sql("CHECKPOINT")
            let after = try #require(LSN(try await cluster.sql("SELECT restart_lsn FROM pg_replication_slots WHERE slot_name = 'archiver'")))
            #expect(after <= flushed, "the slot moved beyond the reported flush position")
            #expect(try await cluster.sql("SELECT flush_lsn, write_lsn FROM pg_stat_replication") == "\(flushed)|\(position)")

            // A client-side stop leaves the connection usable, and streaming resumes from the slot.
            try stream.stop()
            #expect(!stream.isStreaming)
            #expect(try stream.connection.identifySystem().timeline == identity.timeline)
            try await cluster.waitUntil("the slot to become inactive", timeout: .seconds(10)) {
                try await cluster.sql("SELECT active FROM pg_replication_slots WHERE slot_name = 'archiver'") == "f"
            }
            try stream.start(slot: "archiver", at: moved, timeline: identity.timeline)
            var resumed: XLogData?
            while resumed == nil {
                if case .walData(let data) = try nextEvent(stream) { resumed = data }
            }
            #expect(resumed?.start == moved)
            try stream.stop()
            try stream.connection.dropReplicationSlot("archiver")
        }
    }

    @Test func repliesToKeepalivesKeepTheStreamAliveAndTheirAbsenceEndsIt() async throws {
        let timeout = 2.0
        try await withPostgresCluster(.init(name: "keepalive", settings: ["wal_sender_timeout": "'\(Int(timeout))s'"])) { cluster in
            let connection = try PostgresConnection(conninfo: cluster.conninfo(replication: true), replication: .physical)
            let identity = try connection.identifySystem()
            let stream = ReplicationStream(connection: connection)
            try stream.start(slot: nil, at: identity.xlogPosition, timeline: identity.timeline)

            // Answer only what the server asks for, for 2.5 × wal_sender_timeout.
            var position = identity.xlogPosition
            var requests = 0
            let clock = ContinuousClock()
            let started = clock.now
            var lastReply = started
            while clock.now - started < .seconds(timeout * 2.5) {
                switch try stream.receive(timeout: .milliseconds(200)) {
                case .walData(let data):
                    position = data.end
                case .keepalive(let walEnd, let serverTime, let replyRequested):
                    #expect(walEnd >= position)
                    #expect(abs(serverTime.timeIntervalSinceNow) < 60)
                    if replyRequested {
                        requests += 1
                        try stream.sendStatus(write: position, flush: position)
                        lastReply = clock.now
                    }
                case nil:
                    continue
                case let other?:
                    Issue.record("unexpected \(other)")
                    return
                }
            }
            // The server asks after wal_sender_timeout / 2 of silence: about 4 times in 5 s.
            #expect(requests >= 2)
            #expect(stream.isStreaming)

            // Stop answering: the server must now end the connection, which proves the replies
            // above were what kept it alive.
            let silent = clock.now
            let error = try #require(throws: PostgresError.self) {
                while clock.now - silent < .seconds(timeout * 4) {
                    _ = try stream.receive(timeout: .milliseconds(200))
                }
            }
            guard case .connectionLost = error else {
                Issue.record("expected connectionLost, got \(error)")
                return
            }
            // The server counts wal_sender_timeout from the last reply it received, which may
            // precede the silence by up to half the timeout.
            #expect(clock.now - lastReply >= .seconds(timeout * 0.9))
        }
    }

    @Test func aServerShutdownEndsTheStreamOnceEverythingIsConfirmed() async throws {
        try await withPostgresCluster(.init(name: "shutdown")) { cluster in
            let connection = try PostgresConnection(conninfo: cluster.conninfo(replication: true), replication: .physical)
            try connection.createPhysicalReplicationSlot("archiver")
            let identity = try connection.identifySystem()
            let stream = ReplicationStream(connection: connection)
            try stream.start(slot: "archiver", at: identity.xlogPosition, timeline: identity.timeline)

            // A fast shutdown waits for the walsender, which ends the stream (CommandComplete
            // without CopyDone) only once the client has confirmed all it was sent.
            async let stopped: Void = cluster.stop(mode: .fast)
            var position = identity.xlogPosition
            var ended = false
            var replies = 0
            let clock = ContinuousClock()
            let started = clock.now
            while !ended, clock.now - started < .seconds(30) {
                switch try stream.receive(timeout: .milliseconds(500)) {
                case .walData(let data)?:
                    #expect(data.start == position)
                    position = data.end
                case .keepalive(_, _, let replyRequested)?:
                    if replyRequested {
                        replies += 1
                        try stream.sendStatus(write: position, flush: position)
                    }
                case .endOfStream?:
                    ended = true
                case let other?:
                    Issue.record("unexpected \(other)")
                case nil:
                    continue
                }
            }
            try await stopped
            #expect(ended)
            #expect(replies >= 1, "the walsender asks for confirmation before it ends the stream")
            #expect(position > identity.xlogPosition, "the shutdown checkpoint was streamed")
            #expect(!stream.isStreaming)
            // The server closed the connection after ending the stream.
            #expect(throws: PostgresError.self) { try stream.start(slot: "archiver", at: position, timeline: identity.timeline) }
        }
    }

    @Test func terminatingTheWALSenderIsAConnectionLoss() async throws {
        try await withPostgresCluster(.init(name: "terminate")) { cluster in
            let connection = try PostgresConnection(conninfo: cluster.conninfo(replication: true), replication: .physical)
            let identity = try connection.identifySystem()
            let segmentStart = WALSegmentName(timeline: identity.timeline, containing: identity.xlogPosition, segmentSize: Self.segmentSize).startLSN
            let stream = ReplicationStream(connection: connection)
            try stream.start(slot: nil, at: segmentStart, timeline: identity.timeline)
            guard case .walData = try nextEvent(stream) else {
                Issue.record("expected WAL first")
                return
            }
            #expect(try await cluster.sql("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_replication") == "1")

            let error = try #require(throws: PostgresError.self) {
                let clock = ContinuousClock()
                let started = clock.now
                while clock.now - started < .seconds(20) {
                    _ = try stream.receive(timeout: .milliseconds(500))
                }
            }
            guard case .connectionLost(let reason) = error else {
                Issue.record("expected connectionLost, got \(error)")
                return
            }
            #expect(reason.contains("terminating connection due to administrator command"))
            #expect(error.description.hasPrefix("lost the connection to PostgreSQL: "))
            // The stream stays broken.
            #expect(throws: PostgresError.self) { try stream.receive(timeout: .zero) }
            #expect(throws: PostgresError.self) { try stream.sendStatus(write: segmentStart, flush: .zero) }
        }
    }

    @Test func refusalsAreExplainedAndLeaveTheConnectionUsable() async throws {
        try await withPostgresCluster(.init(name: "removed", settings: ["wal_keep_size": "0"])) { cluster in
            let connection = try PostgresConnection(conninfo: cluster.conninfo(replication: true), replication: .physical)
            let first = try connection.identifySystem()
            let old = WALSegmentName(timeline: first.timeline, containing: first.xlogPosition, segmentSize: Self.segmentSize)
            // Push the old segment out: switch segments and checkpoint until pg_wal no longer has it.
            try await cluster.waitUntil("\(old.name) to be removed", timeout: .seconds(30)) {
                try await cluster.sql("CREATE TABLE IF NOT EXISTS t (v int)", "INSERT INTO t VALUES (1)", "SELECT pg_switch_wal()", "CHECKPOINT")
                return !FileManager.default.fileExists(atPath: cluster.dataDirectory + "/pg_wal/" + old.name)
            }
            let stream = ReplicationStream(connection: connection)
            #expect(throws: ReplicationError.self) { try stream.receive(timeout: .zero) }
            #expect(throws: ReplicationError.self) { try stream.sendStatus(write: .zero, flush: .zero) }

            // Refused at once: a slot that does not exist.
            let missing = try #require(throws: ReplicationError.self) {
                try stream.start(slot: "missing", at: old.startLSN, timeline: first.timeline)
            }
            #expect(missing.sqlState == "42704")
            #expect(missing.description.hasPrefix(
                "unable to start streaming WAL from \(old.startLSN) on timeline 1 (slot 'missing'): replication slot \"missing\" does not exist"))
            #expect(!stream.isStreaming)

            // Refused after the COPY began: a start beyond the server's flush position.
            let flushed = try await cluster.currentWALLSN()
            let future = WALSegmentName(timeline: first.timeline, containing: flushed, segmentSize: Self.segmentSize).endLSN + Self.segmentSize.bytes
            try stream.start(slot: nil, at: future, timeline: first.timeline)
            let ahead = try #require(throws: ReplicationError.self) {
                while true { _ = try nextEvent(stream) }
            }
            #expect(ahead.description.contains("requested starting point \(future) is ahead of the WAL flush position"))
            #expect(!stream.isStreaming)

            // Refused after the COPY began: WAL the server no longer has.
            try stream.start(slot: nil, at: old.startLSN, timeline: first.timeline)
            let error = try #require(throws: ReplicationError.self) {
                while true { _ = try nextEvent(stream) }
            }
            #expect(error.sqlState == "58P01")
            #expect(error.description.hasPrefix(
                "unable to stream WAL from \(old.startLSN) on timeline 1: requested WAL segment \(old.name) has already been removed"))
            #expect(error.description.contains("HINT: the server recycled this WAL before pgbackup archived it"))
            // The refusal leaves the connection usable.
            #expect(!stream.isStreaming)
            #expect(try stream.connection.identifySystem().systemIdentifier == first.systemIdentifier)
        }
    }
}

/// The next event; fails (throws) when none arrives within `timeout`.
func nextEvent(_ stream: ReplicationStream, timeout: Duration = .seconds(20)) throws -> ReplicationEvent {
    guard let event = try stream.receive(timeout: timeout) else {
        throw TestTimeout(what: "a replication event", after: timeout)
    }
    return event
}

struct TestTimeout: Error, CustomStringConvertible {
    var what: String
    var after: Duration
    var description: String { "nothing arrived within \(after) while waiting for \(what)" }
}
