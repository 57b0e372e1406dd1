import Foundation
import Testing
@testable import PGBackupServices

/// The kinds of a policy's values: durations, sizes, counts (issue #11).
@Suite("policy: durations, sizes, counts")
struct PolicyValueTests {
    @Test(arguments: [
        ("30s", 30.0), ("5m", 300), ("26h", 93_600), ("7d", 604_800), ("2w", 1_209_600), ("1h30m", 5_400), ("0d1s", 1),
    ])
    func durations(text: String, seconds: Double) throws {
        #expect(try DurationSetting.parse(text) == seconds)
    }

    @Test(arguments: ["7", "7 parsecs", "7parsecs", "d", "-1d", "0s", "0d", "1.5h", "7D", "", " 7d", "h7", "1d 2h", "9999999999d"])
    func badDurations(text: String) {
        #expect(throws: InvalidSettingText.self) { try DurationSetting.parse(text) }
    }

    @Test(arguments: [
        ("2GiB", Int64(2) << 30), ("512MB", 512 << 20), ("1024kB", 1 << 20), ("1KiB", 1024), ("3TB", Int64(3) << 40), ("100B", 100),
    ])
    func sizes(text: String, bytes: Int64) throws {
        #expect(try SizeSetting.parse(text) == bytes)
    }

    @Test(arguments: ["2", "2 GiB", "2gib", "0MB", "-1MB", "1.5GB", "GB", "2PB", "", "999999999TB", "9999999999B"])
    func badSizes(text: String) {
        #expect(throws: InvalidSettingText.self) { try SizeSetting.parse(text) }
    }

    @Test func counts() throws {
        #expect(try CountSetting.parse("7") == 7)
        for text in ["0", "-1", "1.5", "seven", ""] {
            #expect(throws: InvalidSettingText.self) { try CountSetting.parse(text) }
        }
    }
}
