import PGBackupFoundations

/// What `READ_REPLICATION_SLOT` says about a slot.
public struct ReplicationSlotInfo: Hashable, Sendable {
    /// `physical` (PostgreSQL 15 refuses the command for a logical slot).
    public var slotType: String
    /// The oldest WAL the slot keeps; nil when it keeps none yet (created without RESERVE_WAL
    /// and never streamed from).
    public var restartLSN: LSN?
    /// The timeline of `restartLSN`; nil with it.
    public var restartTimeline: TimelineID?

    public init(slotType: String, restartLSN: LSN?, restartTimeline: TimelineID?) {
        self.slotType = slotType
        self.restartLSN = restartLSN
        self.restartTimeline = restartTimeline
    }

    /// `restartLSN` with its timeline; nil when the slot keeps no WAL.
    public var restart: (lsn: LSN, timeline: TimelineID?)? { restartLSN.map { ($0, restartTimeline) } }
}

/// What `createPhysicalReplicationSlot` did.
public enum ReplicationSlotCreation: Hashable, Sendable {
    case created
    /// A slot of that name was already there (SQLSTATE 42710), untouched: it may be logical, or
    /// reserve no WAL; `readReplicationSlot` tells.
    case alreadyExists
}

/// Slot names go into replication commands unquoted: PostgreSQL allows lower-case letters,
/// digits and underscores, up to NAMEDATALEN - 1 = 63 bytes (`ReplicationSlotValidateName`).
func validateSlotName(_ name: String) throws(ReplicationError) {
    let valid = (1...63).contains(name.utf8.count)
        && name.utf8.allSatisfy { (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || $0 == UInt8(ascii: "_") }
    guard valid else { throw .invalidSlotName(name) }
}
