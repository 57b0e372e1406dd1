import CZstd

/// A zstd decompressor. ZSTD_decompressStream starts the next frame by itself when input
/// continues after one, so concatenated frames (`cat a.zst b.zst`, the tool's multi-frame
/// output, skippable frames) decode as one stream.
final class ZstdDecompressor: CodecStream {
    private let context: OpaquePointer
    private let output: UnsafeMutableRawBufferPointer
    /// ZSTD_decompressStream's last result: 0 exactly when a frame has just been completed and
    /// flushed; nil before any input.
    private var lastResult: Int?

    init() throws(CompressionError) {
        guard let context = ZSTD_createDCtx() else {
            throw .libraryFailure(.zstd, detail: "out of memory creating a decompression context")
        }
        self.context = context
        // ZSTD_DStreamOutSize: one whole block (128 KiB), the most one call needs to make progress.
        output = .allocate(byteCount: ZSTD_DStreamOutSize(), alignment: 16)
        // The default window limit (2^27, 128 MiB) stays: it caps a hostile frame's memory.
    }

    deinit {
        ZSTD_freeDCtx(context)
        output.deallocate()
    }

    func update(_ input: UnsafeRawBufferPointer, into sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        var source = ZSTD_inBuffer(src: input.baseAddress, size: input.count, pos: 0)
        // A full output buffer may leave decoded data inside the context: call again until the
        // input is used up and a call returns with room to spare.
        var outputFull = false
        while source.pos < source.size || outputFull {
            var destination = ZSTD_outBuffer(dst: output.baseAddress, size: output.count, pos: 0)
            let consumedBefore = source.pos
            let result = ZSTD_decompressStream(context, &destination, &source)
            if ZSTD_isError(result) != 0 {
                throw CompressionError.corrupt(.zstd, detail: zstdErrorName(result))
            }
            // After a frame ends, a call without input reports the header size of a next frame
            // that may never come: only a call that did something tells where the stream is.
            if destination.pos > 0 || source.pos > consumedBefore {
                lastResult = result
            }
            if destination.pos > 0 {
                try sink(UnsafeRawBufferPointer(rebasing: output[..<destination.pos]))
            }
            outputFull = destination.pos == destination.size
        }
    }

    func finish(into sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        // update() already drained everything decodable; anything but "frame complete" means
        // the input stopped inside a frame (or never started one).
        guard lastResult == 0 else { throw CompressionError.truncated(.zstd) }
    }
}
