import Foundation
import PGBackupFoundations

/// A 5-field cron expression (minute hour day-of-month month day-of-week), in UTC. Fields take
/// `*`, numbers, ranges `a-b`, steps `*/n`, `a-b/n` or `a/n`, and lists of these; months and
/// days of the week also take names (`jan`, `mon`); day of week 0 and 7 are Sunday. As in cron,
/// when both day of month and day of week are restricted (neither starts with `*`), a day
/// matching either fires.
public struct CronExpression: Sendable, Hashable, CustomStringConvertible {
    let minutes: Set<Int>
    let hours: Set<Int>
    let daysOfMonth: Set<Int>
    let months: Set<Int>
    /// 0 = Sunday … 6 = Saturday.
    let daysOfWeek: Set<Int>
    let daysOfMonthRestricted: Bool
    let daysOfWeekRestricted: Bool
    public let description: String

    private struct Field {
        var name: String
        var range: ClosedRange<Int>
        var names: [String] = []  // names[i] stands for range.lowerBound + i
    }

    private static let allowed = "expected a cron expression of 5 fields in UTC, minute (0-59) hour (0-23) day-of-month (1-31) month (1-12 or jan-dec) day-of-week (0-7 or sun-sat, 0 and 7 are Sunday), each *, a number, a range a-b, a step */n or a-b/n, or a comma list of these (e.g. \"0 1 * * *\"), or `every <duration>` (e.g. every 6h)"

    init(parsing text: String) throws(InvalidSettingText) {
        let fields = text.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        guard fields.count == 5 else { throw InvalidSettingText(reason: Self.allowed) }
        let specs = [
            Field(name: "minute", range: 0...59),
            Field(name: "hour", range: 0...23),
            Field(name: "day of month", range: 1...31),
            Field(name: "month", range: 1...12, names: ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]),
            Field(name: "day of week", range: 0...7, names: ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]),
        ]
        var sets: [Set<Int>] = []
        for (text, spec) in zip(fields, specs) {
            sets.append(try Self.values(text, spec))
        }
        minutes = sets[0]
        hours = sets[1]
        daysOfMonth = sets[2]
        months = sets[3]
        daysOfWeek = Set(sets[4].map { $0 % 7 })
        daysOfMonthRestricted = !fields[2].hasPrefix("*")
        daysOfWeekRestricted = !fields[4].hasPrefix("*")
        description = fields.joined(separator: " ")
        // A day of month that no chosen month has (`0 0 30 feb *`) would never fire.
        if daysOfMonthRestricted, !daysOfWeekRestricted {
            let longest = months.map { [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][$0 - 1] }.max() ?? 0
            guard daysOfMonth.contains(where: { $0 <= longest }) else {
                throw InvalidSettingText(reason: "the day of month never occurs in the chosen months, so the schedule never fires; \(Self.allowed)")
            }
        }
    }

    private static func values(_ text: String, _ field: Field) throws(InvalidSettingText) -> Set<Int> {
        func refuse() -> InvalidSettingText {
            InvalidSettingText(reason: "'\(text)' is not a valid \(field.name) (\(field.range.lowerBound)-\(field.range.upperBound)\(field.names.isEmpty ? "" : " or \(field.names.first!)-\(field.names.last!)")); \(allowed)")
        }
        func number(_ part: Substring) throws(InvalidSettingText) -> Int {
            if let index = field.names.firstIndex(of: part.lowercased()) { return field.range.lowerBound + index }
            guard part.count <= 2, let value = Int(part), part.allSatisfy(\.isNumber), field.range.contains(value) else { throw refuse() }
            return value
        }
        var result = Set<Int>()
        for item in text.split(separator: ",", omittingEmptySubsequences: false) {
            let pieces = item.split(separator: "/", omittingEmptySubsequences: false)
            guard pieces.count <= 2 else { throw refuse() }
            var step = 1
            if pieces.count == 2 {
                guard pieces[1].count <= 2, let value = Int(pieces[1]), pieces[1].allSatisfy(\.isNumber), value > 0 else { throw refuse() }
                step = value
            }
            let base = pieces[0]
            let bounds: ClosedRange<Int>
            if base == "*" {
                bounds = field.range
            } else if let dash = base.firstIndex(of: "-") {
                let low = try number(base[..<dash]), high = try number(base[base.index(after: dash)...])
                guard low <= high else { throw refuse() }
                bounds = low...high
            } else {
                let value = try number(base)
                bounds = pieces.count == 2 ? value...field.range.upperBound : value...value  // `a/n`: from a to the end
            }
            result.formUnion(stride(from: bounds.lowerBound, through: bounds.upperBound, by: step))
        }
        return result
    }

    /// The first whole minute strictly after `date` that the expression matches.
    public func next(after date: Date) -> Date {
        var minute = Int((date.timeIntervalSince1970 / 60).rounded(.down)) + 1  // minutes since the epoch
        // Every day, month or hour that does not match is skipped whole; validation ensures a
        // match exists, and one exists within 28 years (the Gregorian calendar repeats its
        // weekdays and leap days); the bound only guards the loop.
        for _ in 0..<2_000_000 {
            let day = CivilDate.floorDivide(minute, 1440)
            let (year, month, dayOfMonth) = CivilDate.date(fromDays: day)
            if !months.contains(month) {
                minute = CivilDate.days(year: month == 12 ? year + 1 : year, month: month == 12 ? 1 : month + 1, day: 1) * 1440
                continue
            }
            if !matches(dayOfMonth: dayOfMonth, dayOfWeek: CivilDate.floorModulo(day + 4, 7)) {  // 1970-01-01 was a Thursday
                minute = (day + 1) * 1440
                continue
            }
            let minuteOfDay = minute - day * 1440
            if !hours.contains(minuteOfDay / 60) {
                minute = day * 1440 + (minuteOfDay / 60 + 1) * 60
                continue
            }
            if !minutes.contains(minuteOfDay % 60) {
                minute += 1
                continue
            }
            return Date(timeIntervalSince1970: TimeInterval(minute) * 60)
        }
        return .distantFuture
    }

    private func matches(dayOfMonth: Int, dayOfWeek: Int) -> Bool {
        let byMonth = daysOfMonth.contains(dayOfMonth), byWeek = daysOfWeek.contains(dayOfWeek)
        if daysOfMonthRestricted, daysOfWeekRestricted { return byMonth || byWeek }
        return byMonth && byWeek
    }
}
