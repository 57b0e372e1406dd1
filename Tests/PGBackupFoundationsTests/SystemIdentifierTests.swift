import Foundation
import PGBackupFoundations
import Testing

@Suite("system identifier") struct SystemIdentifierTests {
    @Test func parsesOnlyDecimalDigits() {
        let good: [(String, UInt64)] = [("7301234567890123456", 7_301_234_567_890_123_456), ("18446744073709551615", .max), ("0", 0)]
        for (text, value) in good {
            #expect(SystemIdentifier(text)?.rawValue == value)
            #expect(SystemIdentifier(text)?.description == text)
        }
        let bad: [String] =  ["", " 1", "1 ", "+1", "-1", "0x10", "18446744073709551616", "12a", "١٢"]
        for bad in bad {
            #expect(SystemIdentifier(bad) == nil, "\(bad)")
        }
    }

    /// The same JSON as when the field was a String: decimal text, never a number (which readers
    /// round above 2^53).
    @Test func encodesAsDecimalTextAndRefusesAnythingElse() throws {
        struct Holder: Codable, Equatable { var system: SystemIdentifier }
        let value = Holder(system: SystemIdentifier(rawValue: 7_301_234_567_890_123_457))
        let json = String(decoding: try JSONEncoder().encode(value), as: UTF8.self)
        #expect(json == #"{"system":"7301234567890123457"}"#)
        #expect(try JSONDecoder().decode(Holder.self, from: Data(json.utf8)) == value)
        for bad in [#"{"system":7301234567890123457}"#, #"{"system":"73x"}"#, #"{"system":""}"#] {
            #expect(throws: DecodingError.self) { try JSONDecoder().decode(Holder.self, from: Data(bad.utf8)) }
        }
    }
}
