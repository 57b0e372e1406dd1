import Foundation
import Yams

/// A policy file as Yams decodes it; every key is declared once here (`CodingKeys`) and checked
/// the way the configuration file's are (`ConfigurationFile.check`): unknown keys are refused
/// at every level with the allowed ones, and a value its kind refuses names its key.
struct PolicyFile: Decodable {
    var schedule: ScheduleSection?
    var retention: RetentionSection?
    var verification: VerificationSection?
    var alerts: AlertsSection?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case schedule, retention, verification, alerts
    }

    struct ScheduleSection: Decodable {
        var backup: FileValue<ScheduleSetting>?
        var verifyRestore: FileValue<ScheduleSetting>?
        enum CodingKeys: String, CodingKey, CaseIterable {
            case backup
            case verifyRestore = "verify_restore"
        }
    }

    struct RetentionSection: Decodable {
        var redundancy: FileValue<CountSetting>?
        var recoveryWindow: FileValue<DurationSetting>?
        var keepDaily: FileValue<CountSetting>?
        var keepWeekly: FileValue<CountSetting>?
        var keepMonthly: FileValue<CountSetting>?
        var keepYearly: FileValue<CountSetting>?
        var minimumRedundancy: FileValue<CountSetting>?
        var wal: FileValue<WALRetentionSetting>?
        enum CodingKeys: String, CodingKey, CaseIterable {
            case redundancy
            case recoveryWindow = "recovery_window"
            case keepDaily = "keep_daily", keepWeekly = "keep_weekly", keepMonthly = "keep_monthly", keepYearly = "keep_yearly"
            case minimumRedundancy = "minimum_redundancy"
            case wal
        }
    }

    struct VerificationSection: Decodable {
        var checkSQL: FileValue<AbsolutePathSetting>?
        enum CodingKeys: String, CodingKey, CaseIterable {
            case checkSQL = "check_sql"
        }
    }

    struct AlertsSection: Decodable {
        var backupMaxAge: FileValue<DurationSetting>?
        var walMaxAge: FileValue<DurationSetting>?
        var slotRetainedMax: FileValue<SizeSetting>?
        var slotRetainedDrop: FileValue<FlagSetting>?
        enum CodingKeys: String, CodingKey, CaseIterable {
            case backupMaxAge = "backup_max_age", walMaxAge = "wal_max_age", slotRetainedMax = "slot_retained_max"
            case slotRetainedDrop = "slot_retained_drop"
        }
    }

    /// The keys each section allows.
    static let sectionKeys: [CodingKeys: [String]] = [
        .schedule: ScheduleSection.CodingKeys.allCases.map(\.rawValue),
        .retention: RetentionSection.CodingKeys.allCases.map(\.rawValue),
        .verification: VerificationSection.CodingKeys.allCases.map(\.rawValue),
        .alerts: AlertsSection.CodingKeys.allCases.map(\.rawValue),
    ]

    /// The rules that keep backups (`minimum_redundancy` and `wal` only qualify them).
    static let keepingRules: [RetentionSection.CodingKeys] = [.redundancy, .recoveryWindow, .keepDaily, .keepWeekly, .keepMonthly, .keepYearly]

    /// Decodes and validates a policy file's text.
    static func policy(yaml: String, path: String) throws(ConfigurationError) -> Policy {
        guard let document = try ConfigurationFile.compose(yaml, path: path) else { return Policy(path: path) }  // empty: keeps everything
        let root = try ConfigurationFile.mapping(document, at: "the top level", path: path)
        try ConfigurationFile.check(root, allowed: CodingKeys.allCases.map(\.rawValue), sections: CodingKeys.allCases.map(\.rawValue), prefix: "", path: path)
        for section in CodingKeys.allCases {
            guard let node = root[section.rawValue] else { continue }
            let mapping = try ConfigurationFile.mapping(node, at: section.rawValue, path: path)
            try ConfigurationFile.check(mapping, allowed: sectionKeys[section] ?? [], sections: [], prefix: "\(section.rawValue).", path: path)
            if section == .retention, !keepingRules.contains(where: { mapping[$0.rawValue] != nil }) {
                throw .invalidShape(
                    setting: "retention in \(path)",
                    reason: "sets no rule that keeps backups; set at least one of \(keepingRules.map(\.rawValue).joined(separator: ", ")), or leave `retention:` out to keep every backup")
            }
        }
        let file = try ConfigurationFile.decode(PolicyFile.self, from: document, path: path)
        return Policy(
            path: path,
            schedule: file.schedule.map { .init(backup: $0.backup?.value, verifyRestore: $0.verifyRestore?.value) },
            retention: file.retention.map {
                RetentionRules(
                    redundancy: $0.redundancy?.value, recoveryWindow: $0.recoveryWindow?.value,
                    keepDaily: $0.keepDaily?.value, keepWeekly: $0.keepWeekly?.value, keepMonthly: $0.keepMonthly?.value, keepYearly: $0.keepYearly?.value,
                    minimumRedundancy: $0.minimumRedundancy?.value, wal: $0.wal?.value ?? .pitr)
            },
            verification: file.verification.map { .init(checkSQL: $0.checkSQL?.value) },
            alerts: file.alerts.map { .init(backupMaxAge: $0.backupMaxAge?.value, walMaxAge: $0.walMaxAge?.value, slotRetainedMax: $0.slotRetainedMax?.value,
                    slotRetainedDrop: $0.slotRetainedDrop?.value) })
    }
}
