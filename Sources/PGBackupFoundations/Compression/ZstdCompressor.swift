import CZstd

/// A zstd compressor: one frame per stream, with a content checksum (as the `zstd` tool writes
/// by default) so that a reader detects corruption even in stored (incompressible) blocks.
final class ZstdCompressor: CodecStream {
    private let context: OpaquePointer
    private let output: UnsafeMutableRawBufferPointer

    init(level: Int32) throws(CompressionError) {
        guard let context = ZSTD_createCCtx() else {
            throw .libraryFailure(.zstd, detail: "out of memory creating a compression context")
        }
        self.context = context
        // ZSTD_CStreamOutSize is enough to flush at least one whole block per call.
        output = .allocate(byteCount: ZSTD_CStreamOutSize(), alignment: 16)
        for (parameter, value) in [(ZSTD_c_compressionLevel, level), (ZSTD_c_checksumFlag, 1)] {
            let result = ZSTD_CCtx_setParameter(context, parameter, value)
            if ZSTD_isError(result) != 0 {
                throw .libraryFailure(.zstd, detail: zstdErrorName(result))
            }
        }
    }

    deinit {
        ZSTD_freeCCtx(context)
        output.deallocate()
    }

    func update(_ input: UnsafeRawBufferPointer, into sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        var source = ZSTD_inBuffer(src: input.baseAddress, size: input.count, pos: 0)
        while source.pos < source.size {
            _ = try step(&source, ZSTD_e_continue, sink)
        }
    }

    func finish(into sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        var source = ZSTD_inBuffer(src: nil, size: 0, pos: 0)
        // ZSTD_e_end returns the number of bytes still to flush: 0 once the frame is complete.
        while try step(&source, ZSTD_e_end, sink) != 0 {}
    }

    /// One ZSTD_compressStream2 call into the output buffer; hands over what it produced.
    private func step(
        _ source: inout ZSTD_inBuffer, _ directive: ZSTD_EndDirective, _ sink: (UnsafeRawBufferPointer) throws -> Void
    ) throws -> Int {
        var destination = ZSTD_outBuffer(dst: output.baseAddress, size: output.count, pos: 0)
        let result = ZSTD_compressStream2(context, &destination, &source, directive)
        if ZSTD_isError(result) != 0 {
            throw CompressionError.libraryFailure(.zstd, detail: zstdErrorName(result))
        }
        if destination.pos > 0 {
            try sink(UnsafeRawBufferPointer(rebasing: output[..<destination.pos]))
        }
        return result
    }
}
