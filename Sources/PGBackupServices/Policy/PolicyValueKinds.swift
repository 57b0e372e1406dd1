import Foundation

/// The kinds of a policy's values (DESIGN.md, "Retention policies"), parsed like every other
/// setting (`SettingKind`): the reason a text is refused says what is allowed.

/// A positive whole count (`keep_daily: 7`).
enum CountSetting: SettingKind {
    static func parse(_ text: String) throws(InvalidSettingText) -> Int {
        guard let count = Int(text), count > 0 else {
            throw InvalidSettingText(reason: "expected a whole number of at least 1 (leave the key out to turn the rule off)")
        }
        return count
    }
}

/// A positive duration: whole numbers with a unit, `s`, `m`, `h`, `d` or `w` (`7d`, `36h`,
/// `1h30m`), in seconds.
enum DurationSetting: SettingKind {
    static let allowed = "expected a duration: a whole number with a unit s, m, h, d or w (e.g. 30s, 5m, 26h, 7d, 1h30m), more than zero"
    static let units: [Character: TimeInterval] = ["s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800]

    static func parse(_ text: String) throws(InvalidSettingText) -> TimeInterval {
        var total: TimeInterval = 0
        var digits = ""
        var parts = 0
        for character in text {
            if character.isASCII, character.isNumber {
                digits.append(character)
            } else if let unit = units[character], let number = Int(digits), digits.count <= 9 {
                total += TimeInterval(number) * unit
                digits = ""
                parts += 1
            } else {
                throw InvalidSettingText(reason: allowed)
            }
        }
        guard digits.isEmpty, parts > 0, total > 0 else { throw InvalidSettingText(reason: allowed) }
        return total
    }
}

/// A size in bytes: a whole number with a unit. `kB`, `MB`, `GB`, `TB` are powers of 1024, as
/// in PostgreSQL's settings (`max_slot_wal_keep_size`); `KiB`, `MiB`, `GiB`, `TiB` the same; `B` bytes.
enum SizeSetting: SettingKind {
    static let allowed = "expected a size: a whole number with a unit B, kB, MB, GB, TB (powers of 1024, as in PostgreSQL) or KiB, MiB, GiB, TiB (e.g. 512MB, 2GiB), more than zero"
    static let units: [String: Int64] = [
        "B": 1, "kB": 1 << 10, "KB": 1 << 10, "KiB": 1 << 10, "MB": 1 << 20, "MiB": 1 << 20,
        "GB": 1 << 30, "GiB": 1 << 30, "TB": 1 << 40, "TiB": 1 << 40,
    ]

    static func parse(_ text: String) throws(InvalidSettingText) -> Int64 {
        let digits = text.prefix { $0.isASCII && $0.isNumber }
        guard !digits.isEmpty, digits.count <= 9, let number = Int64(digits), number > 0,
              let unit = units[String(text.dropFirst(digits.count))]
        else { throw InvalidSettingText(reason: allowed) }
        let (bytes, overflow) = number.multipliedReportingOverflow(by: unit)
        guard !overflow else { throw InvalidSettingText(reason: allowed) }
        return bytes
    }
}

/// `pitr` or `consistency`.
enum WALRetentionSetting: SettingKind {
    static func parse(_ text: String) throws(InvalidSettingText) -> RetentionRules.WALRetention {
        guard let value = RetentionRules.WALRetention(rawValue: text) else {
            throw InvalidSettingText(reason: "expected pitr (all WAL from the oldest kept backup on: PITR to any moment) or consistency (each kept backup's own WAL only)")
        }
        return value
    }
}

/// A schedule: a 5-field cron expression in UTC or `every <duration>`.
enum ScheduleSetting: SettingKind {
    static func parse(_ text: String) throws(InvalidSettingText) -> PolicySchedule {
        try PolicySchedule(parsing: text)
    }
}
