/// A SHA-256 digest: 32 bytes held inline (no allocation), printed and encoded as 64
/// lower-case hex digits, as `sha256sum` prints it. Orders like its hex text.
///
/// Named like swift-crypto's own `SHA256Digest`: a file that imports both `Crypto` and this
/// module writes `PGBackupFoundations.SHA256Digest`.
public struct SHA256Digest: Sendable, Hashable, Comparable, CustomStringConvertible {
    // Big-endian words, so that comparing them compares the bytes in order.
    private var words: (UInt64, UInt64, UInt64, UInt64)

    /// From exactly 32 bytes; nil for any other count.
    public init?(bytes: some Collection<UInt8>) {
        guard bytes.count == 32 else { return nil }
        let array = Array(bytes)
        self = array.withUnsafeBytes { SHA256Digest(digestBytes: $0) }
    }

    /// From 64 hex digits, either case; nil for anything else.
    public init?(hex: some StringProtocol) {
        let utf8 = Array(hex.utf8)
        guard utf8.count == 64 else { return nil }
        var bytes = [UInt8](repeating: 0, count: 32)
        for index in 0..<32 {
            guard let high = Self.nibble(utf8[2 * index]), let low = Self.nibble(utf8[2 * index + 1]) else { return nil }
            bytes[index] = high << 4 | low
        }
        self.init(bytes: bytes)
    }

    /// `raw` holds exactly 32 bytes.
    init(digestBytes raw: UnsafeRawBufferPointer) {
        precondition(raw.count == 32, "a SHA-256 digest has 32 bytes")
        func word(_ offset: Int) -> UInt64 { UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self)) }
        words = (word(0), word(8), word(16), word(24))
    }

    /// The 32 bytes.
    public var bytes: [UInt8] {
        var result: [UInt8] = []
        result.reserveCapacity(32)
        for word in [words.0, words.1, words.2, words.3] {
            for shift in stride(from: 56, through: 0, by: -8) { result.append(UInt8(truncatingIfNeeded: word >> UInt64(shift))) }
        }
        return result
    }

    /// 64 lower-case hex digits.
    public var description: String {
        let digits = Array("0123456789abcdef".utf8)
        return String(unsafeUninitializedCapacity: 64) { buffer in
            for (index, byte) in bytes.enumerated() {
                buffer[2 * index] = digits[Int(byte >> 4)]
                buffer[2 * index + 1] = digits[Int(byte & 0x0F)]
            }
            return 64
        }
    }

    public static func == (lhs: SHA256Digest, rhs: SHA256Digest) -> Bool {
        lhs.words == rhs.words
    }

    public static func < (lhs: SHA256Digest, rhs: SHA256Digest) -> Bool {
        lhs.words < rhs.words
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(words.0)
        hasher.combine(words.1)
        hasher.combine(words.2)
        hasher.combine(words.3)
    }

    private static func nibble(_ character: UInt8) -> UInt8? {
        switch character {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): character - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): character - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): character - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

extension SHA256Digest: JSONTextValue {
    public init(from decoder: any Decoder) throws { try self.init(jsonTextFrom: decoder) }
    public func encode(to encoder: any Encoder) throws { try encodeJSONText(to: encoder) }
    public init(jsonText text: String) throws {
        guard let digest = SHA256Digest(hex: text) else {
            throw InvalidTextValue("'\(text)' is not a SHA-256 digest (expected 64 hex digits)")
        }
        self = digest
    }
}
