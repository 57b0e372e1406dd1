/// The ustar header layout and its number encodings, shared by `TarReader` and `TarWriter`.
enum TarFormat {
    static let blockSize = 512

    enum Field {
        static let name = 0..<100
        static let mode = 100..<108
        static let uid = 108..<116
        static let gid = 116..<124
        static let size = 124..<136
        static let mtime = 136..<148
        static let checksum = 148..<156
        static let typeFlag = 156
        static let linkName = 157..<257
        static let magic = 257..<263
        static let version = 263..<265
        static let userName = 265..<297
        static let groupName = 297..<329
        static let devMajor = 329..<337
        static let devMinor = 337..<345
        /// POSIX ustar only: GNU tar keeps access/change times here.
        static let prefix = 345..<500
    }

    static let posixMagic: [UInt8] = Array("ustar\0".utf8)
    static let posixVersion: [UInt8] = Array("00".utf8)
    static let gnuMagic: [UInt8] = Array("ustar ".utf8)
    static let gnuVersion: [UInt8] = [UInt8(ascii: " "), 0]

    static let gnuLongName = UInt8(ascii: "L")
    static let gnuLongLink = UInt8(ascii: "K")
    static let paxLocal = UInt8(ascii: "x")
    static let paxGlobal = UInt8(ascii: "g")
    static let gnuLongLinkName = "././@LongLink"
    static let paxHeaderName = "././@PaxHeader"

    /// The largest value `digits` octal digits hold.
    static func octalLimit(digits: Int) -> UInt64 { (1 << (3 * UInt64(digits))) - 1 }

    /// The unsigned sum of the block with the checksum field read as spaces, and the signed sum
    /// that some old tar implementations wrote by mistake.
    static func checksums(_ block: UnsafeRawBufferPointer) -> (unsigned: UInt32, signed: Int32) {
        var unsigned: UInt32 = 0
        var signed: Int32 = 0
        for (index, byte) in block.enumerated() {
            let value = Field.checksum.contains(index) ? UInt8(ascii: " ") : byte
            unsigned &+= UInt32(value)
            signed &+= Int32(Int8(bitPattern: value))
        }
        return (unsigned, signed)
    }

    /// Text of a NUL-terminated field.
    static func string(_ block: UnsafeRawBufferPointer, _ range: Range<Int>) -> String {
        let field = block[range]
        let end = field.firstIndex(of: 0) ?? range.upperBound
        return String(decoding: block[range.lowerBound..<end], as: UTF8.self)
    }

    /// A numeric field: octal digits (leading spaces, ended by NUL or space; all NUL means 0),
    /// or base-256 when the first byte's high bit is set (GNU; PostgreSQL uses it past 8 GiB).
    static func number(_ block: UnsafeRawBufferPointer, _ range: Range<Int>) -> Int64? {
        let first = block[range.lowerBound]
        if first & 0x80 != 0 {
            // Two's complement over the whole field; for negative values invert, read, invert back.
            let invert: UInt8 = first & 0x40 != 0 ? 0xFF : 0
            var value: UInt64 = 0
            for index in range {
                var byte = block[index] ^ invert
                if index == range.lowerBound { byte &= 0x7F }
                guard value >> 56 == 0 else { return nil }
                value = value << 8 | UInt64(byte)
            }
            guard value >> 63 == 0 else { return nil }
            return invert == 0xFF ? ~Int64(value) : Int64(value)
        }
        var index = range.lowerBound
        while index < range.upperBound, block[index] == UInt8(ascii: " ") { index += 1 }
        var value: Int64 = 0
        while index < range.upperBound {
            let byte = block[index]
            if byte == 0 || byte == UInt8(ascii: " ") { break }
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "7"), value >> 60 == 0 else { return nil }
            value = value << 3 | Int64(byte - UInt8(ascii: "0"))
            index += 1
        }
        // Whatever follows the terminator must be padding.
        while index < range.upperBound {
            guard block[index] == 0 || block[index] == UInt8(ascii: " ") else { return nil }
            index += 1
        }
        return value
    }

    /// Writes `value` as zero-padded octal followed by NUL; false if it does not fit.
    static func putOctal(_ value: UInt64, into block: inout [UInt8], _ range: Range<Int>) -> Bool {
        let digits = range.count - 1
        guard value <= octalLimit(digits: digits) else { return false }
        var remaining = value
        for index in stride(from: range.lowerBound + digits - 1, through: range.lowerBound, by: -1) {
            block[index] = UInt8(ascii: "0") + UInt8(remaining & 7)
            remaining >>= 3
        }
        block[range.upperBound - 1] = 0
        return true
    }

    /// Writes `value` in GNU base-256 (two's complement, first byte's high bit set).
    static func putBase256(_ value: Int64, into block: inout [UInt8], _ range: Range<Int>) {
        var bits = UInt64(bitPattern: value)
        for index in stride(from: range.upperBound - 1, to: range.lowerBound, by: -1) {
            block[index] = UInt8(truncatingIfNeeded: bits)
            bits = value < 0 ? (bits >> 8) | 0xFF00_0000_0000_0000 : bits >> 8
        }
        block[range.lowerBound] = value < 0 ? 0xFF : 0x80
    }

    static func put(_ bytes: some Collection<UInt8>, into block: inout [UInt8], at start: Int) {
        for (offset, byte) in bytes.enumerated() { block[start + offset] = byte }
    }

    /// One pax record, `<length> <key>=<value>\n`, where the length counts itself.
    static func paxRecord(_ key: String, _ value: String) -> [UInt8] {
        let body = key.utf8.count + value.utf8.count + 3
        var length = body + 1
        while String(length).utf8.count + body != length { length = String(length).utf8.count + body }
        return Array("\(length) \(key)=\(value)\n".utf8)
    }

    /// Parses pax records; nil with a reason when malformed.
    static func paxRecords(_ data: [UInt8]) -> Result<[(String, String)], PaxParseFailure> {
        var records: [(String, String)] = []
        var index = 0
        while index < data.count {
            // GNU tar pads some extended headers with NULs.
            if data[index] == 0 { break }
            var length = 0
            var cursor = index
            while cursor < data.count, data[cursor] >= UInt8(ascii: "0"), data[cursor] <= UInt8(ascii: "9"), length < 1 << 30 {
                length = length * 10 + Int(data[cursor] - UInt8(ascii: "0"))
                cursor += 1
            }
            guard cursor > index, cursor < data.count, data[cursor] == UInt8(ascii: " "),
                  length > cursor - index + 1, index + length <= data.count, data[index + length - 1] == UInt8(ascii: "\n")
            else { return .failure(PaxParseFailure(detail: "bad record at byte \(index) of the extended header")) }
            let record = data[(cursor + 1)..<(index + length - 1)]
            guard let equals = record.firstIndex(of: UInt8(ascii: "=")) else {
                return .failure(PaxParseFailure(detail: "record at byte \(index) has no '='"))
            }
            records.append((String(decoding: record[..<equals], as: UTF8.self),
                            String(decoding: record[(equals + 1)...], as: UTF8.self)))
            index += length
        }
        return .success(records)
    }

    struct PaxParseFailure: Error { var detail: String }
}
