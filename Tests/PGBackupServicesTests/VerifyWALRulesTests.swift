import Foundation
import Testing
import PGBackupFoundations
import PGBackupRepository
@testable import PGBackupServices

/// Which WAL `pgbackup verify` requires of each backup: retention's holes are not damage.
@Suite("verify's WAL rules")
struct VerifyWALRulesTests {
    let older = BackupID(date: Date(timeIntervalSince1970: 1_800_000_000))
    let newer = BackupID(date: Date(timeIntervalSince1970: 1_800_003_600))
    let start = LSN(0x3000000)
    let stop = LSN(0x3800000)
    let end = LSN(0x9000000)

    @Test func underPITREveryUnpinnedOrFullyPinnedBackupNeedsTheArchiveTail() {
        let rules = VerifyWALRules(walRetention: .pitr, newest: newer)
        #expect(rules.requiredEnd(id: older, pin: nil, startLSN: start, stopLSN: stop, archiveEnd: end) == end)
        #expect(rules.requiredEnd(id: older, pin: .full, startLSN: start, stopLSN: stop, archiveEnd: end) == end)
        #expect(rules.requiredEnd(id: newer, pin: nil, startLSN: start, stopLSN: stop, archiveEnd: end) == end)
    }

    @Test func aStandalonePinNeedsOnlyItsOwnWAL() {
        for retention in RetentionRules.WALRetention.allCases {
            let rules = VerifyWALRules(walRetention: retention, newest: newer)
            #expect(rules.requiredEnd(id: older, pin: .standalone, startLSN: start, stopLSN: stop, archiveEnd: end) == stop)
            #expect(rules.requiredEnd(id: newer, pin: .standalone, startLSN: start, stopLSN: stop, archiveEnd: end) == stop)
        }
    }

    @Test func underConsistencyOnlyTheNewestBackupNeedsTheArchiveTail() {
        let rules = VerifyWALRules(walRetention: .consistency, newest: newer)
        #expect(rules.requiredEnd(id: older, pin: nil, startLSN: start, stopLSN: stop, archiveEnd: end) == stop)
        #expect(rules.requiredEnd(id: newer, pin: nil, startLSN: start, stopLSN: stop, archiveEnd: end) == end)
    }

    @Test func ownWALIsAlwaysRequiredEvenPastTheArchiveOrWithoutOne() {
        let rules = VerifyWALRules(walRetention: .pitr, newest: newer)
        #expect(rules.requiredEnd(id: newer, pin: nil, startLSN: start, stopLSN: stop, archiveEnd: LSN(0x3100000)) == stop)
        #expect(rules.requiredEnd(id: newer, pin: nil, startLSN: start, stopLSN: stop, archiveEnd: nil) == stop)
        #expect(rules.requiredEnd(id: newer, pin: nil, startLSN: start, stopLSN: start, archiveEnd: nil) == start + 1)
    }
}
