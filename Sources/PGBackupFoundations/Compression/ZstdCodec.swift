import CZstd

/// Zstandard via libzstd's streaming API (extension `zst`).
public struct ZstdCodec: Codec {
    public let level: Int

    /// Throws `CompressionError.invalidLevel` unless `level` is in 1…19.
    public init(level: Int = CompressionAlgorithm.zstd.defaultLevel!) throws(CompressionError) {
        try Compression.zstd(level: level).validate()
        self.level = level
    }

    init(validatedLevel level: Int) { self.level = level }

    public var compression: Compression { .zstd(level: level) }

    public func makeCompressor() throws(CompressionError) -> any CodecStream {
        try ZstdCompressor(level: Int32(level))
    }

    public func makeDecompressor() throws(CompressionError) -> any CodecStream {
        try ZstdDecompressor()
    }
}

/// ZSTD_getErrorName for a result that ZSTD_isError flags.
func zstdErrorName(_ code: Int) -> String {
    String(cString: ZSTD_getErrorName(code))
}
