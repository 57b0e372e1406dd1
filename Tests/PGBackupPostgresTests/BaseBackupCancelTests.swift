import Dispatch
import Foundation
import PGBackupFoundations
import PGBackupPostgres
import PGBackupTestSupport
import Testing

/// Ending a base backup early: cancel() from the owner thread, the canceller from another
/// thread, and the server killing the WAL sender. Each backup is throttled to 32 kB/s (the
/// server's minimum) so that it is surely still running when it is interrupted.
@Suite("BaseBackupStream: cancellation and lost connections")
struct BaseBackupCancelTests {
    /// What the blocking part saw, for the assertions (Swift Testing records issues from test
    /// tasks, not from BlockingIO threads).
    struct Observations: Sendable {
        var outcome = ""
        var progressPhaseDuring: [[String?]] = []
        var stillRunning = true
        var timelineAfter: TimelineID?
        var progressRowsAfter = -1
        var staleProgress: [[String?]] = []
        var walSenderStatesAfter: [[String?]] = []
        var nextBackupArchives: [String] = []
        var errorAfter = ""
    }

    static let throttled = BaseBackupOptions(label: "interrupted", maxRateKilobytesPerSecond: 32)

    @Test func cancelFromTheOwnerThreadAbortsTheBackupAndLeavesTheConnectionIdle() async throws {
        try await withPostgresCluster(.init(name: "bb-cancel")) { cluster in
            let conninfo = cluster.conninfo(replication: true)
            let sqlConninfo = cluster.conninfo()
            let seen = try await BlockingIO.runLong {
                var seen = Observations()
                let sql = try PostgresConnection(conninfo: sqlConninfo)
                let stream = BaseBackupStream(connection: try BaseBackupStream.openConnection(conninfo: conninfo))
                try stream.start(Self.throttled)
                try readArchiveData(stream, into: BaseBackupCollector(), events: 3)
                seen.progressPhaseDuring = try sql.simpleQuery("SELECT phase FROM pg_stat_progress_basebackup")

                seen.outcome = try stream.cancel() ? "aborted" : "completed before the cancel"
                seen.stillRunning = stream.isRunning
                seen.timelineAfter = try stream.connection.identifySystem().timeline
                // PostgreSQL 15 leaves the aborted backup's row in pg_stat_progress_basebackup while
                // the WAL sender lives: it must at least stand still. Later majors remove it.
                let progressQuery = "SELECT phase, backup_streamed FROM pg_stat_progress_basebackup"
                seen.staleProgress = try sql.simpleQuery(progressQuery)
                usleep(1_000_000)
                seen.staleProgress += try sql.simpleQuery(progressQuery)
                seen.walSenderStatesAfter = try sql.simpleQuery("SELECT state FROM pg_stat_replication")

                // The same connection takes the next backup.
                try stream.start(BaseBackupOptions(label: "after the cancel", progress: false))
                let collector = BaseBackupCollector()
                while let event = try stream.next() { try collector.consume(event) }
                seen.nextBackupArchives = try collector.result().archives.map(\.name)
                seen.progressRowsAfter = Int(try sql.simpleQuery("SELECT count(*) FROM pg_stat_progress_basebackup")[0][0] ?? "") ?? -1
                return seen
            }
            #expect(seen.progressPhaseDuring == [["streaming database files"]])
            #expect(seen.outcome == "aborted")
            #expect(!seen.stillRunning)
            #expect(seen.timelineAfter == TimelineID(1))
            #expect(seen.walSenderStatesAfter == [["startup"]], "the WAL sender left the 'backup' state")
            #expect(seen.staleProgress.count == 2 || seen.staleProgress.isEmpty, "\(seen.staleProgress)")
            #expect(seen.staleProgress.first == seen.staleProgress.last, "the aborted backup still streams: \(seen.staleProgress)")
            #expect(seen.nextBackupArchives == ["base.tar"])
            #expect(seen.progressRowsAfter == 0)
            try await cluster.waitUntil("the WAL sender and its progress row to go once the connection is closed", timeout: .seconds(5)) {
                try await cluster.sql("SELECT (SELECT count(*) FROM pg_stat_replication) + (SELECT count(*) FROM pg_stat_progress_basebackup)") == "0"
            }
        }
    }

    // At 32 kB/s the backup would run for many minutes: "cancelled" (not "finished") is what shows
    // the canceller worked; the time limit only guards against a hang.
    @Test(.timeLimit(.minutes(5))) func theCancellerStopsABackupFromAnotherThread() async throws {
        try await withPostgresCluster(.init(name: "bb-canceller")) { cluster in
            let conninfo = cluster.conninfo(replication: true)
            let sqlConninfo = cluster.conninfo()
            let seen = try await BlockingIO.runLong {
                var seen = Observations()
                let stream = BaseBackupStream(connection: try BaseBackupStream.openConnection(conninfo: conninfo))
                try stream.start(Self.throttled)
                let collector = BaseBackupCollector()
                try readArchiveData(stream, into: collector, events: 1)
                guard let canceller = stream.canceller else { throw CollectorError(what: "no canceller while running") }
                DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(300)) { try? canceller.cancel() }
                do {
                    while let event = try stream.next() { try collector.consume(event) }
                    seen.outcome = "finished"
                } catch BaseBackupError.cancelled {
                    seen.outcome = "cancelled"
                } catch {
                    seen.outcome = "\(error)"
                }
                seen.stillRunning = stream.isRunning
                seen.timelineAfter = try stream.connection.identifySystem().timeline
                do {
                    _ = try stream.next()
                } catch {
                    seen.errorAfter = "\(error)"
                }
                let sql = try PostgresConnection(conninfo: sqlConninfo)
                seen.walSenderStatesAfter = try sql.simpleQuery("SELECT state FROM pg_stat_replication")
                return seen
            }
            #expect(seen.outcome == "cancelled")
            #expect(!seen.stillRunning)
            #expect(seen.timelineAfter == TimelineID(1))
            #expect(seen.errorAfter.contains("next() after the base backup failed"))
            #expect(seen.walSenderStatesAfter == [["startup"]])
            #expect("\(BaseBackupError.cancelled)" == "the base backup was cancelled; the server aborted it")
            try await cluster.waitUntil("the WAL sender and its progress row to go once the connection is closed", timeout: .seconds(5)) {
                try await cluster.sql("SELECT (SELECT count(*) FROM pg_stat_replication) + (SELECT count(*) FROM pg_stat_progress_basebackup)") == "0"
            }
        }
    }

    @Test func aTerminatedWALSenderIsALostConnection() async throws {
        try await withPostgresCluster(.init(name: "bb-terminate")) { cluster in
            let conninfo = cluster.conninfo(replication: true)
            let sqlConninfo = cluster.conninfo()
            let seen = try await BlockingIO.runLong {
                var seen = Observations()
                let stream = BaseBackupStream(connection: try BaseBackupStream.openConnection(conninfo: conninfo))
                try stream.start(Self.throttled)
                let collector = BaseBackupCollector()
                try readArchiveData(stream, into: collector, events: 1)
                let sql = try PostgresConnection(conninfo: sqlConninfo)
                let terminated = try sql.simpleQuery("SELECT pg_terminate_backend(pid) FROM pg_stat_replication")
                guard terminated == [["t"]] else { throw CollectorError(what: "pg_terminate_backend answered \(terminated)") }
                do {
                    while let event = try stream.next() { try collector.consume(event) }
                    seen.outcome = "finished"
                } catch let error as PostgresError {
                    if case .connectionLost = error { seen.outcome = "lost: \(error)" } else { seen.outcome = "\(error)" }
                } catch {
                    seen.outcome = "\(error)"
                }
                seen.stillRunning = stream.isRunning
                do {
                    _ = try stream.next()
                } catch {
                    seen.errorAfter = "\(error)"
                }
                return seen
            }
            #expect(seen.outcome.hasPrefix("lost: lost the connection to PostgreSQL: terminating connection due to administrator command"),
                    "\(seen.outcome)")
            #expect(!seen.stillRunning)
            #expect(seen.errorAfter.hasPrefix("lost the connection to PostgreSQL"))
            try await cluster.waitUntil("the WAL sender to go", timeout: .seconds(5)) {
                try await cluster.sql("SELECT count(*) FROM pg_stat_replication") == "0"
            }
        }
    }
}
