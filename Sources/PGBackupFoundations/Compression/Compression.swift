/// How pgbackup compresses what it writes: an algorithm and its level.
///
/// The configuration syntax (`PGBACKUP_COMPRESSION`, the config file, `backup.json`) is
/// `none`, `gzip`, `zstd`, or an algorithm with a level: `zstd:3`, `gzip:9`. The text form
/// printed by `description` and used by `Codable` always carries the level (`zstd:1`), so a
/// manifest records exactly what was used even if the default changes.
public enum Compression: Sendable, Hashable, CustomStringConvertible {
    case none
    /// gzip (RFC 1952) via zlib, level 1…9.
    case gzip(level: Int)
    /// Zstandard via libzstd, level 1…19 (see `CompressionAlgorithm.levels` for why not others).
    case zstd(level: Int)

    /// `zstd:1`: see `CompressionAlgorithm.defaultLevel`.
    public static let `default` = Compression.zstd(level: 1)

    /// Parses the configuration syntax: `none`, `gzip`, `zstd`, `gzip:N`, `zstd:N` (the name in
    /// any case; surrounding white space ignored).
    public init(parsing text: some StringProtocol) throws(CompressionError) {
        let start = text.firstIndex { !$0.isWhitespace } ?? text.endIndex
        let end = text.lastIndex { !$0.isWhitespace }.map { text.index(after: $0) } ?? start
        let parts = text[start..<end].split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
        guard let algorithm = CompressionAlgorithm(rawValue: parts[0].lowercased()) else {
            throw .invalidSpecification(String(text))
        }
        guard parts.count == 2 else {
            self.init(algorithm: algorithm, level: algorithm.defaultLevel)
            return
        }
        let levelText = parts[1]
        guard let levels = algorithm.levels else { throw .invalidSpecification(String(text)) }
        let digits = levelText.hasPrefix("-") ? levelText.dropFirst() : levelText[...]
        guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else {
            throw .invalidSpecification(String(text))
        }
        // Too many digits for Int is out of range too, not a syntax error.
        guard let level = Int(levelText), levels.contains(level) else {
            throw .invalidLevel(String(text), algorithm: algorithm)
        }
        self.init(algorithm: algorithm, level: level)
    }

    private init(algorithm: CompressionAlgorithm, level: Int?) {
        switch algorithm {
        case .none: self = .none
        case .gzip: self = .gzip(level: level ?? 1)
        case .zstd: self = .zstd(level: level ?? 1)
        }
    }

    public var algorithm: CompressionAlgorithm {
        switch self {
        case .none: .none
        case .gzip: .gzip
        case .zstd: .zstd
        }
    }

    /// The level, or nil for `none`.
    public var level: Int? {
        switch self {
        case .none: nil
        case .gzip(let level), .zstd(let level): level
        }
    }

    /// The repository file extension, without the dot: `zst`, `gz` or `raw`.
    public var fileExtension: String { algorithm.fileExtension }

    /// `none`, `gzip:N` or `zstd:N`; `Compression(parsing:)` reads it back.
    public var description: String {
        switch self {
        case .none: "none"
        case .gzip(let level): "gzip:\(level)"
        case .zstd(let level): "zstd:\(level)"
        }
    }

    /// Throws `CompressionError.invalidLevel` if a case was built in code with a level out of
    /// range (parsing never yields one).
    public func validate() throws(CompressionError) {
        if let level, let levels = algorithm.levels, !levels.contains(level) {
            throw .invalidLevel(description, algorithm: algorithm)
        }
    }

    /// The codec for this setting. Throws `CompressionError.invalidLevel` for an out-of-range
    /// level built in code.
    public func codec() throws(CompressionError) -> any Codec {
        try validate()
        switch self {
        case .none: return IdentityCodec()
        case .gzip(let level): return GzipCodec(validatedLevel: level)
        case .zstd(let level): return ZstdCodec(validatedLevel: level)
        }
    }

    /// A compressor for this setting.
    public func makeCompressor() throws(CompressionError) -> any CodecStream {
        try codec().makeCompressor()
    }

    /// A decompressor for this setting's algorithm (the level plays no part).
    public func makeDecompressor() throws(CompressionError) -> any CodecStream {
        try algorithm.makeDecompressor()
    }
}

extension Compression: JSONTextValue {
    public init(from decoder: any Decoder) throws { try self.init(jsonTextFrom: decoder) }
    public func encode(to encoder: any Encoder) throws { try encodeJSONText(to: encoder) }
    public init(jsonText text: String) throws { try self.init(parsing: text) }
}
