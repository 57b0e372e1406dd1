/// Why a tar stream could not be read or written. Offsets count bytes from the start of the stream.
public enum TarError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The header's checksum field does not match its bytes.
    case checksumMismatch(offset: UInt64, stored: UInt32, computed: UInt32)
    /// A numeric header field holds neither octal digits nor a base-256 number.
    case invalidNumericField(offset: UInt64, field: String, text: String)
    /// A pax extended header record is not `<length> <key>=<value>\n`, or a value is invalid.
    case invalidPaxRecord(offset: UInt64, detail: String)
    /// A pax or GNU long-name header is larger than the reader accepts.
    case extendedHeaderTooLarge(offset: UInt64, size: UInt64, limit: Int)
    /// A zero block was followed by a non-zero block, instead of the second zero block of the end marker.
    case nonZeroBlockAfterZeroBlock(offset: UInt64)
    /// The stream ended inside an entry, or without the two zero blocks that end an archive.
    case truncated(offset: UInt64, detail: String)
    /// Writing: the value does not fit the format (e.g. a name containing NUL).
    case unrepresentable(name: String, detail: String)
    /// Writing: the entry's data did not match the size its header declared.
    case sizeMismatch(name: String, declared: UInt64, written: UInt64)
    /// Writing: the call came in the wrong order (e.g. data without a header).
    case misuse(String)

    public var description: String {
        switch self {
        case .checksumMismatch(let offset, let stored, let computed):
            return "unable to read tar stream: header at byte \(offset) has checksum \(stored) but its bytes sum to"
                + " \(computed); the archive is corrupted or is not a tar archive"
        case .invalidNumericField(let offset, let field, let text):
            return "unable to read tar stream: header at byte \(offset) has an invalid \(field) field '\(text)'"
        case .invalidPaxRecord(let offset, let detail):
            return "unable to read tar stream: pax extended header at byte \(offset) is malformed: \(detail)"
        case .extendedHeaderTooLarge(let offset, let size, let limit):
            return "unable to read tar stream: extended header at byte \(offset) is \(size) bytes, more than the"
                + " \(limit) bytes accepted"
        case .nonZeroBlockAfterZeroBlock(let offset):
            return "unable to read tar stream: a zero block is followed by a non-zero block at byte \(offset);"
                + " the archive is corrupted"
        case .truncated(let offset, let detail):
            return "unable to read tar stream: it ends at byte \(offset) \(detail); the archive is truncated"
        case .unrepresentable(let name, let detail):
            return "unable to write tar entry '\(name)': \(detail)"
        case .sizeMismatch(let name, let declared, let written):
            return "unable to write tar entry '\(name)': its header declares \(declared) bytes but \(written) were written"
        case .misuse(let detail):
            return "unable to write tar stream: \(detail)"
        }
    }
}
