/// The kind of a tar entry (the header's type flag).
public enum TarEntryType: Hashable, Sendable, CustomStringConvertible {
    /// `'0'`, or NUL in pre-POSIX archives, or `'7'` (contiguous file, read as a regular file).
    case file
    case directory
    case symlink
    /// `'1'`: a hard link to an earlier entry named by the link target; no data.
    case hardLink
    /// Anything else (devices, FIFOs, GNU extensions), by its type flag.
    case other(UInt8)

    init(flag: UInt8) {
        switch flag {
        case UInt8(ascii: "0"), 0, UInt8(ascii: "7"): self = .file
        case UInt8(ascii: "5"): self = .directory
        case UInt8(ascii: "2"): self = .symlink
        case UInt8(ascii: "1"): self = .hardLink
        default: self = .other(flag)
        }
    }

    var flag: UInt8 {
        switch self {
        case .file: return UInt8(ascii: "0")
        case .directory: return UInt8(ascii: "5")
        case .symlink: return UInt8(ascii: "2")
        case .hardLink: return UInt8(ascii: "1")
        case .other(let flag): return flag
        }
    }

    /// Types whose header never has data blocks after it, whatever the size field says
    /// (as Go's archive/tar and GNU tar read them).
    var isHeaderOnly: Bool {
        switch self {
        case .directory, .symlink, .hardLink: return true
        case .other(let flag): return [UInt8(ascii: "3"), UInt8(ascii: "4"), UInt8(ascii: "6")].contains(flag)
        case .file: return false
        }
    }

    public var description: String {
        switch self {
        case .file: return "file"
        case .directory: return "directory"
        case .symlink: return "symlink"
        case .hardLink: return "hard link"
        case .other(let flag): return "type '\(Character(Unicode.Scalar(flag)))'"
        }
    }
}
