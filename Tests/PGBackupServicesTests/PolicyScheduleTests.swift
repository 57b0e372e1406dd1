import Foundation
import Testing
@testable import PGBackupServices

/// Schedules of a policy: cron expressions in UTC and `every <duration>` (issue #11).
@Suite("policy: schedules")
struct PolicyScheduleTests {
    /// `2026-11-30T12:17:50Z` and the like, in UTC.
    static func utc(_ text: String) -> Date {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.date(from: text)!
    }

    func next(_ schedule: String, after: String) throws -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: try PolicySchedule(parsing: schedule).next(after: Self.utc(after)))
    }

    @Test(arguments: [
        // daily at 01:00: later today, or tomorrow once past
        ("0 1 * * *", "2026-11-30T00:59:59Z", "2026-11-30T01:00:00Z"),
        ("0 1 * * *", "2026-11-30T01:00:00Z", "2026-12-01T01:00:00Z"),
        // month and year rollover
        ("0 1 * * *", "2026-12-31T01:00:00Z", "2027-01-01T01:00:00Z"),
        ("30 23 31 * *", "2026-11-01T00:00:00Z", "2026-12-31T23:30:00Z"),  // November has no 31st
        ("0 0 1 jan *", "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z"),
        // leap day: the next 29 February
        ("0 12 29 2 *", "2026-03-01T00:00:00Z", "2028-02-29T12:00:00Z"),
        // steps, ranges, lists
        ("*/15 * * * *", "2026-11-30T12:17:50Z", "2026-11-30T12:30:00Z"),
        ("5,35 9-17/4 * * *", "2026-11-30T13:36:00Z", "2026-11-30T17:05:00Z"),
        ("10/20 * * * *", "2026-11-30T12:31:00Z", "2026-11-30T12:50:00Z"),
        // day of week: names, 7 is Sunday (2026-11-30 is a Monday)
        ("0 3 * * sun", "2026-11-30T12:00:00Z", "2026-12-06T03:00:00Z"),
        ("0 3 * * 7", "2026-11-30T12:00:00Z", "2026-12-06T03:00:00Z"),
        ("0 3 * * mon-fri", "2026-12-04T04:00:00Z", "2026-12-07T03:00:00Z"),
        // both day fields restricted: either matches (cron's OR): the 13th or a Friday
        ("0 0 13 * fri", "2026-11-30T00:00:00Z", "2026-12-04T00:00:00Z"),
        ("0 0 13 * fri", "2026-12-11T00:00:00Z", "2026-12-13T00:00:00Z"),
        // one of them `*`-led: both must match (Friday the 13th only)
        ("0 0 */1 * fri", "2026-12-04T00:00:00Z", "2026-12-11T00:00:00Z"),
        ("0 0 13 * *", "2026-11-30T00:00:00Z", "2026-12-13T00:00:00Z"),
        // every: on the multiples of the interval since the epoch
        ("every 30s", "2026-11-30T12:00:10Z", "2026-11-30T12:00:30Z"),
        ("every 30s", "2026-11-30T12:00:30Z", "2026-11-30T12:01:00Z"),
        ("every 6h", "2026-11-30T12:17:50Z", "2026-11-30T18:00:00Z"),
        ("every 1d", "2026-11-30T12:17:50Z", "2026-12-01T00:00:00Z"),
    ])
    func nextFire(schedule: String, after: String, expected: String) throws {
        #expect(try next(schedule, after: after) == expected)
    }

    @Test func cronNextIsStrictlyLaterAndMatchesAcrossAYear() throws {
        // Every fire of a busy expression over a year: strictly increasing, each a match.
        let schedule = try PolicySchedule(parsing: "7 */5 1,15 * mon")
        guard case let .cron(expression) = schedule else { Issue.record("not cron"); return }
        var date = Self.utc("2026-01-01T00:00:00Z")
        var fires = 0
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        while date < Self.utc("2027-01-01T00:00:00Z") {
            let fire = expression.next(after: date)
            #expect(fire > date)
            let parts = calendar.dateComponents([.minute, .hour, .day, .weekday], from: fire)
            #expect(parts.minute == 7 && parts.hour! % 5 == 0)
            #expect(parts.day == 1 || parts.day == 15 || parts.weekday == 2)
            date = fire
            fires += 1
        }
        // 5 hours a day (0, 5, 10, 15, 20) on the days of 2026 that are a Monday or a 1st/15th
        // (counted by Foundation's calendar), plus the first fire of 2027.
        var days = 0
        var day = Self.utc("2026-01-01T00:00:00Z")
        while day < Self.utc("2027-01-01T00:00:00Z") {
            let parts = calendar.dateComponents([.day, .weekday], from: day)
            if parts.day == 1 || parts.day == 15 || parts.weekday == 2 { days += 1 }
            day = calendar.date(byAdding: .day, value: 1, to: day)!
        }
        #expect(days > 52 + 24 - 12)
        #expect(fires == 5 * days + 1)
    }

    @Test(arguments: [
        "0 1 * *", "0 1 * * * *", "60 * * * *", "* 24 * * *", "* * 0 * *", "* * 32 * *", "* * * 13 *",
        "* * * * 8", "*/0 * * * *", "5-1 * * * *", "a * * * *", "1,,2 * * * *", "* * * foo *", "1- * * * *",
        "0 0 30 feb *", "0 0 31 4,6,9,11 *", "every", "every 7 parsecs", "every 0s", "every -5m", "daily",
    ])
    func badSchedulesAreRefused(text: String) {
        #expect(throws: InvalidSettingText.self) { try PolicySchedule(parsing: text) }
    }

    @Test func aBadCronSaysWhatIsAllowed() {
        #expect {
            try PolicySchedule(parsing: "61 1 * * *")
        } throws: { error in
            let reason = (error as! InvalidSettingText).reason
            return reason.contains("'61' is not a valid minute (0-59)") && reason.contains("every <duration>")
        }
    }
}
