import Foundation

/// The `backup_label` file PostgreSQL puts at the root of a base backup, as far as pgbackup reads
/// it: the backup's start time by the server's clock.
///
/// PostgreSQL 15 writes `START TIME: 2026-11-22 10:15:00 UTC`: whole seconds, in the server's
/// `log_timezone`, with strftime's `%Z` — a zone *abbreviation*. Abbreviations are ambiguous
/// world-wide (`IST`, `CST`, `BST` each name several zones), so only the unambiguous ones are
/// read: `UTC`, `GMT`, `UCT`, `Z`, and numeric offsets (`+03`, `-0330`, `+05:30`, which the time
/// zone database uses for zones without an abbreviation). Any other zone leaves `startTime` nil.
public struct BackupLabel: Sendable, Hashable {
    /// START TIME, when its zone is unambiguous.
    public var startTime: Date?

    public init(parsing text: String) {
        startTime = nil
        for line in text.split(separator: "\n") where line.hasPrefix("START TIME: ") {
            startTime = Self.time(line.dropFirst("START TIME: ".count))
        }
    }

    /// `YYYY-MM-DD HH:MM:SS ZONE`, or nil.
    static func time(_ text: Substring) -> Date? {
        let parts = text.trimmingCharacters(in: .whitespaces).split(separator: " ")
        guard parts.count == 3, let offset = offsetSeconds(parts[2]) else { return nil }
        let date = parts[0].split(separator: "-").compactMap { Int($0) }
        let clock = parts[1].split(separator: ":").compactMap { Int($0) }
        guard date.count == 3, clock.count == 3 else { return nil }
        var components = DateComponents()
        components.calendar = Calendar(identifier: .gregorian)
        components.timeZone = TimeZone(secondsFromGMT: 0)
        (components.year, components.month, components.day) = (date[0], date[1], date[2])
        (components.hour, components.minute, components.second) = (clock[0], clock[1], clock[2])
        guard components.isValidDate, let utc = components.date else { return nil }
        return utc.addingTimeInterval(TimeInterval(-offset))
    }

    /// Seconds east of UTC for `UTC`, `GMT`, `UCT`, `Z`, `±HH`, `±HHMM`, `±HH:MM`; nil otherwise.
    static func offsetSeconds(_ zone: Substring) -> Int? {
        if ["UTC", "GMT", "UCT", "Z"].contains(zone) { return 0 }
        guard let sign = zone.first, sign == "+" || sign == "-" else { return nil }
        let digits = zone.dropFirst().replacingOccurrences(of: ":", with: "")
        guard digits.count == 2 || digits.count == 4, digits.allSatisfy(\.isASCII), let value = Int(digits) else { return nil }
        let (hours, minutes) = digits.count == 2 ? (value, 0) : (value / 100, value % 100)
        guard hours <= 15, minutes < 60 else { return nil }
        return (sign == "-" ? -1 : 1) * (hours * 3600 + minutes * 60)
    }
}
