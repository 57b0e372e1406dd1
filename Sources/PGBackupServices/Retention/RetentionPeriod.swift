import Foundation

/// The calendar periods GFS retention groups backups by, all in UTC.
enum RetentionPeriod: Sendable, CaseIterable {
    case day, isoWeek, month, year

    /// A number naming the period holding `date`: equal for two dates in the same period, and
    /// larger for later periods.
    func key(of date: Date) -> Int64 {
        let seconds = Int64(date.timeIntervalSince1970.rounded(.down))
        let day = Self.floorDivide(seconds, 86_400)
        switch self {
        case .day:
            return day
        case .isoWeek:
            // 1970-01-01 was a Thursday: days + 3 counts from Monday 1969-12-29, so ISO weeks
            // (Monday to Sunday) are whole multiples of 7. A week spanning a new year is one
            // period, as ISO-8601 has it (2026-12-31 and 2027-01-03 both lie in 2026-W53).
            return Self.floorDivide(day + 3, 7)
        case .month:
            let parts = Self.utc.dateComponents([.year, .month], from: date)
            return Int64(parts.year!) * 12 + Int64(parts.month! - 1)
        case .year:
            return Int64(Self.utc.component(.year, from: date))
        }
    }

    private static let utc: Calendar = {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        return calendar
    }()

    private static func floorDivide(_ value: Int64, _ divisor: Int64) -> Int64 {
        value >= 0 ? value / divisor : (value - divisor + 1) / divisor
    }
}
