import Foundation
import PGBackupFoundations
import Testing
@testable import PGBackupServices

/// A spool left by another database system's daemon (before a pg_upgrade, whose new cluster
/// reuses the old segment names) is set aside, kept whole, and never uploaded.
struct WALSpoolForeignTests {
    /// The first 40 bytes of a segment: `XLogLongPageHeaderData` with `system` at byte 24.
    static func longHeader(system: SystemIdentifier, longFlag: Bool = true) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: 40)
        bytes[0] = 0x18; bytes[1] = 0xD1  // a page magic; not checked (it changes with every major)
        bytes[2] = longFlag ? 0x02 : 0x00
        bytes[4] = 1  // timeline 1
        for index in 0..<8 { bytes[24 + index] = UInt8(truncatingIfNeeded: system.rawValue >> (8 * UInt64(index))) }
        return bytes
    }

    @Test func walOfAnotherSystemIsSetAsideAndKeptWhole() throws {
        let directory = "/tmp/pgbackup-spool-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let size = try WALSegmentSize(megabytes: 1)
        let spool = try WALSpool(directory: directory, segmentSize: size)
        let ours: SystemIdentifier = 7_447_335_128_424_424_424
        let theirs: SystemIdentifier = 7_300_000_000_000_000_001
        let foreignTail = Self.longHeader(system: theirs) + [UInt8](repeating: 7, count: 100)
        try Data(foreignTail).write(to: URL(fileURLWithPath: directory + "/000000010000000000000005.partial"))
        try Data(Self.longHeader(system: theirs)).write(to: URL(fileURLWithPath: directory + "/000000010000000000000004"))
        try Data(Self.longHeader(system: ours)).write(to: URL(fileURLWithPath: directory + "/000000010000000000000006.partial"))
        // Too short to tell, or not a segment's first page: left where it is, as before.
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: directory + "/000000010000000000000007.partial"))

        #expect(WALSpool.systemIdentifier(ofWALFileAt: directory + "/000000010000000000000005.partial") == theirs)
        #expect(WALSpool.systemIdentifier(ofWALFileAt: directory + "/000000010000000000000007.partial") == nil)
        let shortHeader = directory + "/short"
        try Data(Self.longHeader(system: theirs, longFlag: false)).write(to: URL(fileURLWithPath: shortHeader))
        #expect(WALSpool.systemIdentifier(ofWALFileAt: shortHeader) == nil)
        try FileManager.default.removeItem(atPath: shortHeader)

        let moved = try spool.setAsideForeignWAL(systemIdentifier: ours)
        #expect(Set(moved.map(\.file)) == [directory + "/000000010000000000000004", directory + "/000000010000000000000005.partial"])
        #expect(moved.allSatisfy { $0.systemIdentifier == theirs })
        #expect(spool.pendingSegments().isEmpty)
        #expect(spool.partialFiles().map(\.segment.name) == ["000000010000000000000006", "000000010000000000000007"])
        #expect(FileManager.default.contents(atPath: directory + "/foreign-\(theirs)/000000010000000000000005.partial") == Data(foreignTail))
        // Once aside, nothing more moves.
        #expect(try spool.setAsideForeignWAL(systemIdentifier: ours).isEmpty)
    }
}
