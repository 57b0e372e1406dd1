import Foundation

/// A retention and schedule policy (DESIGN.md, "Retention policies"), loaded from a YAML file of
/// `policies/` or a path, every value validated. A section left out is off.
public struct Policy: Sendable, Hashable {
    /// When the daemon takes backups and tests restores (used by the daemon in a later issue).
    public struct Schedule: Sendable, Hashable {
        public var backup: PolicySchedule?
        public var verifyRestore: PolicySchedule?
        public init(backup: PolicySchedule? = nil, verifyRestore: PolicySchedule? = nil) {
            self.backup = backup
            self.verifyRestore = verifyRestore
        }
    }

    /// What a restore test runs once the restored server is up.
    public struct Verification: Sendable, Hashable {
        /// An SQL file (absolute path).
        public var checkSQL: String?
        public init(checkSQL: String? = nil) { self.checkSQL = checkSQL }
    }

    /// When `check` and /health report a problem (used in a later issue).
    public struct Alerts: Sendable, Hashable {
        /// The newest complete backup is older than this (seconds).
        public var backupMaxAge: TimeInterval?
        /// WAL the server wrote has not reached the repository for this long (seconds).
        public var walMaxAge: TimeInterval?
        /// The primary holds more WAL than this for our slot (bytes).
        public var slotRetainedMax: Int64?
        /// The daemon drops its slot when it holds more than `slotRetainedMax` (the primary's
        /// disk before WAL continuity: a gap is recorded and a backup taken once possible).
        public var slotRetainedDrop: Bool?
        public init(backupMaxAge: TimeInterval? = nil, walMaxAge: TimeInterval? = nil, slotRetainedMax: Int64? = nil,
                    slotRetainedDrop: Bool? = nil) {
            self.backupMaxAge = backupMaxAge
            self.walMaxAge = walMaxAge
            self.slotRetainedMax = slotRetainedMax
            self.slotRetainedDrop = slotRetainedDrop
        }
    }

    /// The file it was loaded from.
    public var path: String
    public var schedule: Schedule?
    /// Nil: no `retention:` section, every backup is kept.
    public var retention: RetentionRules?
    public var verification: Verification?
    public var alerts: Alerts?

    public init(path: String, schedule: Schedule? = nil, retention: RetentionRules? = nil, verification: Verification? = nil, alerts: Alerts? = nil) {
        self.path = path
        self.schedule = schedule
        self.retention = retention
        self.verification = verification
        self.alerts = alerts
    }
}
