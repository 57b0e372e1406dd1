import Foundation
import Testing
@testable import PGBackupRepository

@Suite("Backup ids")
struct BackupIDTests {
    @Test
    func parsesAndFormats() throws {
        let id = try BackupID(parsing: "20261122T101500Z")
        #expect(id.description == "20261122T101500Z")
        #expect(id.date == Date(timeIntervalSince1970: 1_795_342_500))
        #expect(BackupID(date: Date(timeIntervalSince1970: 1_795_342_500.9)) == id)
        #expect(BackupID(date: Date(timeIntervalSince1970: 0)).description == "19700101T000000Z")
        #expect(try BackupID(parsing: "20240229T235959Z").description == "20240229T235959Z")
        #expect(try BackupID(parsing: "99991231T235959Z").description == "99991231T235959Z")
    }

    @Test
    func roundTripsEverySecondOfAYearSample() {
        var seconds: Int64 = 0
        while seconds < 4_102_444_800 {  // through 2099
            let id = BackupID(date: Date(timeIntervalSince1970: TimeInterval(seconds)))
            #expect(BackupID(id.description) == id, "\(id)")
            #expect(id.secondsSinceEpoch == seconds)
            seconds += 86_399 * 7 + 1_234
        }
    }

    @Test(arguments: [
        "", "20261122T101500", "20261122 101500Z", "2026-11-22T10:15:00Z", "20261322T101500Z", "20261100T101500Z",
        "20230229T101500Z", "20261122T241500Z", "20261122T106000Z", "20261122T101560Z", "19691231T235959Z",
        "2026112XT101500Z", "+0261122T101500Z",
    ])
    func refusesWhatIsNotAnID(text: String) {
        let error = #expect(throws: BackupIDError.self) { try BackupID(parsing: text) }
        #expect(error?.description.hasPrefix("'\(text)' is not a backup id: expected the form 20261122T101500Z (UTC)") == true)
    }

    @Test
    func sortsByTimeAsValuesAndAsText() throws {
        let texts = ["20261122T101500Z", "20251231T235959Z", "20261122T101459Z", "20270101T000000Z"]
        let ids = try texts.map { try BackupID(parsing: $0) }
        #expect(ids.sorted().map(\.description) == texts.sorted())
        #expect(ids.sorted().map(\.description) == ["20251231T235959Z", "20261122T101459Z", "20261122T101500Z", "20270101T000000Z"])
    }

    @Test
    func collisionsMoveToTheNextFreeSecond() throws {
        let date = Date(timeIntervalSince1970: 1_795_342_500.5)
        let taken: Set = [try BackupID(parsing: "20261122T101500Z"), try BackupID(parsing: "20261122T101501Z")]
        #expect(BackupID.allocate(at: date, taken: []).description == "20261122T101500Z")
        #expect(BackupID.allocate(at: date, taken: taken).description == "20261122T101502Z")
        #expect(try BackupID(parsing: "20261231T235959Z").next.description == "20270101T000000Z")
    }

    @Test
    func codesAsItsText() throws {
        let id = try BackupID(parsing: "20261122T101500Z")
        #expect(String(decoding: try JSONEncoder().encode([id]), as: UTF8.self) == #"["20261122T101500Z"]"#)
        #expect(try JSONDecoder().decode([BackupID].self, from: Data(#"["20261122T101500Z"]"#.utf8)) == [id])
        #expect(throws: DecodingError.self) { try JSONDecoder().decode([BackupID].self, from: Data(#"["yesterday"]"#.utf8)) }
    }
}
