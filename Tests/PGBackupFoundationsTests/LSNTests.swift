import Foundation
import PGBackupFoundations
import PropertyBased
import Testing

@Suite struct LSNTests {
    @Test(arguments: [
        ("16/B374D848", UInt64(0x16_B374_D848)),
        ("0/0", 0),
        ("FFFFFFFF/FFFFFFFF", UInt64.max),
        ("0/3000028", 0x300_0028),
        ("1/A0000000", 0x1_A000_0000),
        ("16/b374d848", 0x16_B374_D848),
        ("00000000/00000001", 1),
    ])
    func parses(text: String, value: UInt64) {
        #expect(LSN(text) == LSN(value))
    }

    @Test(arguments: [
        "", "/", "0/", "/0", "0", "0/0/0", "G/0", "0/G", "100000000/0", "0/100000000", " 0/0", "0/0 ", "+1/0",
        "-1/0", "0x1/0", "1/-0", "１/0",
    ])
    func rejects(text: String) {
        #expect(LSN(text) == nil)
    }

    @Test func formatsLikePostgreSQL() {
        #expect(LSN(0x16_B374_D848).description == "16/B374D848")
        #expect(LSN.zero.description == "0/0")
        #expect(LSN(UInt64.max).description == "FFFFFFFF/FFFFFFFF")
        #expect(LSN(0x1_0000_0000).description == "1/0")
    }

    @Test func roundTripsEveryValue() async {
        await propertyCheck(input: Gen.uint64()) { value in
            #expect(LSN(LSN(value).description) == LSN(value))
            #expect(LSN(LSN(value).description.lowercased()) == LSN(value))
        }
    }

    @Test func arithmetic() {
        #expect(LSN(0x300_0000) + 0x28 == LSN(0x300_0028))
        #expect(LSN(0x300_0028) - 0x28 == LSN(0x300_0000))
        #expect(LSN(0x1_0000_0000) - LSN(0xFFFF_FFFF) == 1)
        #expect(LSN(1) < LSN(2))
    }

    @Test func codableAsText() throws {
        let json = try JSONEncoder().encode([LSN(0x16_B374_D848)])
        #expect(String(decoding: json, as: UTF8.self) == #"["16\/B374D848"]"#)
        #expect(try JSONDecoder().decode([LSN].self, from: json) == [LSN(0x16_B374_D848)])
        #expect(throws: DecodingError.self) { try JSONDecoder().decode([LSN].self, from: Data(#"["nope"]"#.utf8)) }
    }

    @Test func timelineHex() {
        #expect(TimelineID(1).hex == "00000001")
        #expect(TimelineID(0xABCDEF12).hex == "ABCDEF12")
        #expect(TimelineID(UInt32.max).hex == "FFFFFFFF")
    }
}
