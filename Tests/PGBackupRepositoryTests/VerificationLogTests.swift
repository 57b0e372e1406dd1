import Foundation
import PGBackupFoundations
import PGBackupStorage
import Testing
@testable import PGBackupRepository

/// Verification records (`verifications/<time>.json`): stored sealed, read back in time order.
@Suite("Verification log")
struct VerificationLogTests {
    @Test(arguments: StoreKind.allCases)
    func recordsAreStoredUnderTheirTimeAndReadBackOldestFirst(kind: StoreKind) async throws {
        let fixture = try ArchiveFixture(kind)
        defer { fixture.remove() }
        let log = VerificationLog(repository: fixture.archive.repository)
        let backup = try BackupID(parsing: "20261122T101500Z")
        let failed = VerificationRecord(
            startedAt: Date(timeIntervalSince1970: 1_795_333_388.5), backupID: backup, target: "latest",
            restoreSeconds: 1.5, recoverySeconds: nil, bytes: 1000,
            checks: [.init(name: "restore", ok: true, detail: ""), .init(name: "start", ok: false, detail: "postgres exited")])
        let passed = VerificationRecord(
            startedAt: Date(timeIntervalSince1970: 1_795_333_400), backupID: backup, target: "latest",
            restoreSeconds: 1.2, recoverySeconds: 2.0, bytes: 1000, checks: [.init(name: "restore", ok: true, detail: "")])
        #expect(!failed.ok && passed.ok)
        #expect(!VerificationRecord(startedAt: Date(), backupID: nil, target: "latest", restoreSeconds: nil,
                                    recoverySeconds: nil, bytes: nil, checks: []).ok, "no check run is no proof")
        try await log.store(passed)
        try await log.store(failed)
        #expect(log.key(of: failed) == "main/verifications/20261122T074308.500Z.json")
        #expect(try await log.records() == [failed, passed])
        let latest = try await log.latest()
        #expect(latest.newest == passed && latest.byBackup[backup] == passed)
    }
}
