import Foundation
import PGBackupFoundations

/// Why the server invalidated a replication slot: it keeps no WAL any more, and the WAL it kept
/// may be gone. PostgreSQL names the cause (`pg_replication_slots.invalidation_reason`, 17+):
/// `wal_removed` (the slot held more than `max_slot_wal_keep_size`), `idle_timeout` (18+: inactive
/// longer than `idle_replication_slot_timeout`), and, for logical slots only, `rows_removed` and
/// `wal_level_insufficient`.
///
/// How each major shows it:
/// - 15: only `wal_status = 'lost'` (and a NULL `restart_lsn`); a physical slot is invalidated
///   only by `max_slot_wal_keep_size`. `START_REPLICATION` still accepts the slot, and streaming
///   from it makes it keep WAL again.
/// - 16: `wal_status = 'lost'`; `conflicting` concerns logical slots only (NULL for physical).
///   `START_REPLICATION` accepts the slot but it stays invalidated: it never keeps WAL again.
/// - 17: `invalidation_reason` and `inactive_since`.
/// - 18: `idle_timeout`; `START_REPLICATION` refuses the slot with SQLSTATE 55000 "can no longer
///   access replication slot" and DETAIL "This replication slot has been invalidated due to
///   \"idle_timeout\"." (`READ_REPLICATION_SLOT` still shows the old restart LSN).
public struct SlotInvalidation: Hashable, Sendable, Codable, CustomStringConvertible {
    /// PostgreSQL's name of the cause, e.g. `idle_timeout`, `wal_removed`.
    public var reason: String

    public init(reason: String) { self.reason = reason }

    /// From `pg_replication_slots`: `invalidation_reason` where the server has it (17+), else
    /// `wal_status = 'lost'` (15, 16), which for a physical slot means `wal_removed`. Nil for a
    /// valid slot.
    public static func from(walStatus: String?, invalidationReason: String?) -> SlotInvalidation? {
        if let invalidationReason, !invalidationReason.isEmpty { return SlotInvalidation(reason: invalidationReason) }
        return walStatus == "lost" ? SlotInvalidation(reason: "wal_removed") : nil
    }

    /// From the server's refusal of `START_REPLICATION` on an invalidated slot (18+: SQLSTATE
    /// 55000, "can no longer access replication slot", the cause quoted in the DETAIL); nil for
    /// any other error.
    public static func from(_ report: ServerErrorReport) -> SlotInvalidation? {
        guard report.sqlState == "55000", report.message.contains("can no longer access replication slot") else { return nil }
        let detail = report.detail ?? ""
        if let open = detail.range(of: "due to \""), let close = detail[open.upperBound...].firstIndex(of: "\"") {
            return SlotInvalidation(reason: String(detail[open.upperBound..<close]))
        }
        return SlotInvalidation(reason: "unknown")
    }

    /// What made the server invalidate the slot, and the setting that did it.
    public var explanation: String {
        switch reason {
        case "idle_timeout": "it stayed inactive longer than idle_replication_slot_timeout"
        case "wal_removed": "the WAL it kept exceeded max_slot_wal_keep_size"
        case "rows_removed": "the rows it needed were removed (a logical slot)"
        case "wal_level_insufficient": "wal_level is below what it needs (a logical slot)"
        default: "for a reason this version of pgbackup does not know"
        }
    }

    /// `idle_timeout: it stayed inactive longer than idle_replication_slot_timeout`
    public var description: String { "\(reason): \(explanation)" }
}

/// What `pg_replication_slots` says of one slot (`PostgresConnection.replicationSlotState`).
public struct ReplicationSlotState: Hashable, Sendable {
    /// A connection streams from it now.
    public var active: Bool
    /// The oldest WAL it keeps; nil when it keeps none (never reserved, or invalidated on 15/16).
    public var restartLSN: LSN?
    /// `reserved`, `extended`, `unreserved` or `lost`; nil when it reserves no WAL.
    public var walStatus: String?
    /// Why the server invalidated it; nil while it is valid.
    public var invalidation: SlotInvalidation?
    /// Since when no connection uses it (17+; nil while active or on older servers).
    public var inactiveSince: Date?

    public init(active: Bool, restartLSN: LSN?, walStatus: String?, invalidation: SlotInvalidation?, inactiveSince: Date?) {
        self.active = active
        self.restartLSN = restartLSN
        self.walStatus = walStatus
        self.invalidation = invalidation
        self.inactiveSince = inactiveSince
    }
}

extension PostgresConnection {
    /// The slot's row of `pg_replication_slots`, or nil when no slot has that name. Needs an
    /// ordinary (or `replication=database`) connection: a physical replication session runs no
    /// SQL. Reads `invalidation_reason` and `inactive_since` where the server has them (17+).
    ///
    /// - Throws: `PostgresError.queryFailed` when the server refuses the query.
    public func replicationSlotState(_ name: String) throws -> ReplicationSlotState? {
        let newer = try serverVersion >= 170000
        let extra = newer ? "invalidation_reason, extract(epoch FROM inactive_since)::float8" : "NULL::text, NULL::float8"
        let rows = try simpleQuery(
            "SELECT active, restart_lsn, wal_status, \(extra) FROM pg_replication_slots WHERE slot_name = \(try escapeLiteral(name))")
        guard let row = rows.first else { return nil }
        guard row.count == 5 else {
            throw PostgresError.unexpectedResponse("pg_replication_slots returned \(row.count) columns, expected 5")
        }
        return ReplicationSlotState(
            active: row[0] == "t", restartLSN: row[1].flatMap { LSN($0) }, walStatus: row[2],
            invalidation: SlotInvalidation.from(walStatus: row[2], invalidationReason: row[3]),
            inactiveSince: row[4].flatMap(Double.init).map { Date(timeIntervalSince1970: $0) })
    }
}

extension ReplicationError {
    /// The invalidation the server gave as its reason to refuse a slot (`START_REPLICATION` on
    /// PostgreSQL 18+); nil for any other error.
    public var invalidatedSlot: SlotInvalidation? {
        if case let .commandFailed(_, report) = self { return SlotInvalidation.from(report) }
        return nil
    }
}
