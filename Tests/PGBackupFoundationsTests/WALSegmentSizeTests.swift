import Foundation
import PGBackupFoundations
import Testing

@Suite struct WALSegmentSizeTests {
    @Test(arguments: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024])
    func acceptsPowersOfTwo(megabytes: Int) throws {
        let size = try WALSegmentSize(megabytes: megabytes)
        #expect(size.bytes == UInt64(megabytes) << 20)
        #expect(size.segmentsPerLogID == 4096 / UInt64(megabytes))
        #expect(try WALSegmentSize(bytes: size.bytes) == size)
    }

    @Test(arguments: [UInt64(0), UInt64(1), UInt64(512 << 10), UInt64((1 << 20) - 1), UInt64((1 << 20) + 1), UInt64(3 << 20), UInt64(24 << 20), UInt64(2 << 30), UInt64.max] as [UInt64])
    func rejectsOthers(bytes: UInt64) {
        #expect(throws: WALNameError.invalidSegmentSize(bytes)) { try WALSegmentSize(bytes: bytes) }
    }

    @Test func rejectsBadMegabytes() {
        #expect(throws: WALNameError.self) { try WALSegmentSize(megabytes: 0) }
        #expect(throws: WALNameError.self) { try WALSegmentSize(megabytes: -16) }
        #expect(throws: WALNameError.self) { try WALSegmentSize(megabytes: 2048) }
        #expect(throws: WALNameError.self) { try WALSegmentSize(megabytes: 48) }
    }

    @Test func errorMessageNamesTheValue() {
        #expect(WALNameError.invalidSegmentSize(3 << 20).description.hasPrefix(
            "unable to use WAL segment size 3145728 bytes: it must be a power of two from 1 MiB to 1 GiB"))
    }

    @Test func defaultIs16MiB() throws {
        #expect(WALSegmentSize.default.bytes == 16 << 20)
        #expect(WALSegmentSize.default.description == "16 MiB")
        #expect(try WALSegmentSize(megabytes: 1024).description == "1 GiB")
    }

    @Test func offsetsAndBoundaries() {
        let size = WALSegmentSize.default
        #expect(size.offset(of: LSN(0x300_0028)) == 0x28)
        #expect(size.segmentNumber(containing: LSN(0x300_0028)) == 3)
        #expect(size.isSegmentBoundary(LSN(0x300_0000)))
        #expect(size.isSegmentBoundary(.zero))
        #expect(!size.isSegmentBoundary(LSN(0x300_0001)))
        #expect(size.offset(of: LSN(UInt64.max)) == (16 << 20) - 1)
        #expect(size.maximumSegmentNumber == (1 << 40) - 1)
    }

    @Test func codable() throws {
        let json = try JSONEncoder().encode([WALSegmentSize.default])
        #expect(String(decoding: json, as: UTF8.self) == "[16777216]")
        #expect(try JSONDecoder().decode([WALSegmentSize].self, from: json) == [.default])
        #expect(throws: DecodingError.self) { try JSONDecoder().decode([WALSegmentSize].self, from: Data("[1000]".utf8)) }
    }
}
