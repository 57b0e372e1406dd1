import Foundation

/// What a policy's `retention:` section asks for (DESIGN.md, "Retention policies"). A nil rule is
/// off. No rule at all (no policy) keeps everything. Values are validated by the policy loader.
public struct RetentionRules: Sendable, Hashable, Codable {
    /// Which WAL stays.
    public enum WALRetention: String, Sendable, Hashable, Codable, CaseIterable {
        /// All WAL from the oldest kept backup on (standalone pins aside): PITR to any moment.
        case pitr
        /// Each kept backup's own WAL (start to stop segment) only: restorable to each backup's end.
        case consistency
    }

    /// The newest N complete backups.
    public var redundancy: Int?
    /// PITR to any moment of the last `recoveryWindow` seconds: every backup that ended inside
    /// the window, plus the newest one that ended before it.
    public var recoveryWindow: TimeInterval?
    /// GFS: the newest backup of each of the last N UTC days / ISO weeks / months / years that have one.
    public var keepDaily: Int?
    public var keepWeekly: Int?
    public var keepMonthly: Int?
    public var keepYearly: Int?
    /// A floor nothing goes below, whatever else says (also refuses a manual removal below it).
    public var minimumRedundancy: Int?
    public var wal: WALRetention

    public init(
        redundancy: Int? = nil, recoveryWindow: TimeInterval? = nil, keepDaily: Int? = nil, keepWeekly: Int? = nil,
        keepMonthly: Int? = nil, keepYearly: Int? = nil, minimumRedundancy: Int? = nil, wal: WALRetention = .pitr
    ) {
        self.redundancy = redundancy
        self.recoveryWindow = recoveryWindow
        self.keepDaily = keepDaily
        self.keepWeekly = keepWeekly
        self.keepMonthly = keepMonthly
        self.keepYearly = keepYearly
        self.minimumRedundancy = minimumRedundancy
        self.wal = wal
    }
}
