/// Dates of the proleptic Gregorian calendar in UTC as whole days since 1970-01-01, by Howard
/// Hinnant's civil-date algorithms: pure integer arithmetic, so backup ids, cron schedules and
/// S3's dates never depend on a `Calendar` or the process's time zone.
public enum CivilDate {
    /// Days since 1970-01-01 of `year`-`month`-`day` (negative before it). `month` is 1...12.
    public static func days(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = floorDivide(y, 400)
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// The date `days` days after 1970-01-01.
    public static func date(fromDays days: Int) -> (year: Int, month: Int, day: Int) {
        let z = days + 719_468
        let era = floorDivide(z, 146_097)
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    /// How many days `month` (1...12) of `year` has.
    public static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// `a / b` rounded towards minus infinity (`b > 0`).
    public static func floorDivide(_ a: Int, _ b: Int) -> Int { (a - floorModulo(a, b)) / b }
    /// The remainder of `floorDivide`, always in `0..<b`.
    public static func floorModulo(_ a: Int, _ b: Int) -> Int { ((a % b) + b) % b }
}
