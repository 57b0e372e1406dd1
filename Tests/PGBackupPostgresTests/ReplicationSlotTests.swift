import Foundation
import PGBackupFoundations
import PGBackupPostgres
import PGBackupTestSupport
import Testing

@Suite("Replication slot and timeline commands against a real server")
struct ReplicationSlotTests {
    @Test func createReadAndDropAPhysicalSlot() async throws {
        try await withPostgresCluster(.init(name: "slots")) { cluster in
            let connection = try PostgresConnection(conninfo: cluster.conninfo(replication: true), replication: .physical)
            #expect(try connection.readReplicationSlot("missing") == nil)

            #expect(try connection.createPhysicalReplicationSlot("archiver") == .created)
            let info = try #require(try connection.readReplicationSlot("archiver"))
            let (type, restartLSN) = try #require(
                try await cluster.rows("SELECT slot_type, restart_lsn FROM pg_replication_slots WHERE slot_name = 'archiver'").first
                    .map { ($0[0], LSN($0[1])) })
            #expect(info.slotType == type)
            #expect(info.slotType == "physical")
            #expect(info.restartLSN != nil)
            #expect(info.restartLSN == restartLSN)
            #expect(info.restartTimeline == TimelineID(1))

            // A second create leaves the first slot alone and says so.
            #expect(try connection.createPhysicalReplicationSlot("archiver") == .alreadyExists)
            #expect(try connection.readReplicationSlot("archiver") == info)

            // Without RESERVE_WAL the slot keeps nothing until first used.
            #expect(try connection.createPhysicalReplicationSlot("lazy", reserveWAL: false) == .created)
            #expect(try connection.readReplicationSlot("lazy") == ReplicationSlotInfo(slotType: "physical", restartLSN: nil, restartTimeline: nil))

            try connection.dropReplicationSlot("archiver")
            try connection.dropReplicationSlot("lazy")
            #expect(try connection.readReplicationSlot("archiver") == nil)
            #expect(try await cluster.sql("SELECT count(*) FROM pg_replication_slots") == "0")

            // Dropping a missing slot: the server's refusal, with its SQLSTATE and our hint.
            let error = try #require(throws: ReplicationError.self) { try connection.dropReplicationSlot("archiver") }
            #expect(error.sqlState == "42704")
            #expect(error.description.hasPrefix("unable to drop replication slot 'archiver': replication slot \"archiver\" does not exist"))
            #expect(error.description.contains("HINT: the replication slot does not exist"))
            // The connection is still usable after a refusal.
            #expect(try connection.identifySystem().timeline == TimelineID(1))
        }
    }

    @Test func invalidSlotNamesNeverReachTheServer() async throws {
        try await withPostgresCluster(.init(name: "slotnames")) { cluster in
            let connection = try PostgresConnection(conninfo: cluster.conninfo(replication: true), replication: .physical)
            for name in ["Upper", "x; DROP_REPLICATION_SLOT y", "", String(repeating: "a", count: 64)] {
                #expect(throws: ReplicationError.self) { try connection.createPhysicalReplicationSlot(name) }
                #expect(throws: ReplicationError.self) { try connection.readReplicationSlot(name) }
                #expect(throws: ReplicationError.self) { try connection.dropReplicationSlot(name) }
            }
            #expect(try await cluster.sql("SELECT count(*) FROM pg_replication_slots") == "0")
        }
    }

    @Test func timelineOneHasNoHistory() async throws {
        try await withPostgresCluster(.init(name: "history1")) { cluster in
            let connection = try PostgresConnection(conninfo: cluster.conninfo(replication: true), replication: .physical)
            let error = try #require(throws: ReplicationError.self) { try connection.timelineHistory(TimelineID(1)) }
            #expect(error.sqlState == "58P01")
            #expect(error.description.contains("HINT: the server has no history file for that timeline"))
        }
    }
}
