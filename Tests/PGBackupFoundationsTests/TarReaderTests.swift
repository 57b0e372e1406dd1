import PGBackupFoundations
import Testing

@Suite struct TarReaderTests {
    static let entries = [
        TarTestEntry(header: TarHeader(name: "PG_VERSION", mode: 0o600, size: 3, modificationTime: 1_700_000_000), data: Array("15\n".utf8)),
        TarTestEntry(header: TarHeader(name: "pg_wal", type: .directory, mode: 0o700), data: []),
        TarTestEntry(header: TarHeader(name: "pg_tblspc/16385", type: .symlink, mode: 0o777, linkTarget: "/srv/space"), data: []),
    ]

    @Test func checksumMismatchIsReportedWithTheOffset() throws {
        var archive = try writeTar(Self.entries, format: .pax)
        archive[1024 + 3] ^= 0x01  // a name byte of the second header (after PG_VERSION's header and data)
        #expect {
            try readTar(archive)
        } throws: { error in
            guard case .checksumMismatch(let offset, _, _) = error as? TarError else { return false }
            return offset == 1024
                && (error as! TarError).description.hasPrefix("unable to read tar stream: header at byte 1024 has checksum")
        }
    }

    @Test func notATarStream() {
        let garbage = Array(String(repeating: "this is not a tar archive\n", count: 40).utf8)
        #expect(throws: TarError.self) { try readTar(garbage) }
    }

    @Test func missingEndMarkerNeedsPermission() throws {
        let archive = try writeTar(Self.entries, format: .pax, endMarker: false)
        #expect(throws: TarError.truncated(offset: UInt64(archive.count),
                                           detail: "without the two zero blocks that end a tar archive")) {
            try readTar(archive)
        }
        #expect(try readTar(archive, allowMissingEndMarker: true) == Self.entries)
        // One zero block alone is not an end marker either.
        let oneBlock = archive + [UInt8](repeating: 0, count: 512)
        #expect(throws: TarError.self) { try readTar(oneBlock) }
        #expect(try readTar(oneBlock, allowMissingEndMarker: true) == Self.entries)
    }

    @Test func truncatedInsideAnEntryIsAlwaysAnError() throws {
        let archive = try writeTar(Self.entries, format: .pax)
        for cut in [100, 512, 513, 515, 1000, 1100] {
            #expect(throws: TarError.self) { try readTar(Array(archive[..<cut]), allowMissingEndMarker: true) }
        }
    }

    @Test func bytesAfterTheEndMarkerAreIgnored() throws {
        let archive = try writeTar(Self.entries, format: .gnu)
        #expect(try readTar(archive + [UInt8](repeating: 0, count: 9216) + Array("junk".utf8)) == Self.entries)
    }

    @Test func nonZeroBlockAfterAZeroBlock() throws {
        let first = try writeTar([Self.entries[0]], format: .pax, endMarker: false)
        let second = try writeTar([Self.entries[1]], format: .pax)
        let archive = first + [UInt8](repeating: 0, count: 512) + second
        #expect(throws: TarError.nonZeroBlockAfterZeroBlock(offset: UInt64(first.count + 512))) { try readTar(archive) }
    }

    @Test func dataIsHandedOnWithoutCopying() throws {
        // A 64 MiB entry fed in 1 MiB chunks: every data event points into the chunk being fed.
        let size = 64 << 20
        var writer = TarWriter()
        var header: [UInt8] = []
        try writer.writeHeader(TarHeader(name: "base/1/big", size: UInt64(size)), to: { header.append(contentsOf: $0) })
        var reader = TarReader(allowMissingEndMarker: true)
        var received = 0
        var outside = 0
        try reader.feed(header) { _ in }
        let chunk = [UInt8](repeating: 0x5A, count: 1 << 20)
        try chunk.withUnsafeBytes { buffer in
            for _ in 0..<(size / chunk.count) {
                try reader.feed(buffer) { event in
                    guard case .data(let data) = event else { return }
                    received += data.count
                    if data.baseAddress! < buffer.baseAddress! || data.baseAddress! + data.count > buffer.baseAddress! + buffer.count {
                        outside += 1
                    }
                }
            }
        }
        try reader.finish { _ in }
        #expect(received == size)
        #expect(outside == 0)
    }

    @Test func extendedHeadersHaveALimit() throws {
        let longName = String(repeating: "n", count: 5000)
        let archive = try writeTar([TarTestEntry(header: TarHeader(name: longName), data: [])], format: .gnu)
        var reader = TarReader(maximumExtendedHeaderSize: 4096)
        #expect(throws: TarError.extendedHeaderTooLarge(offset: 0, size: 5001, limit: 4096)) { try reader.feed(archive) { _ in } }
    }

    /// Builds one raw header block for hand-made fixtures.
    static func rawHeader(name: String, type: UInt8, size: Int, magic: String = "ustar\u{0}00",
                          sizeField: [UInt8]? = nil) -> [UInt8] {
        var block = [UInt8](repeating: 0, count: 512)
        for (i, byte) in name.utf8.enumerated() { block[i] = byte }
        for (i, byte) in "0000644\u{0}0000000\u{0}0000000\u{0}".utf8.enumerated() { block[100 + i] = byte }
        let size = sizeField ?? Array((String(repeating: "0", count: 11 - String(size, radix: 8).count) + String(size, radix: 8) + "\u{0}").utf8)
        for (i, byte) in size.enumerated() { block[124 + i] = byte }
        for (i, byte) in "00000000000\u{0}".utf8.enumerated() { block[136 + i] = byte }
        block[156] = type
        for (i, byte) in magic.utf8.enumerated() { block[257 + i] = byte }
        let sum = block.enumerated().reduce(0) { $0 + Int((148..<156).contains($1.offset) ? 32 : $1.element) }
        for (i, byte) in (String(repeating: "0", count: 6 - String(sum, radix: 8).count) + String(sum, radix: 8) + "\u{0} ").utf8.enumerated() {
            block[148 + i] = byte
        }
        return block
    }

    static func padded(_ bytes: [UInt8]) -> [UInt8] { bytes + [UInt8](repeating: 0, count: (512 - bytes.count % 512) % 512) }

    @Test func paxGlobalAndLocalHeaders() throws {
        let global = Array("18 uname=postgres\n18 mtime=1234.567\n".utf8)
        let local = Array("21 path=renamed/file\n8 uid=7\n".utf8)
        let archive = Self.rawHeader(name: "pax_global_header", type: UInt8(ascii: "g"), size: global.count) + Self.padded(global)
            + Self.rawHeader(name: "PaxHeaders/x", type: UInt8(ascii: "x"), size: local.count) + Self.padded(local)
            + Self.rawHeader(name: "x", type: UInt8(ascii: "0"), size: 0)
            + Self.rawHeader(name: "y", type: UInt8(ascii: "0"), size: 0)
            + [UInt8](repeating: 0, count: 1024)
        let read = try readTar(archive)
        #expect(read.map(\.header.name) == ["renamed/file", "y"])
        #expect(read.map(\.header.uid) == [7, 0])
        #expect(read.map(\.header.userName) == ["postgres", "postgres"])
        #expect(read.map(\.header.modificationTime) == [1234, 1234])
    }

    @Test func malformedPaxRecords() {
        for records in ["5 a=b\n", "x path=a\n", "12 path=abc", "9 pathab\n", "9 size=x\n", "9 uid=-1\n"] {
            let data = Array(records.utf8)
            let archive = Self.rawHeader(name: "p", type: UInt8(ascii: "x"), size: data.count) + Self.padded(data)
                + Self.rawHeader(name: "f", type: UInt8(ascii: "0"), size: 0) + [UInt8](repeating: 0, count: 1024)
            #expect(throws: TarError.self, "\(records)") { try readTar(archive) }
        }
    }

    @Test func postgreSQLStyleBase256SizeWithPosixMagic() throws {
        // PostgreSQL's tarCreateHeader writes POSIX magic and switches to base-256 past 8 GiB.
        var field = [UInt8](repeating: 0, count: 12)
        field[0] = 0x80
        let size: UInt64 = 10 << 30
        for i in 0..<8 { field[11 - i] = UInt8(truncatingIfNeeded: size >> (8 * UInt64(i))) }
        let header = Self.rawHeader(name: "base/5/16384", type: UInt8(ascii: "0"), size: 0, sizeField: field)
        var reader = TarReader()
        var sizes: [UInt64] = []
        try reader.feed(header) { if case .header(let h) = $0 { sizes.append(h.size) } }
        #expect(sizes == [size])
    }

    @Test func ustarPrefixAndOldStyleTypes() throws {
        var header = Self.rawHeader(name: "file", type: 0, size: 0)
        for (i, byte) in "some/prefix".utf8.enumerated() { header[345 + i] = byte }
        // Recompute the checksum after editing the prefix.
        for i in 148..<156 { header[i] = 32 }
        let sum = header.reduce(0) { $0 + Int($1) }
        for (i, byte) in (String(repeating: "0", count: 6 - String(sum, radix: 8).count) + String(sum, radix: 8) + "\u{0} ").utf8.enumerated() {
            header[148 + i] = byte
        }
        let read = try readTar(header + [UInt8](repeating: 0, count: 1024))
        #expect(read.map(\.header.name) == ["some/prefix/file"])
        #expect(read.map(\.header.type) == [.file])
    }

    @Test func errorMessages() {
        #expect(TarError.truncated(offset: 1536, detail: "with 10 bytes of the current entry missing").description
            == "unable to read tar stream: it ends at byte 1536 with 10 bytes of the current entry missing; the archive is truncated")
        #expect(TarError.checksumMismatch(offset: 0, stored: 1, computed: 2).description
            == "unable to read tar stream: header at byte 0 has checksum 1 but its bytes sum to 2; the archive is corrupted or is not a tar archive")
    }
}
