import Foundation
import Testing
@testable import PGBackupServices

/// `CronExpression.next(after:)` against a slow, obvious search through Foundation's calendar,
/// for random expressions and times (issue #11).
@Suite("policy: cron next-fire against a brute-force search")
struct CronCrossCheckTests {
    /// A small deterministic generator (SplitMix64), so a failure names a reproducible seed.
    struct SplitMix: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    /// One random field: `*`, a value, a range, a step or a list of these.
    static func field(_ range: ClosedRange<Int>, _ random: inout SplitMix) -> String {
        func item() -> String {
            let a = Int.random(in: range, using: &random), b = Int.random(in: range, using: &random)
            switch Int.random(in: 0..<5, using: &random) {
            case 0: return "*"
            case 1: return "\(a)"
            case 2: return "\(min(a, b))-\(max(a, b))"
            case 3: return "*/\(Int.random(in: 1...max(1, range.count / 2), using: &random))"
            default: return "\(min(a, b))-\(max(a, b))/\(Int.random(in: 1...4, using: &random))"
            }
        }
        return (0..<Int.random(in: 1...3, using: &random)).map { _ in item() }.joined(separator: ",")
    }

    /// The first matching minute after `date` within `days`, by testing minutes one by one
    /// (whole days and hours skipped only when the calendar says they cannot match).
    static func bruteForce(_ fields: [String], after date: Date, days: Int) throws -> Date? {
        func set(_ text: String, _ range: ClosedRange<Int>) -> Set<Int> {
            var values = Set<Int>()
            for item in text.split(separator: ",") {
                let parts = item.split(separator: "/")
                let step = parts.count == 2 ? Int(parts[1])! : 1
                let bounds: ClosedRange<Int>
                if parts[0] == "*" { bounds = range } else if parts[0].contains("-") {
                    let ends = parts[0].split(separator: "-").map { Int($0)! }
                    bounds = ends[0]...ends[1]
                } else { bounds = Int(parts[0])!...Int(parts[0])! }
                values.formUnion(stride(from: bounds.lowerBound, through: bounds.upperBound, by: step))
            }
            return values
        }
        let minutes = set(fields[0], 0...59), hours = set(fields[1], 0...23), daysOfMonth = set(fields[2], 1...31)
        let months = set(fields[3], 1...12), weekdays = Set(set(fields[4], 0...7).map { $0 % 7 })
        let either = !fields[2].hasPrefix("*") && !fields[4].hasPrefix("*")
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        var day = calendar.startOfDay(for: date)
        for _ in 0...days {
            let parts = calendar.dateComponents([.month, .day, .weekday], from: day)
            let byMonth = daysOfMonth.contains(parts.day!), byWeek = weekdays.contains(parts.weekday! - 1)
            if months.contains(parts.month!), either ? (byMonth || byWeek) : (byMonth && byWeek) {
                for hour in hours.sorted() {
                    for minute in minutes.sorted() {
                        let candidate = day.addingTimeInterval(TimeInterval(hour * 3600 + minute * 60))
                        if candidate > date { return candidate }
                    }
                }
            }
            day = calendar.date(byAdding: .day, value: 1, to: day)!
        }
        return nil
    }

    @Test(arguments: [1, 2, 3, 4])
    func nextAgreesWithABruteForceSearch(seed: UInt64) throws {
        var random = SplitMix(state: seed)
        var compared = 0
        for _ in 0..<150 {
            let fields = [
                Self.field(0...59, &random), Self.field(0...23, &random), Self.field(1...31, &random),
                Self.field(1...12, &random), Self.field(0...7, &random),
            ]
            let text = fields.joined(separator: " ")
            guard case let .cron(expression)? = try? PolicySchedule(parsing: text) else { continue }  // never fires
            // Any second from 1990 to 2060, often right on a minute.
            var seconds = Double(Int.random(in: 631_152_000...2_840_140_800, using: &random))
            if Bool.random(using: &random) { seconds = (seconds / 60).rounded(.down) * 60 }
            let after = Date(timeIntervalSince1970: seconds)
            guard let expected = try Self.bruteForce(fields, after: after, days: 3 * 366) else { continue }
            #expect(expression.next(after: after) == expected, "seed \(seed): '\(text)' after \(after)")
            compared += 1
        }
        #expect(compared > 100, "seed \(seed): only \(compared) expressions compared")
    }
}
