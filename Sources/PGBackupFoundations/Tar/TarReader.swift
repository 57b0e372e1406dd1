/// A push-style tar reader: feed it byte chunks of any size as they arrive and it reports
/// `TarEvent`s. Memory stays bounded by one header block plus the largest extended header
/// (`maximumExtendedHeaderSize`), whatever the entries' sizes: data is handed on without copying.
///
/// Reads ustar (`prefix` + `name`), GNU long names and links (`././@LongLink`, types `L`/`K`),
/// GNU base-256 numbers, and pax extended headers (`x` for the next entry, `g` for all following
/// ones: `path`, `linkpath`, `size`, `uid`, `gid`, `mtime`, `uname`, `gname`). Every header's
/// checksum is verified.
public struct TarReader: Sendable {
    private enum Extended: Sendable { case longName, longLink, pax, paxGlobal }

    private enum State: Sendable {
        /// Collecting a header block.
        case header
        /// Collecting the block after a zero block: the second half of the end marker.
        case afterZeroBlock
        case data(remaining: UInt64, padding: Int)
        case extended(Extended, remaining: UInt64, padding: Int)
        case padding(remaining: Int)
        case finished
    }

    /// Whether a stream that ends without the two zero blocks is complete. (PostgreSQL 15's
    /// `BASE_BACKUP` does end each archive with them: checked against a real server.)
    public let allowMissingEndMarker: Bool
    /// The largest pax or GNU long-name header accepted, in bytes.
    public let maximumExtendedHeaderSize: Int

    private var state = State.header
    private var block = [UInt8](repeating: 0, count: TarFormat.blockSize)
    private var blockFill = 0
    private var extendedData: [UInt8] = []
    /// Bytes consumed so far, for error messages.
    private var offset: UInt64 = 0
    private var headerOffset: UInt64 = 0
    private var longName: String?
    private var longLink: String?
    private var pax: [String: String] = [:]
    private var globalPax: [String: String] = [:]

    public init(allowMissingEndMarker: Bool = false, maximumExtendedHeaderSize: Int = 1 << 20) {
        self.allowMissingEndMarker = allowMissingEndMarker
        self.maximumExtendedHeaderSize = maximumExtendedHeaderSize
    }

    /// Whether the end of the archive has been reached (bytes fed after it are ignored).
    public var isFinished: Bool { if case .finished = state { return true } else { return false } }

    /// Consumes `bytes`, calling `handle` for each event they complete. Throws `TarError` for a
    /// malformed stream, and whatever `handle` throws; after any error, discard the reader.
    public mutating func feed(_ bytes: UnsafeRawBufferPointer, _ handle: (TarEvent) throws -> Void) throws {
        var index = 0
        while index < bytes.count {
            let available = bytes.count - index
            switch state {
            case .finished:
                // GNU tar pads archives to whole records with zeros after the end marker.
                offset += UInt64(available)
                return
            case .header, .afterZeroBlock:
                let count = min(TarFormat.blockSize - blockFill, available)
                block.withUnsafeMutableBytes { target in
                    target.baseAddress!.advanced(by: blockFill).copyMemory(from: bytes.baseAddress!.advanced(by: index), byteCount: count)
                }
                blockFill += count
                index += count
                offset += UInt64(count)
                if blockFill == TarFormat.blockSize {
                    blockFill = 0
                    headerOffset = offset - UInt64(TarFormat.blockSize)
                    try processBlock(handle)
                }
            case .data(let remaining, let padding):
                let count = Int(min(remaining, UInt64(available)))
                try handle(.data(UnsafeRawBufferPointer(rebasing: bytes[index..<(index + count)])))
                index += count
                offset += UInt64(count)
                if remaining == UInt64(count) {
                    state = padding > 0 ? .padding(remaining: padding) : .header
                    try handle(.endOfEntry)
                } else {
                    state = .data(remaining: remaining - UInt64(count), padding: padding)
                }
            case .extended(let kind, let remaining, let padding):
                let count = Int(min(remaining, UInt64(available)))
                extendedData.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[index..<(index + count)]))
                index += count
                offset += UInt64(count)
                if remaining == UInt64(count) {
                    state = padding > 0 ? .padding(remaining: padding) : .header
                    try applyExtended(kind)
                } else {
                    state = .extended(kind, remaining: remaining - UInt64(count), padding: padding)
                }
            case .padding(let remaining):
                let count = min(remaining, available)
                index += count
                offset += UInt64(count)
                state = remaining == count ? .header : .padding(remaining: remaining - count)
            }
        }
    }

    /// Feeds the bytes of a collection (convenience for `feed(_:_:)`).
    public mutating func feed(_ bytes: some Collection<UInt8>, _ handle: (TarEvent) throws -> Void) throws {
        if let done = try bytes.withContiguousStorageIfAvailable({ buffer in
            try feed(UnsafeRawBufferPointer(buffer), handle)
        }) { return done }
        try Array(bytes).withUnsafeBytes { try feed($0, handle) }
    }

    /// Declares the end of the stream. Reports `endOfArchive` if it has not been reported yet and
    /// the stream may end here; throws `TarError.truncated` otherwise.
    public mutating func finish(_ handle: (TarEvent) throws -> Void) throws {
        switch state {
        case .finished:
            return
        case .header, .afterZeroBlock:
            guard blockFill == 0 else {
                throw TarError.truncated(offset: offset, detail: "inside a header block (\(blockFill) of 512 bytes)")
            }
            guard longName == nil, longLink == nil, pax.isEmpty else {
                throw TarError.truncated(offset: offset, detail: "after an extended header, before its entry")
            }
            guard allowMissingEndMarker else {
                throw TarError.truncated(offset: offset, detail: "without the two zero blocks that end a tar archive")
            }
            state = .finished
            try handle(.endOfArchive)
        case .data(let remaining, _):
            throw TarError.truncated(offset: offset, detail: "with \(remaining) bytes of the current entry missing")
        case .extended(_, let remaining, _):
            throw TarError.truncated(offset: offset, detail: "with \(remaining) bytes of an extended header missing")
        case .padding(let remaining):
            throw TarError.truncated(offset: offset, detail: "with \(remaining) bytes of padding missing")
        }
    }

    private mutating func processBlock(_ handle: (TarEvent) throws -> Void) throws {
        let isZero = block.allSatisfy { $0 == 0 }
        if case .afterZeroBlock = state {
            guard isZero else { throw TarError.nonZeroBlockAfterZeroBlock(offset: headerOffset) }
            state = .finished
            try handle(.endOfArchive)
            return
        }
        if isZero {
            state = .afterZeroBlock
            return
        }
        let header = try block.withUnsafeBytes { try parseHeader($0) }
        guard let header else { return }
        try handle(.header(header))
        if header.size == 0 {
            try handle(.endOfEntry)
        } else {
            state = .data(remaining: header.size, padding: Self.padding(header.size))
        }
    }

    private static func padding(_ size: UInt64) -> Int {
        Int((UInt64(TarFormat.blockSize) - size % UInt64(TarFormat.blockSize)) % UInt64(TarFormat.blockSize))
    }

    /// The entry's header, or nil for an extended header (whose data is collected next).
    private mutating func parseHeader(_ raw: UnsafeRawBufferPointer) throws -> TarHeader? {
        let stored = try number(raw, TarFormat.Field.checksum, "checksum")
        let sums = TarFormat.checksums(raw)
        guard stored == Int64(sums.unsigned) || stored == Int64(sums.signed) else {
            throw TarError.checksumMismatch(offset: headerOffset, stored: UInt32(truncatingIfNeeded: stored), computed: sums.unsigned)
        }
        let flag = raw[TarFormat.Field.typeFlag]
        let sizeField = try number(raw, TarFormat.Field.size, "size")
        guard sizeField >= 0 else {
            throw TarError.invalidNumericField(offset: headerOffset, field: "size", text: String(sizeField))
        }
        let extended: Extended? = switch flag {
        case TarFormat.gnuLongName: .longName
        case TarFormat.gnuLongLink: .longLink
        case TarFormat.paxLocal: .pax
        case TarFormat.paxGlobal: .paxGlobal
        default: nil
        }
        if let extended {
            guard sizeField <= maximumExtendedHeaderSize else {
                throw TarError.extendedHeaderTooLarge(offset: headerOffset, size: UInt64(sizeField), limit: maximumExtendedHeaderSize)
            }
            extendedData.removeAll(keepingCapacity: true)
            if sizeField == 0 {
                try applyExtended(extended)
            } else {
                state = .extended(extended, remaining: UInt64(sizeField), padding: Self.padding(UInt64(sizeField)))
            }
            return nil
        }

        let magic = Array(raw[TarFormat.Field.magic])
        var name = TarFormat.string(raw, TarFormat.Field.name)
        if magic == TarFormat.posixMagic {
            let prefix = TarFormat.string(raw, TarFormat.Field.prefix)
            if !prefix.isEmpty { name = prefix + "/" + name }
        }
        // An empty pax value cancels the keyword (e.g. a local `path=` undoing a global one).
        let attributes = globalPax.merging(pax) { _, local in local }.filter { !$0.value.isEmpty }
        if let path = attributes["path"] { name = path }
        if let long = longName { name = long }
        var linkTarget = TarFormat.string(raw, TarFormat.Field.linkName)
        if let path = attributes["linkpath"] { linkTarget = path }
        if let long = longLink { linkTarget = long }

        let type = TarEntryType(flag: flag)
        var header = TarHeader(
            name: name, type: type,
            mode: UInt32(truncatingIfNeeded: try number(raw, TarFormat.Field.mode, "mode") & 0o7777),
            uid: UInt64(clamping: try number(raw, TarFormat.Field.uid, "uid")),
            gid: UInt64(clamping: try number(raw, TarFormat.Field.gid, "gid")),
            size: UInt64(sizeField),
            modificationTime: try number(raw, TarFormat.Field.mtime, "mtime"),
            linkTarget: linkTarget,
            userName: TarFormat.string(raw, TarFormat.Field.userName),
            groupName: TarFormat.string(raw, TarFormat.Field.groupName)
        )
        try apply(attributes, to: &header)
        if type.isHeaderOnly { header.size = 0 }
        if type == .directory {
            while header.name.count > 1, header.name.hasSuffix("/") { header.name.removeLast() }
        }
        longName = nil
        longLink = nil
        pax = [:]
        return header
    }

    private func apply(_ attributes: [String: String], to header: inout TarHeader) throws {
        func integer(_ key: String) throws -> UInt64? {
            guard let text = attributes[key] else { return nil }
            guard let value = UInt64(text) else {
                throw TarError.invalidPaxRecord(offset: headerOffset, detail: "\(key)=\(text) is not a non-negative integer")
            }
            return value
        }
        if let size = try integer("size") { header.size = size }
        if let uid = try integer("uid") { header.uid = uid }
        if let gid = try integer("gid") { header.gid = gid }
        if let text = attributes["mtime"] {
            // Seconds with an optional fraction, possibly negative; the fraction is dropped.
            let whole = text.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            guard let seconds = Int64(whole) else {
                throw TarError.invalidPaxRecord(offset: headerOffset, detail: "mtime=\(text) is not a time in seconds")
            }
            header.modificationTime = seconds
        }
        if let name = attributes["uname"] { header.userName = name }
        if let name = attributes["gname"] { header.groupName = name }
    }

    private mutating func applyExtended(_ kind: Extended) throws {
        switch kind {
        case .longName, .longLink:
            // GNU stores the name NUL-terminated; the size counts the NUL.
            let end = extendedData.firstIndex(of: 0) ?? extendedData.endIndex
            let text = String(decoding: extendedData[..<end], as: UTF8.self)
            if kind == .longName { longName = text } else { longLink = text }
        case .pax, .paxGlobal:
            switch TarFormat.paxRecords(extendedData) {
            case .failure(let failure):
                throw TarError.invalidPaxRecord(offset: headerOffset, detail: failure.detail)
            case .success(let records):
                for (key, value) in records {
                    if kind == .pax { pax[key] = value } else { globalPax[key] = value }
                }
            }
        }
        extendedData.removeAll(keepingCapacity: extendedData.capacity <= 64 << 10)
    }

    private func number(_ raw: UnsafeRawBufferPointer, _ range: Range<Int>, _ field: String) throws -> Int64 {
        guard let value = TarFormat.number(raw, range) else {
            throw TarError.invalidNumericField(offset: headerOffset, field: field, text: TarFormat.string(raw, range))
        }
        return value
    }
}
