import Foundation
import PGBackupFoundations
import PGBackupPostgres
import PGBackupRepository

extension WALStreamer {
    /// The session's slot as `pg_replication_slots` shows it, read on an ordinary connection to
    /// the session's server (a physical replication session runs no SQL). Nil when there is no
    /// such slot, or when that connection or the query fails (pg_hba.conf may allow only
    /// replication connections): then the server's refusal of `START_REPLICATION` (18+) tells
    /// of an invalidation. Blocking.
    func slotState(_ plan: SessionPlan) -> ReplicationSlotState? {
        do {
            let connection = try PostgresConnection(
                conninfo: plan.conninfo,
                overriding: PrimaryLocator.overrides(plan.server, conninfo: plan.conninfo, environment: plan.environment))
            defer { connection.close() }
            return try connection.replicationSlotState(plan.slot)
        } catch {
            logger.debug(
                "unable to read replication slot '\(plan.slot)' from pg_replication_slots on \(plan.server); an invalidation is found when streaming starts",
                metadata: ["error": "\(error)"])
            return nil
        }
    }

    /// Says loudly that the server invalidated the slot, and drops it (on the session's
    /// replication connection, which does not hold it): the caller creates it anew. Returns the
    /// record a gap carries. Blocking.
    ///
    /// - Throws: the refusal to drop it (`ReplicationError`, e.g. 55006 when another connection
    ///   streams from it); a slot already gone is no error.
    func replaceInvalidatedSlot(
        _ connection: PostgresConnection, plan: SessionPlan, _ invalidation: SlotInvalidation, inactiveSince: Date?
    ) throws -> WALGap.SlotInvalidationRecord {
        let record = WALGap.SlotInvalidationRecord(
            slot: plan.slot, reason: invalidation.reason, explanation: invalidation.explanation, inactiveSince: inactiveSince)
        logger.error(
            "\(record) on \(plan.server): it kept no WAL for the repository since; dropping and recreating it, then streaming from the repository's end — WAL the server removed meanwhile is recorded as a gap and a base backup follows. HINT: keep the daemon running, or raise \(invalidation.reason == "idle_timeout" ? "idle_replication_slot_timeout" : "max_slot_wal_keep_size") on the server",
            metadata: ["server": "\(plan.server)", "slot": "\(plan.slot)", "invalidation_reason": "\(invalidation.reason)"])
        do {
            try connection.dropReplicationSlot(plan.slot)
        } catch let error as ReplicationError where error.sqlState == "42704" {
            // Dropped meanwhile: created anew all the same.
        }
        live.withLock { $0.slotsRecreated += 1 }
        return record
    }
}
