import Foundation

/// PostgreSQL's wire timestamps: signed microseconds since 2000-01-01 00:00:00 UTC (the epoch of
/// `timestamptz` with integer datetimes, which every supported server uses). The replication
/// protocol carries them in XLogData, keepalive and standby status messages.
public enum PostgresTimestamp {
    /// 2000-01-01 00:00:00 UTC, in seconds after Foundation's reference date (2001-01-01): the
    /// 366 days of the leap year 2000, backwards.
    static let epochFromReferenceDate: TimeInterval = -366 * 86_400

    /// The moment `microseconds` after 2000-01-01 UTC.
    public static func date(fromMicroseconds microseconds: Int64) -> Date {
        // Whole seconds and the remainder separately, so that large values keep their
        // microseconds through the Double arithmetic.
        let seconds = microseconds / 1_000_000
        let remainder = microseconds % 1_000_000
        return Date(timeIntervalSinceReferenceDate:
            epochFromReferenceDate + TimeInterval(seconds) + TimeInterval(remainder) / 1_000_000)
    }

    /// Microseconds from 2000-01-01 UTC to `date`, rounded to the nearest; dates beyond what an
    /// Int64 holds (±292,000 years) clamp to its limits.
    public static func microseconds(from date: Date) -> Int64 {
        let value = ((date.timeIntervalSinceReferenceDate - epochFromReferenceDate) * 1_000_000).rounded()
        if value.isNaN { return 0 }
        if value >= 9.2e18 { return .max }
        if value <= -9.2e18 { return .min }
        return Int64(value)
    }
}
