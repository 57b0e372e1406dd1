/// A compression format, without a level: what a reader needs to decompress an object.
///
/// Repository object names end in the algorithm's file extension (`.zst`, `.gz`, `.raw`), so a
/// reader finds the algorithm from the name alone; the level matters only when writing.
public enum CompressionAlgorithm: String, Sendable, Hashable, Codable, CaseIterable, CustomStringConvertible {
    case none
    case gzip
    case zstd

    /// The repository file extension, without the dot: `zst`, `gz` or `raw`.
    public var fileExtension: String {
        switch self {
        case .none: "raw"
        case .gzip: "gz"
        case .zstd: "zst"
        }
    }

    /// The algorithm whose objects end in `.<fileExtension>` (`zst`, `gz`, `raw`; a leading dot
    /// is accepted).
    public init(fileExtension: some StringProtocol) throws(CompressionError) {
        let bare = fileExtension.hasPrefix(".") ? fileExtension.dropFirst() : fileExtension[...]
        guard let algorithm = Self.allCases.first(where: { $0.fileExtension == bare }) else {
            throw .unknownFileExtension(String(fileExtension))
        }
        self = algorithm
    }

    /// The levels pgbackup accepts, or nil for `none`.
    ///
    /// zstd: 1…19. Negative ("fast") levels are refused on purpose: level 1 already runs at about
    /// 800 MB/s per core on WAL (PITFALLS.md), so they would buy little speed for a much worse
    /// ratio; levels 20–22 ("ultra") need windows of up to 128 MiB on both sides, which breaks the
    /// bounded-memory promise. gzip: zlib's 1…9 (0 would store uncompressed: use `none`).
    public var levels: ClosedRange<Int>? {
        switch self {
        case .none: nil
        case .gzip: 1...9
        case .zstd: 1...19
        }
    }

    /// The level used when the configuration names the algorithm alone (`zstd`, `gzip`).
    ///
    /// 1 for both: compression is pgbackup's bottleneck, and level 1 is 3–4× faster than the
    /// libraries' own defaults (zstd 3, zlib 6) for an output only about 10% larger (PITFALLS.md).
    public var defaultLevel: Int? {
        switch self {
        case .none: nil
        case .gzip, .zstd: 1
        }
    }

    /// A decompressor for this format; it needs no level.
    public func makeDecompressor() throws(CompressionError) -> any CodecStream {
        switch self {
        case .none: IdentityStream()
        case .gzip: try GzipDecompressor()
        case .zstd: try ZstdDecompressor()
        }
    }

    public var description: String { rawValue }
}
