/// What every object pgbackup stores carries at its end: the SHA-256 and the length of its
/// *uncompressed* content (DESIGN.md, invariant 3). The object verifies itself: no second object,
/// and the seal is written in the same atomic put as the content.
///
/// ## Format (version 1)
///
/// The 48-byte **seal payload**, the same for every algorithm:
///
/// | offset | size | content |
/// | --- | --- | --- |
/// | 0 | 8 | the tag `50 47 42 53 45 41 4C 01`: ASCII `PGBSEAL`, then the format version 1 |
/// | 8 | 32 | SHA-256 of the uncompressed content |
/// | 40 | 8 | length of the uncompressed content in bytes, unsigned 64-bit little-endian |
///
/// It travels in a **trailer** appended after the compressed content, in a form the format's
/// standard tool skips, so `zstd -d` / `gzip -d` of a sealed object give exactly the content:
///
/// - `zstd` (56 bytes): a zstd *skippable frame*: magic `0x184D2A5B` (little-endian:
///   `5B 2A 4D 18`), frame size 48 (`30 00 00 00`), the payload.
/// - `gzip` (74 bytes): an *empty gzip member* whose header carries the payload in an FEXTRA
///   subfield: `1F 8B 08 04` (deflate, FLG = FEXTRA), MTIME `00 00 00 00`, XFL `00`, OS `FF`,
///   XLEN 52 (`34 00`), subfield id `50 42` ("PB"), subfield length 48 (`30 00`), the payload,
///   then the empty deflate stream `03 00`, CRC-32 `00 00 00 00` and ISIZE `00 00 00 00`.
/// - `none` (48 bytes): the payload itself, appended after the content. Any tool sees it as
///   content: `head -c -48 object | sha256sum` checks a raw object by hand.
///
/// Every byte of a trailer is fixed but the digest and the length, and a reader takes the last
/// `trailerSize` bytes of the stored stream as the trailer: anything else there is "no seal".
public struct ObjectSeal: Sendable, Hashable, CustomStringConvertible {
    /// SHA-256 of the uncompressed content.
    public var sha256: SHA256Digest
    /// Length of the uncompressed content in bytes.
    public var length: UInt64

    public init(sha256: SHA256Digest, length: UInt64) {
        self.sha256 = sha256
        self.length = length
    }

    /// The payload's first 8 bytes: `PGBSEAL` and the format version.
    public static let tag: [UInt8] = Array("PGBSEAL".utf8) + [1]
    /// The payload's size: tag, digest, length.
    public static let payloadSize = 8 + 32 + 8
    /// The zstd skippable-frame magic number pgbackup uses (any of 0x184D2A50…5F is skippable).
    public static let zstdSkippableMagic: UInt32 = 0x184D_2A5B
    /// The FEXTRA subfield id of the gzip seal member.
    public static let gzipSubfieldID: [UInt8] = [UInt8(ascii: "P"), UInt8(ascii: "B")]

    public var description: String { "sha256=\(sha256) length=\(length)" }

    /// The seal payload (48 bytes).
    public var payload: [UInt8] {
        var bytes = Self.tag
        bytes.reserveCapacity(Self.payloadSize)
        bytes += sha256.bytes
        bytes += littleEndianBytes(length)
        return bytes
    }

    /// The payload's seal, or nil unless `bytes` is exactly a version-1 payload.
    public init?(payload bytes: some Collection<UInt8>) {
        let bytes = Array(bytes)
        guard bytes.count == Self.payloadSize, bytes.starts(with: Self.tag),
              let digest = SHA256Digest(bytes: bytes[8..<40]) else { return nil }
        var length: UInt64 = 0
        for (index, byte) in bytes[40..<48].enumerated() { length |= UInt64(byte) << (8 * UInt64(index)) }
        self.init(sha256: digest, length: length)
    }

    /// The number of bytes the trailer adds to an object of `algorithm`.
    public static func trailerSize(for algorithm: CompressionAlgorithm) -> Int {
        switch algorithm {
        case .none: payloadSize
        case .zstd: 8 + payloadSize
        case .gzip: gzipHeaderBeforePayload.count + payloadSize + gzipAfterPayload.count
        }
    }

    /// The trailer that seals an object of `algorithm` (see the type's documentation).
    public func trailer(for algorithm: CompressionAlgorithm) -> [UInt8] {
        switch algorithm {
        case .none:
            return payload
        case .zstd:
            return littleEndianBytes(Self.zstdSkippableMagic) + littleEndianBytes(UInt32(Self.payloadSize)) + payload
        case .gzip:
            return Self.gzipHeaderBeforePayload + payload + Self.gzipAfterPayload
        }
    }

    /// Reads the seal from an object's trailer: the last `trailerSize(for:)` bytes of the stored
    /// stream. Nil unless they are exactly a trailer of `algorithm`.
    public init?(trailer bytes: some Collection<UInt8>, algorithm: CompressionAlgorithm) {
        let bytes = Array(bytes)
        guard bytes.count == Self.trailerSize(for: algorithm) else { return nil }
        let payload: ArraySlice<UInt8>
        switch algorithm {
        case .none:
            payload = bytes[...]
        case .zstd:
            let header = littleEndianBytes(Self.zstdSkippableMagic) + littleEndianBytes(UInt32(Self.payloadSize))
            guard bytes.starts(with: header) else { return nil }
            payload = bytes[8...]
        case .gzip:
            let before = Self.gzipHeaderBeforePayload, after = Self.gzipAfterPayload
            guard bytes.starts(with: before), bytes.suffix(after.count).elementsEqual(after) else { return nil }
            payload = bytes[before.count..<(bytes.count - after.count)]
        }
        self.init(payload: payload)
    }

    /// The seal of `content` (for small objects and tests; streams use `ObjectSealer`).
    public init(of content: some Collection<UInt8>) {
        let array = Array(content)
        self.init(sha256: SHA256Hasher.hash(array), length: UInt64(array.count))
    }

    /// RFC 1952 member header with FEXTRA, up to the subfield's data.
    private static let gzipHeaderBeforePayload: [UInt8] = [
        0x1F, 0x8B, 0x08, 0x04,  // ID1 ID2, CM = deflate, FLG = FEXTRA
        0x00, 0x00, 0x00, 0x00,  // MTIME: none
        0x00, 0xFF,  // XFL, OS = unknown
    ] + littleEndianBytes(UInt16(4 + payloadSize))  // XLEN: one subfield header + payload
        + gzipSubfieldID + littleEndianBytes(UInt16(payloadSize))

    /// An empty deflate stream (one final fixed-Huffman block holding only end-of-block), then
    /// the member trailer: CRC-32 and ISIZE of nothing.
    private static let gzipAfterPayload: [UInt8] = [0x03, 0x00, 0, 0, 0, 0, 0, 0, 0, 0]
}

private func littleEndianBytes<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
    (0..<(T.bitWidth / 8)).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) }
}
