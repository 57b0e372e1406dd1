import Foundation
import PGBackupFoundations

/// Where recovery stops (`recovery_target*`); `.latest` replays all the archived WAL.
public enum RestoreTarget: Sendable, Hashable, CustomStringConvertible {
    case latest
    /// The end of the backup: the first consistent point.
    case immediate
    case time(Date)
    case lsn(LSN)
    case xid(UInt64)
    case name(String)

    public var description: String {
        switch self {
        case .latest: "the end of the archived WAL"
        case .immediate: "the end of the backup (immediate)"
        case .time(let date): "time \(RestoreTime.format(date))"
        case .lsn(let lsn): "LSN \(lsn)"
        case .xid(let xid): "transaction \(xid)"
        case .name(let name): "restore point '\(name)'"
        }
    }
}

/// `--target-timeline`.
public enum RestoreTimeline: Sendable, Hashable, CustomStringConvertible {
    /// The newest timeline in the archive that descends from the backup's (PostgreSQL's default).
    case latest
    /// The backup's own timeline.
    case current
    case number(TimelineID)

    public init(parsing text: String) throws(RestoreRefusal) {
        switch text.lowercased() {
        case "latest": self = .latest
        case "current": self = .current
        default:
            guard let value = UInt32(text), value > 0 else {
                throw .invalidOption("--target-timeline must be latest, current or a timeline number, not '\(text)'")
            }
            self = .number(TimelineID(value))
        }
    }

    public var description: String {
        switch self {
        case .latest: "latest"
        case .current: "current"
        case .number(let timeline): "\(timeline.rawValue)"
        }
    }
}

/// `--target-action`: what the server does once it reaches the target.
public enum RestoreTargetAction: String, Sendable, Hashable, CaseIterable {
    case promote, pause, shutdown
}

/// Times as operators type them and PostgreSQL prints them.
public enum RestoreTime {
    /// Parses ISO 8601 (`2026-11-22T10:15:00Z`, `…+01:00`) or PostgreSQL's
    /// `YYYY-MM-DD HH:MM:SS[.ffffff][+TZ]` (`+00`, `+0100`, `+01:00`, `Z`). A time without a zone
    /// is refused: it would silently take some server's zone (DESIGN.md, "Time zones").
    public static func parse(_ text: String) throws(RestoreRefusal) -> Date {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let pattern = #"^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?\s*(Z|UTC|[+-]\d{2}(?::?\d{2})?)?$"#
        guard let regex = try? NSRegularExpression(pattern: pattern),
              let match = regex.firstMatch(in: trimmed, range: NSRange(trimmed.startIndex..., in: trimmed))
        else {
            throw .invalidOption("'\(text)' is not a time: use ISO 8601 or PostgreSQL's format, e.g. '2026-11-22 10:15:00+00'")
        }
        func group(_ index: Int) -> String? {
            Range(match.range(at: index), in: trimmed).map { String(trimmed[$0]) }
        }
        guard let zone = group(8) else {
            throw .invalidOption("the time '\(text)' has no time zone, which is ambiguous: add one, e.g. '\(trimmed)+00' for UTC")
        }
        var offset = 0
        if zone != "Z" && zone != "UTC" {
            let sign = zone.hasPrefix("-") ? -1 : 1
            let digits = zone.dropFirst().filter(\.isNumber)
            let hours = Int(digits.prefix(2)) ?? 0
            let minutes = digits.count > 2 ? Int(digits.dropFirst(2)) ?? 0 : 0
            offset = sign * (hours * 3600 + minutes * 60)
        }
        var components = DateComponents()
        components.calendar = Calendar(identifier: .gregorian)
        components.timeZone = TimeZone(secondsFromGMT: 0)
        components.year = Int(group(1)!)
        components.month = Int(group(2)!)
        components.day = Int(group(3)!)
        components.hour = Int(group(4)!)
        components.minute = Int(group(5)!)
        components.second = Int(group(6)!)
        guard components.isValidDate, let base = components.date else {
            throw .invalidOption("'\(text)' is not a valid date and time")
        }
        let fraction = group(7).flatMap { Double("0" + $0) } ?? 0
        return base.addingTimeInterval(fraction - TimeInterval(offset))
    }

    /// `2026-11-22 10:15:00.123456+00`: UTC, as PostgreSQL prints a timestamptz with TimeZone UTC,
    /// microseconds when there are any.
    public static func format(_ date: Date) -> String {
        let seconds = date.timeIntervalSince1970
        var whole = seconds.rounded(.down)
        var micros = Int(((seconds - whole) * 1_000_000).rounded())
        if micros == 1_000_000 {
            whole += 1
            micros = 0
        }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(secondsFromGMT: 0)
        formatter.dateFormat = "yyyy-MM-dd HH:mm:ss"
        let base = formatter.string(from: Date(timeIntervalSince1970: whole))
        return micros == 0 ? base + "+00" : base + String(format: ".%06d", micros) + "+00"
    }
}
