/// A streaming tar writer: it produces header blocks, passes entry data through and adds the
/// padding and end marker, so memory does not depend on entry sizes.
///
/// Writes POSIX ustar headers, splitting long paths into `prefix` + `name` when they fit. What does
/// not fit ustar (names over 100 bytes, sizes of 8 GiB and more, big uid/gid, times before 1970)
/// goes into a pax extended header (`.pax`, the default) or into GNU `././@LongLink` entries and
/// base-256 numbers (`.gnu`). GNU tar, bsdtar and Go read both.
public struct TarWriter: Sendable {
    public enum Format: Sendable, Hashable {
        case pax
        case gnu
    }

    /// Receives the bytes to write, in order.
    public typealias Output = (UnsafeRawBufferPointer) throws -> Void

    public let format: Format
    private var entryName: String?
    private var declared: UInt64 = 0
    private var written: UInt64 = 0
    private var finished = false

    public init(format: Format = .pax) { self.format = format }

    /// Writes the header(s) of a new entry. Data for a file follows through `writeData`, exactly
    /// `header.size` bytes; other types have no data (their `size` is ignored). A complete
    /// previous entry is closed first.
    public mutating func writeHeader(_ header: TarHeader, to output: Output) throws {
        guard !finished else { throw TarError.misuse("writeHeader after finish") }
        try finishEntry(to: output)
        var header = header
        if header.type.isHeaderOnly { header.size = 0 }
        if header.type == .directory, !header.name.hasSuffix("/") { header.name += "/" }
        let blocks = try headerBlocks(for: header)
        try blocks.withUnsafeBytes { try output($0) }
        entryName = header.name
        declared = header.size
        written = 0
    }

    /// Passes the entry's data through; throws if it exceeds the size the header declared.
    public mutating func writeData(_ bytes: UnsafeRawBufferPointer, to output: Output) throws {
        guard let name = entryName else { throw TarError.misuse("writeData without a header") }
        guard written + UInt64(bytes.count) <= declared else {
            throw TarError.sizeMismatch(name: name, declared: declared, written: written + UInt64(bytes.count))
        }
        written += UInt64(bytes.count)
        if !bytes.isEmpty { try output(bytes) }
    }

    /// Passes the entry's data through (convenience for `writeData(_:to:)`).
    public mutating func writeData(_ bytes: some Collection<UInt8>, to output: Output) throws {
        if let done = try bytes.withContiguousStorageIfAvailable({ try writeData(UnsafeRawBufferPointer($0), to: output) }) {
            return done
        }
        try Array(bytes).withUnsafeBytes { try writeData($0, to: output) }
    }

    /// Closes the current entry with its padding; throws if its data is incomplete. Does nothing
    /// when no entry is open.
    public mutating func finishEntry(to output: Output) throws {
        guard let name = entryName else { return }
        guard written == declared else { throw TarError.sizeMismatch(name: name, declared: declared, written: written) }
        let padding = Int((512 - declared % 512) % 512)
        if padding > 0 { try [UInt8](repeating: 0, count: padding).withUnsafeBytes { try output($0) } }
        entryName = nil
    }

    /// Closes the current entry and writes the end marker (two zero blocks).
    public mutating func finish(to output: Output) throws {
        guard !finished else { return }
        try finishEntry(to: output)
        try [UInt8](repeating: 0, count: 2 * TarFormat.blockSize).withUnsafeBytes { try output($0) }
        finished = true
    }

    /// Convenience: one whole entry with its data (the header's `size` becomes the data's).
    public mutating func writeEntry(_ header: TarHeader, data: some Collection<UInt8>, to output: Output) throws {
        var header = header
        header.size = header.type.isHeaderOnly ? 0 : UInt64(data.count)
        try writeHeader(header, to: output)
        if !header.type.isHeaderOnly { try writeData(data, to: output) }
        try finishEntry(to: output)
    }

    // MARK: - Encoding

    private func headerBlocks(for header: TarHeader) throws -> [UInt8] {
        let name = Array(header.name.utf8)
        let link = Array(header.linkTarget.utf8)
        guard !name.isEmpty else { throw TarError.unrepresentable(name: header.name, detail: "the name is empty") }
        guard !name.contains(0), !link.contains(0) else {
            throw TarError.unrepresentable(name: header.name, detail: "the name or link target contains a NUL byte")
        }
        var block = [UInt8](repeating: 0, count: TarFormat.blockSize)
        var paxRecords: [UInt8] = []
        var prefix: [UInt8] = []
        var out: [UInt8] = []

        // Name and link target.
        var shortName = name
        if name.count > 100 {
            if format == .pax, let split = Self.ustarSplit(name) {
                (prefix, shortName) = split
            } else {
                shortName = Array(name.prefix(100))
                if format == .pax {
                    paxRecords += TarFormat.paxRecord("path", header.name)
                } else {
                    out += try gnuLongEntry(name, type: TarFormat.gnuLongName)
                }
            }
        }
        var shortLink = link
        if link.count > 100 {
            shortLink = Array(link.prefix(100))
            if format == .pax {
                paxRecords += TarFormat.paxRecord("linkpath", header.linkTarget)
            } else {
                out += try gnuLongEntry(link, type: TarFormat.gnuLongLink)
            }
        }
        TarFormat.put(shortName, into: &block, at: TarFormat.Field.name.lowerBound)
        TarFormat.put(shortLink, into: &block, at: TarFormat.Field.linkName.lowerBound)
        TarFormat.put(prefix, into: &block, at: TarFormat.Field.prefix.lowerBound)

        // Numbers.
        _ = TarFormat.putOctal(UInt64(header.mode & 0o7777), into: &block, TarFormat.Field.mode)
        for (key, value, range) in [("uid", header.uid, TarFormat.Field.uid), ("gid", header.gid, TarFormat.Field.gid),
                                    ("size", header.size, TarFormat.Field.size)] {
            if TarFormat.putOctal(value, into: &block, range) { continue }
            if format == .pax {
                paxRecords += TarFormat.paxRecord(key, String(value))
                _ = TarFormat.putOctal(0, into: &block, range)
            } else {
                guard value <= UInt64(Int64.max) else {
                    throw TarError.unrepresentable(name: header.name, detail: "\(key) \(value) is too large")
                }
                TarFormat.putBase256(Int64(value), into: &block, range)
            }
        }
        if header.modificationTime < 0 || !TarFormat.putOctal(UInt64(header.modificationTime), into: &block, TarFormat.Field.mtime) {
            if format == .pax {
                paxRecords += TarFormat.paxRecord("mtime", String(header.modificationTime))
                _ = TarFormat.putOctal(0, into: &block, TarFormat.Field.mtime)
            } else {
                TarFormat.putBase256(header.modificationTime, into: &block, TarFormat.Field.mtime)
            }
        }
        _ = TarFormat.putOctal(0, into: &block, TarFormat.Field.devMajor)
        _ = TarFormat.putOctal(0, into: &block, TarFormat.Field.devMinor)

        // Owner names.
        for (key, text, range) in [("uname", header.userName, TarFormat.Field.userName),
                                   ("gname", header.groupName, TarFormat.Field.groupName)] {
            let bytes = Array(text.utf8)
            if bytes.count <= range.count {
                TarFormat.put(bytes, into: &block, at: range.lowerBound)
            } else if format == .pax {
                paxRecords += TarFormat.paxRecord(key, text)
            } else {
                throw TarError.unrepresentable(name: header.name, detail: "\(key) '\(text)' is longer than \(range.count) bytes")
            }
        }

        block[TarFormat.Field.typeFlag] = header.type.flag
        stampAndChecksum(&block)
        if !paxRecords.isEmpty {
            out += try extendedEntry(name: TarFormat.paxHeaderName, type: TarFormat.paxLocal, data: paxRecords)
        }
        return out + block
    }

    /// Splits a path into ustar's `prefix` (≤ 155 bytes) and `name` (≤ 100 bytes) at a `/`.
    private static func ustarSplit(_ name: [UInt8]) -> ([UInt8], [UInt8])? {
        guard name.count <= 155 + 1 + 100 else { return nil }
        let earliest = max(name.count - 101, 1)
        for index in earliest..<min(name.count - 1, 156) where name[index] == UInt8(ascii: "/") {
            return (Array(name[..<index]), Array(name[(index + 1)...]))
        }
        return nil
    }

    private func gnuLongEntry(_ text: [UInt8], type: UInt8) throws -> [UInt8] {
        try extendedEntry(name: TarFormat.gnuLongLinkName, type: type, data: text + [0])
    }

    /// A header of type `type` followed by `data`, padded: GNU long names and pax headers.
    private func extendedEntry(name: String, type: UInt8, data: [UInt8]) throws -> [UInt8] {
        var block = [UInt8](repeating: 0, count: TarFormat.blockSize)
        TarFormat.put(Array(name.utf8), into: &block, at: 0)
        _ = TarFormat.putOctal(type == TarFormat.paxLocal ? 0o644 : 0, into: &block, TarFormat.Field.mode)
        _ = TarFormat.putOctal(0, into: &block, TarFormat.Field.uid)
        _ = TarFormat.putOctal(0, into: &block, TarFormat.Field.gid)
        _ = TarFormat.putOctal(UInt64(data.count), into: &block, TarFormat.Field.size)
        _ = TarFormat.putOctal(0, into: &block, TarFormat.Field.mtime)
        block[TarFormat.Field.typeFlag] = type
        stampAndChecksum(&block)
        let padding = (TarFormat.blockSize - data.count % TarFormat.blockSize) % TarFormat.blockSize
        return block + data + [UInt8](repeating: 0, count: padding)
    }

    private func stampAndChecksum(_ block: inout [UInt8]) {
        TarFormat.put(format == .pax ? TarFormat.posixMagic : TarFormat.gnuMagic, into: &block, at: TarFormat.Field.magic.lowerBound)
        TarFormat.put(format == .pax ? TarFormat.posixVersion : TarFormat.gnuVersion, into: &block, at: TarFormat.Field.version.lowerBound)
        let sum = block.withUnsafeBytes { TarFormat.checksums($0).unsigned }
        // Six octal digits, NUL, space: the historical layout every reader accepts.
        _ = TarFormat.putOctal(UInt64(sum), into: &block, 148..<155)
        block[155] = UInt8(ascii: " ")
    }
}
