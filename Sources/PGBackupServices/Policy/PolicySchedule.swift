import Foundation

/// When a scheduled task runs: a 5-field cron expression in UTC, or `every <duration>`.
public enum PolicySchedule: Sendable, Hashable, CustomStringConvertible {
    case cron(CronExpression)
    /// Every so many seconds, at the multiples of the interval since the Unix epoch (`every 6h`
    /// fires at 00:00, 06:00, 12:00 and 18:00 UTC), so a restart does not shift the schedule.
    case every(TimeInterval)

    /// Parses `0 1 * * *` or `every 6h`; the error says what is allowed.
    init(parsing text: String) throws(InvalidSettingText) {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if trimmed.hasPrefix("every ") {
            do {
                self = .every(try DurationSetting.parse(String(trimmed.dropFirst("every ".count)).trimmingCharacters(in: .whitespaces)))
            } catch {
                throw InvalidSettingText(reason: "expected `every <duration>` with a duration such as 30s, 5m, 6h, 1d: \(error.reason)")
            }
        } else {
            self = .cron(try CronExpression(parsing: trimmed))
        }
    }

    /// The first time strictly after `date` at which the schedule fires.
    public func next(after date: Date) -> Date {
        switch self {
        case let .cron(expression):
            return expression.next(after: date)
        case let .every(interval):
            let seconds = date.timeIntervalSince1970
            return Date(timeIntervalSince1970: ((seconds / interval).rounded(.down) + 1) * interval)
        }
    }

    public var description: String {
        switch self {
        case let .cron(expression): expression.description
        case let .every(interval): "every \(Int(interval))s"
        }
    }
}
