import Foundation
import PGBackupFoundations

/// A backup's identity: the UTC second it was started, written `20261122T101500Z` (ISO 8601
/// basic format). Ids of one server are unique, and sort by time both as values and as text,
/// so a listing of `backups/` is already in time order.
///
/// Two backups started within the same second get consecutive seconds: `allocate(at:taken:)`
/// moves forward to the first free second (the backup lock keeps two writers of one server
/// from racing for it).
public struct BackupID: Hashable, Comparable, Sendable, JSONTextValue, LosslessStringConvertible {
    /// Seconds since 1970-01-01T00:00:00Z.
    public let secondsSinceEpoch: Int64

    /// The backup id of the second holding `date` (fractions are dropped).
    public init(date: Date) {
        secondsSinceEpoch = Int64(date.timeIntervalSince1970.rounded(.down))
    }

    /// Parses `YYYYMMDDTHHMMSSZ` (years 1970…9999, a real calendar date and time of day).
    public init(parsing text: some StringProtocol) throws(BackupIDError) {
        let bytes = Array(text.utf8)
        guard bytes.count == 16, bytes[8] == UInt8(ascii: "T"), bytes[15] == UInt8(ascii: "Z") else {
            throw BackupIDError(text: String(text))
        }
        func number(_ range: Range<Int>) throws(BackupIDError) -> Int64 {
            var value: Int64 = 0
            for byte in bytes[range] {
                guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { throw BackupIDError(text: String(text)) }
                value = value * 10 + Int64(byte - UInt8(ascii: "0"))
            }
            return value
        }
        let (year, month, day) = (try number(0..<4), try number(4..<6), try number(6..<8))
        let (hour, minute, second) = (try number(9..<11), try number(11..<13), try number(13..<15))
        guard year >= 1970, (1...12).contains(month), day >= 1, day <= CivilDate.daysIn(month: Int(month), year: Int(year)),
              hour < 24, minute < 60, second < 60 else {
            throw BackupIDError(text: String(text))
        }
        let days = Int64(CivilDate.days(year: Int(year), month: Int(month), day: Int(day)))
        secondsSinceEpoch = days * 86_400 + hour * 3_600 + minute * 60 + second
    }

    public init?(_ description: String) {
        try? self.init(parsing: description)
    }

    /// The start of the second the id names.
    public var date: Date { Date(timeIntervalSince1970: TimeInterval(secondsSinceEpoch)) }

    /// `20261122T101500Z`
    public var description: String {
        let days = secondsSinceEpoch >= 0 ? secondsSinceEpoch / 86_400 : (secondsSinceEpoch - 86_399) / 86_400
        let rest = secondsSinceEpoch - days * 86_400
        let civil = CivilDate.date(fromDays: Int(days))
        let (year, month, day) = (Int64(civil.year), Int64(civil.month), Int64(civil.day))
        func pad(_ value: Int64, _ width: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        return pad(year, 4) + pad(month, 2) + pad(day, 2) + "T"
            + pad(rest / 3_600, 2) + pad(rest / 60 % 60, 2) + pad(rest % 60, 2) + "Z"
    }

    /// The id one second later.
    public var next: BackupID { BackupID(secondsSinceEpoch: secondsSinceEpoch + 1) }

    /// The id for a backup starting at `date`: that second's id, or the first later second not
    /// in `taken` (ids of existing backups, complete or not).
    public static func allocate(at date: Date, taken: Set<BackupID>) -> BackupID {
        var id = BackupID(date: date)
        while taken.contains(id) { id = id.next }
        return id
    }

    public static func < (lhs: BackupID, rhs: BackupID) -> Bool { lhs.secondsSinceEpoch < rhs.secondsSinceEpoch }

    public init(from decoder: any Decoder) throws { try self.init(jsonTextFrom: decoder) }
    public func encode(to encoder: any Encoder) throws { try encodeJSONText(to: encoder) }
    public init(jsonText text: String) throws { try self.init(parsing: text) }

    private init(secondsSinceEpoch: Int64) { self.secondsSinceEpoch = secondsSinceEpoch }
}

/// Text that is not a backup id.
public struct BackupIDError: Error, Sendable, Hashable, CustomStringConvertible {
    public var text: String

    public var description: String {
        "'\(text)' is not a backup id: expected the form 20261122T101500Z (UTC)"
            + "\nHINT: `pgbackup list` shows the backups and their ids"
    }
}
