import CZlib

/// A gzip compressor: one member per stream, which `gzip -d` reads.
final class GzipCompressor: CodecStream {
    private let stream = Zlib.allocateStream()
    private let output = UnsafeMutableRawBufferPointer.allocate(byteCount: Zlib.outputBufferSize, alignment: 16)

    init(level: Int32) throws(CompressionError) {
        // deflateInit2 is a macro; deflateInit2_ is what it expands to.
        let result = deflateInit2_(
            stream, level, Z_DEFLATED, Zlib.gzipWindowBits, 8, Z_DEFAULT_STRATEGY,
            zlibVersion(), Int32(MemoryLayout<z_stream>.size)
        )
        // A throw here still runs deinit (every property is set), and deflateEnd/inflateEnd
        // accept the stream that a failed init left without state.
        guard result == Z_OK else { throw .libraryFailure(.gzip, detail: Zlib.message(stream, result)) }
    }

    deinit {
        deflateEnd(stream)
        stream.deallocate()
        output.deallocate()
    }

    func update(_ input: UnsafeRawBufferPointer, into sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        guard let base = input.baseAddress, !input.isEmpty else { return }
        try Zlib.forEachSlice(of: UnsafeRawBufferPointer(start: base, count: input.count)) { slice in
            // zlib never writes through next_in; its type lacks `const` only for old compilers.
            stream.pointee.next_in = UnsafeMutablePointer(mutating: slice.baseAddress!.assumingMemoryBound(to: Bytef.self))
            stream.pointee.avail_in = UInt32(slice.count)
            // Deflate until it has taken all the input and had room to spare in its last call.
            repeat {
                _ = try step(Z_NO_FLUSH, sink)
            } while stream.pointee.avail_in > 0 || stream.pointee.avail_out == 0
        }
        stream.pointee.next_in = nil
    }

    func finish(into sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        stream.pointee.next_in = nil
        stream.pointee.avail_in = 0
        while try step(Z_FINISH, sink) != Z_STREAM_END {}
    }

    private func step(_ flush: Int32, _ sink: (UnsafeRawBufferPointer) throws -> Void) throws -> Int32 {
        stream.pointee.next_out = output.baseAddress!.assumingMemoryBound(to: Bytef.self)
        stream.pointee.avail_out = UInt32(output.count)
        let result = deflate(stream, flush)
        // Z_BUF_ERROR only says no progress was possible in this call, which the loops handle.
        guard result == Z_OK || result == Z_STREAM_END || result == Z_BUF_ERROR else {
            throw CompressionError.libraryFailure(.gzip, detail: Zlib.message(stream, result))
        }
        let produced = output.count - Int(stream.pointee.avail_out)
        if produced > 0 {
            try sink(UnsafeRawBufferPointer(start: output.baseAddress, count: produced))
        }
        return result
    }
}
