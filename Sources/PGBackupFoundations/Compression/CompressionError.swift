/// Why a compression setting was refused or a stream could not be (de)compressed.
///
/// The messages name the cause; callers that know the object add it around them
/// ("unable to restore '<object>': compressed stream is truncated ...").
public enum CompressionError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The setting is not `none`, `gzip`, `zstd`, `gzip:N` or `zstd:N`. Holds the text as given.
    case invalidSpecification(String)
    /// The level is outside `algorithm.levels`. Holds the setting as given.
    case invalidLevel(String, algorithm: CompressionAlgorithm)
    /// An object name ends in an extension that is not `zst`, `gz` or `raw`.
    case unknownFileExtension(String)
    /// The input ended inside a compressed stream (or held none at all).
    case truncated(CompressionAlgorithm)
    /// The input is not valid data of the format; `detail` is the library's own reason.
    case corrupt(CompressionAlgorithm, detail: String)
    /// The library could not set up or run a stream (in practice: out of memory).
    case libraryFailure(CompressionAlgorithm, detail: String)

    public var description: String {
        switch self {
        case .invalidSpecification(let text):
            return "invalid compression '\(text)': expected zstd, gzip or none, optionally with a level, e.g. zstd:3"
        case .invalidLevel(let text, let algorithm):
            let levels = algorithm.levels.map { "\($0.lowerBound)…\($0.upperBound)" } ?? "none"
            return "invalid compression '\(text)': \(algorithm) levels are \(levels) "
                + "(HINT: the default, \(algorithm), means \(algorithm):\(algorithm.defaultLevel ?? 0), the fastest)"
        case .unknownFileExtension(let ext):
            return "unknown compression file extension '\(ext)': expected zst, gz or raw"
        case .truncated(let algorithm):
            return "compressed stream is truncated: the \(algorithm) data ends before its end marker "
                + "(HINT: the object was cut short in writing or reading; compare its size with the manifest)"
        case .corrupt(let algorithm, let detail):
            return "compressed stream is corrupt: not valid \(algorithm) data (\(detail))"
        case .libraryFailure(let algorithm, let detail):
            return "unable to run the \(algorithm) codec: \(detail)"
        }
    }
}
