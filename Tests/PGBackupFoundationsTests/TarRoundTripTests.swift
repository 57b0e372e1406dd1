import PGBackupTestSupport
import PGBackupFoundations
import PropertyBased
import Testing

/// Entries that exercise every header feature: long names and links, prefix splits, empty files,
/// data of every padding length, big ids, negative and far-future times, owner names.
private func sampleEntries(_ rng: inout SeededGenerator, count: Int) -> [TarTestEntry] {
    let component = { (rng: inout SeededGenerator, length: Int) -> String in
        String((0..<length).map { _ in "abcdefghijklmnopqrstuvwxyz0123456789_-é".randomElement(using: &rng)! })
    }
    var entries: [TarTestEntry] = []
    for index in 0..<count {
        let depth = Int.random(in: 0...6, using: &rng)
        let parts = (0...depth).map { _ in component(&rng, Int.random(in: 1...60, using: &rng)) }
        let name = "e\(index)/" + parts.joined(separator: "/")
        var header = TarHeader(
            name: name,
            mode: UInt32.random(in: 0...0o7777, using: &rng),
            uid: Bool.random(using: &rng) ? UInt64.random(in: 0...70000, using: &rng) : UInt64.random(in: 0...(1 << 40), using: &rng),
            gid: UInt64.random(in: 0...3_000_000, using: &rng),
            modificationTime: Bool.random(using: &rng) ? Int64.random(in: 0...2_000_000_000, using: &rng)
                : Int64.random(in: -10_000_000_000...100_000_000_000, using: &rng),
            userName: Bool.random(using: &rng) ? "postgres" : "",
            groupName: component(&rng, Int.random(in: 0...32, using: &rng))
        )
        var data: [UInt8] = []
        switch Int.random(in: 0..<5, using: &rng) {
        case 0:
            header.type = .directory
        case 1:
            header.type = .symlink
            header.linkTarget = "../" + component(&rng, Int.random(in: 1...300, using: &rng))
        default:
            let size = [0, 1, 511, 512, 513, 1024, Int.random(in: 0...200_000, using: &rng)].randomElement(using: &rng)!
            data = (0..<size).map { _ in UInt8.random(in: 0...255, using: &rng) }
            header.size = UInt64(size)
        }
        entries.append(TarTestEntry(header: header, data: data))
    }
    return entries
}

@Suite struct TarRoundTripTests {
    @Test(arguments: [TarWriter.Format.pax, .gnu])
    func roundTripsInRandomChunks(format: TarWriter.Format) async {
        await propertyCheck(count: 25, input: Gen.uint64()) { (seed: UInt64) throws in
            var rng = SeededGenerator(seed: seed)
            var entries = sampleEntries(&rng, count: Int.random(in: 0...12, using: &rng))
            if format == .gnu {
                // GNU headers have 32 bytes for owner names and no pax to overflow into.
                for index in entries.indices { entries[index].header.groupName = String(entries[index].header.groupName.prefix(32)) }
            }
            let archive = try writeTar(entries, format: format)
            #expect(archive.count % 512 == 0)
            let read = try readTar(archive, chunkSizes: { rng.chunkSize() })
            #expect(read == entries)
        }
    }

    @Test func directoryNamesLoseTheirSlashOnRead() throws {
        let archive = try writeTar([TarTestEntry(header: TarHeader(name: "base/1", type: .directory, mode: 0o700), data: [])],
                                   format: .pax)
        #expect(Array(archive[0..<7]) == Array("base/1/".utf8))
        #expect(try readTar(archive).map(\.header.name) == ["base/1"])
    }

    @Test func shortLongAndSplitNames() throws {
        let exactly100 = String(repeating: "a", count: 100)
        let splittable = String(repeating: "d", count: 150) + "/" + String(repeating: "f", count: 90)
        let unsplittable = String(repeating: "x", count: 101)
        let huge = (0..<40).map { _ in "directory" }.joined(separator: "/")
        for format in [TarWriter.Format.pax, .gnu] {
            let entries = [exactly100, splittable, unsplittable, huge].map {
                TarTestEntry(header: TarHeader(name: $0, size: 3), data: [1, 2, 3])
            }
            let archive = try writeTar(entries, format: format)
            #expect(try readTar(archive) == entries)
        }
        // The ustar prefix split needs no extended header: one header block plus one data block.
        let split = try writeTar([TarTestEntry(header: TarHeader(name: splittable, size: 1), data: [7])], format: .pax)
        #expect(split.count == 512 * 2 + 1024)
    }

    @Test(arguments: [TarWriter.Format.pax, .gnu])
    func sizesBeyondEightGiB(format: TarWriter.Format) throws {
        let size: UInt64 = 9 << 30
        var writer = TarWriter(format: format)
        var out: [UInt8] = []
        try writer.writeHeader(TarHeader(name: "base/16384/2619", size: size), to: { out.append(contentsOf: $0) })
        var reader = TarReader()
        var headers: [TarHeader] = []
        var data = 0
        let handle: (TarEvent) throws -> Void = { event in
            if case .header(let header) = event { headers.append(header) }
            if case .data(let bytes) = event { data += bytes.count }
        }
        try reader.feed(out, handle)
        try reader.feed([UInt8](repeating: 0xAB, count: 4096), handle)
        #expect(headers.map(\.size) == [size])
        #expect(data == 4096)
        #expect(throws: TarError.truncated(offset: UInt64(out.count + 4096),
                                           detail: "with \(size - 4096) bytes of the current entry missing")) {
            try reader.finish(handle)
        }
    }

    @Test func writerRefusesWrongSizesAndOrder() throws {
        var writer = TarWriter()
        var out: [UInt8] = []
        let output: TarWriter.Output = { out.append(contentsOf: $0) }
        #expect(throws: TarError.misuse("writeData without a header")) { try writer.writeData([1], to: output) }
        try writer.writeHeader(TarHeader(name: "f", size: 2), to: output)
        #expect(throws: TarError.sizeMismatch(name: "f", declared: 2, written: 3)) { try writer.writeData([1, 2, 3], to: output) }
        try writer.writeData([1], to: output)
        #expect(throws: TarError.sizeMismatch(name: "f", declared: 2, written: 1)) { try writer.finish(to: output) }
        try writer.writeData([2], to: output)
        try writer.finish(to: output)
        #expect(throws: TarError.misuse("writeHeader after finish")) { try writer.writeHeader(TarHeader(name: "g"), to: output) }
        #expect(throws: TarError.unrepresentable(name: "a\0b", detail: "the name or link target contains a NUL byte")) {
            var other = TarWriter()
            try other.writeHeader(TarHeader(name: "a\0b"), to: output)
        }
        #expect(TarError.sizeMismatch(name: "f", declared: 2, written: 1).description
            == "unable to write tar entry 'f': its header declares 2 bytes but 1 were written")
    }
}
