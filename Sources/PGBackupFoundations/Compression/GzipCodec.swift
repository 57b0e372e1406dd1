import CZlib

/// gzip (RFC 1952) via zlib's deflate/inflate (extension `gz`).
public struct GzipCodec: Codec {
    public let level: Int

    /// Throws `CompressionError.invalidLevel` unless `level` is in 1…9.
    public init(level: Int = CompressionAlgorithm.gzip.defaultLevel!) throws(CompressionError) {
        try Compression.gzip(level: level).validate()
        self.level = level
    }

    init(validatedLevel level: Int) { self.level = level }

    public var compression: Compression { .gzip(level: level) }

    public func makeCompressor() throws(CompressionError) -> any CodecStream {
        try GzipCompressor(level: Int32(level))
    }

    public func makeDecompressor() throws(CompressionError) -> any CodecStream {
        try GzipDecompressor()
    }
}

/// What deflate and inflate share.
enum Zlib {
    /// windowBits for a gzip header and trailer (instead of zlib's) with the largest window.
    static let gzipWindowBits: Int32 = 15 + 16
    /// Output buffer size: large enough that the per-call overhead vanishes, small and fixed.
    static let outputBufferSize = 128 * 1024
    /// `avail_in` is 32 bits wide: larger inputs are fed in slices of this size.
    static let maximumSlice = 1 << 30

    /// A zeroed z_stream at a fixed address: zlib keeps a pointer back to it in its state and
    /// refuses (Z_STREAM_ERROR) a stream that has moved, so it cannot live in a Swift struct.
    static func allocateStream() -> UnsafeMutablePointer<z_stream> {
        let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
        stream.initialize(to: z_stream())
        return stream
    }

    /// The stream's message (`msg`) if zlib set one, else a description of the return code.
    static func message(_ stream: UnsafeMutablePointer<z_stream>, _ code: Int32) -> String {
        if let message = stream.pointee.msg { return String(cString: message) }
        switch code {
        case Z_MEM_ERROR: return "out of memory"
        case Z_DATA_ERROR: return "invalid data"
        case Z_NEED_DICT: return "needs a preset dictionary, which gzip data never does"
        case Z_STREAM_ERROR: return "inconsistent stream state"
        case Z_VERSION_ERROR: return "incompatible zlib version"
        default: return "zlib error \(code)"
        }
    }

    /// Calls `body` with slices of `input` short enough for `avail_in`.
    static func forEachSlice(of input: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) throws -> Void) rethrows {
        var start = 0
        repeat {
            let end = min(input.count, start + maximumSlice)
            try body(UnsafeRawBufferPointer(rebasing: input[start..<end]))
            start = end
        } while start < input.count
    }
}
