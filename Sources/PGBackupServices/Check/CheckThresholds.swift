import Foundation

/// The limits `check` compares against: the policy's `alerts`, each left out replaced by its
/// default (the same as policies/default.yaml): backup_max_age 26h, wal_max_age 5m,
/// slot_retained_max 2GiB.
public struct CheckThresholds: Sendable, Hashable {
    public static let defaultBackupMaxAge: TimeInterval = 26 * 3600
    public static let defaultWALMaxAge: TimeInterval = 5 * 60
    public static let defaultSlotRetainedMax: Int64 = 2 << 30

    public var backupMaxAge: TimeInterval
    public var walMaxAge: TimeInterval
    public var slotRetainedMax: Int64
    /// The fewest complete backups that is healthy: the policy's `retention.minimum_redundancy`, else 1.
    public var minimumBackups: Int

    public init(
        backupMaxAge: TimeInterval = defaultBackupMaxAge, walMaxAge: TimeInterval = defaultWALMaxAge,
        slotRetainedMax: Int64 = defaultSlotRetainedMax, minimumBackups: Int = 1
    ) {
        self.backupMaxAge = backupMaxAge
        self.walMaxAge = walMaxAge
        self.slotRetainedMax = slotRetainedMax
        self.minimumBackups = minimumBackups
    }

    /// The policy's alerts and minimum redundancy, defaults for what it leaves out (or no policy).
    public init(policy: Policy?) {
        let alerts = policy?.alerts
        self.init(
            backupMaxAge: alerts?.backupMaxAge ?? Self.defaultBackupMaxAge,
            walMaxAge: alerts?.walMaxAge ?? Self.defaultWALMaxAge,
            slotRetainedMax: alerts?.slotRetainedMax ?? Self.defaultSlotRetainedMax,
            minimumBackups: max(policy?.retention?.minimumRedundancy ?? 1, 1))
    }
}
