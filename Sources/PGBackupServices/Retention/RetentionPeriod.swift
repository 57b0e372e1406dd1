import Foundation
import PGBackupFoundations

/// The calendar periods GFS retention groups backups by, all in UTC.
enum RetentionPeriod: Sendable, CaseIterable {
    case day, isoWeek, month, year

    /// A number naming the period holding `date`: equal for two dates in the same period, and
    /// larger for later periods.
    func key(of date: Date) -> Int64 {
        let day = CivilDate.floorDivide(Int(date.timeIntervalSince1970.rounded(.down)), 86_400)
        switch self {
        case .day:
            return Int64(day)
        case .isoWeek:
            // 1970-01-01 was a Thursday: days + 3 counts from Monday 1969-12-29, so ISO weeks
            // (Monday to Sunday) are whole multiples of 7. A week spanning a new year is one
            // period, as ISO-8601 has it (2026-12-31 and 2027-01-03 both lie in 2026-W53).
            return Int64(CivilDate.floorDivide(day + 3, 7))
        case .month:
            let civil = CivilDate.date(fromDays: day)
            return Int64(civil.year) * 12 + Int64(civil.month - 1)
        case .year:
            return Int64(CivilDate.date(fromDays: day).year)
        }
    }
}
