import Foundation
import PGBackupFoundations
import PGBackupPostgres
import PGBackupTestSupport
import Testing

/// Concurrent backups, and the refusals an operator meets, against a server with only two WAL
/// senders.
@Suite("BaseBackupStream: concurrency and refusals")
struct BaseBackupRefusalTests {
    struct Observations: Sendable {
        var first: CollectedBackup?
        var second: CollectedBackup?
        var backupsRunningTogether: [[String?]] = []
        var thirdConnection = ""
        var longLabel = ""
        var longLabelSQLState: String?
        var timelineAfterRefusal: TimelineID?
        var withoutReplication = ""
    }

    @Test func twoBackupsRunTogetherAndTheRefusalsNameTheirCause() async throws {
        try await withPostgresCluster(.init(name: "bb-limits", settings: ["max_wal_senders": "2"])) { cluster in
            try await cluster.sql("CREATE ROLE plain LOGIN PASSWORD 'plain-secret'")
            let conninfo = cluster.conninfo(replication: true)
            let sqlConninfo = cluster.conninfo()
            let plainConninfo = cluster.conninfo(user: "plain", password: "plain-secret")
            let seen = try await BlockingIO.runLong {
                var seen = Observations()
                let sql = try PostgresConnection(conninfo: sqlConninfo)
                let first = BaseBackupStream(connection: try BaseBackupStream.openConnection(conninfo: conninfo))
                do {
                    // PostgreSQL 15 takes several non-exclusive backups at once: interleave two.
                    let second = BaseBackupStream(connection: try BaseBackupStream.openConnection(conninfo: conninfo))
                    do {
                        _ = try BaseBackupStream.openConnection(conninfo: conninfo)
                        seen.thirdConnection = "opened"
                    } catch {
                        seen.thirdConnection = "\(error)"
                    }
                    try first.start(BaseBackupOptions(label: "first"))
                    try second.start(BaseBackupOptions(label: "second", manifestChecksums: .crc32c))
                    let collectors = [BaseBackupCollector(), BaseBackupCollector()]
                    let streams = [first, second]
                    while !collectors.allSatisfy(\.isFinished) {
                        for (stream, collector) in zip(streams, collectors) where !collector.isFinished {
                            if let event = try stream.next() { try collector.consume(event) }
                        }
                        if seen.backupsRunningTogether.isEmpty, collectors.allSatisfy({ $0.dataEvents > 0 }) {
                            seen.backupsRunningTogether = try sql.simpleQuery("SELECT phase FROM pg_stat_progress_basebackup")
                        }
                    }
                    seen.first = try collectors[0].result()
                    seen.second = try collectors[1].result()
                }

                // Refused by the server: the connection stays idle and usable.
                try first.start(BaseBackupOptions(label: String(repeating: "x", count: 1100)))
                do {
                    _ = try first.next()
                    seen.longLabel = "accepted"
                } catch let error as ReplicationError {
                    seen.longLabel = "\(error)"
                    seen.longLabelSQLState = error.sqlState
                }
                seen.timelineAfterRefusal = try first.connection.identifySystem().timeline

                // A role without REPLICATION, over a replication=database connection (which
                // matches pg_hba.conf's ordinary lines).
                do {
                    _ = try BaseBackupStream.openConnection(conninfo: plainConninfo, replication: .database)
                    seen.withoutReplication = "opened"
                } catch {
                    seen.withoutReplication = "\(error)"
                }
                return seen
            }

            let first = try #require(seen.first)
            let second = try #require(seen.second)
            #expect(seen.backupsRunningTogether.count == 2, "\(seen.backupsRunningTogether)")
            for backup in [first, second] {
                #expect(backup.archives.map(\.name) == ["base.tar"])
                #expect(backup.start <= backup.end)
                #expect(backup.archive("base.tar")?.entries["global/pg_control"]?.size == 8192)
            }
            #expect(String(decoding: second.manifest, as: UTF8.self).contains(#""Checksum-Algorithm": "CRC32C""#))

            #expect(seen.thirdConnection.hasPrefix("unable to open a replication connection to host=127.0.0.1"), "\(seen.thirdConnection)")
            // 17+ quote the setting's name in the server's message.
            let exceeds = cluster.major >= 17 ? #"exceeds "max_wal_senders""# : "exceeds max_wal_senders"
            #expect(seen.thirdConnection.contains("number of requested standby connections \(exceeds) (currently 2) (SQLSTATE 53300)"))
            #expect(seen.thirdConnection.contains("\nHINT: every WAL sender is busy (pgbackup's WAL stream, standbys, other backups): raise max_wal_senders"))

            #expect(seen.longLabelSQLState == "22023")
            #expect(seen.longLabel.hasPrefix("unable to take base backup 'xxx"), "\(seen.longLabel)")
            #expect(seen.longLabel.contains("': backup label too long (max 1024 bytes) (SQLSTATE 22023)"), "\(seen.longLabel)")
            #expect(seen.timelineAfterRefusal == TimelineID(1))

            // 16 reworded the refusal (and gave it a DETAIL).
            let refusal = cluster.major >= 16 ? "permission denied to start WAL sender" : "must be superuser or replication role to start walsender"
            #expect(seen.withoutReplication.contains(refusal) && seen.withoutReplication.contains("(SQLSTATE 42501)"), "\(seen.withoutReplication)")
            #expect(seen.withoutReplication.hasSuffix("\nHINT: the role needs the REPLICATION attribute: ALTER ROLE <name> REPLICATION"))
            #expect(!seen.withoutReplication.contains("plain-secret"))
        }
    }
}
