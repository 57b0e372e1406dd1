import CZlib

/// A gzip decompressor. Like `gzip -d`, it reads several members one after another
/// (`cat a.gz b.gz`) as one stream; unlike `gzip -d`, it refuses trailing garbage as corrupt
/// rather than warning, since in a repository object it means damage.
final class GzipDecompressor: CodecStream {
    private let stream = Zlib.allocateStream()
    private let output = UnsafeMutableRawBufferPointer.allocate(byteCount: Zlib.outputBufferSize, alignment: 16)
    /// True between the end of a member and the first byte of the next: the only state in
    /// which the input may end.
    private var atMemberEnd = false

    init() throws(CompressionError) {
        let result = inflateInit2_(stream, Zlib.gzipWindowBits, zlibVersion(), Int32(MemoryLayout<z_stream>.size))
        // A throw here still runs deinit (every property is set), and deflateEnd/inflateEnd
        // accept the stream that a failed init left without state.
        guard result == Z_OK else { throw .libraryFailure(.gzip, detail: Zlib.message(stream, result)) }
    }

    deinit {
        inflateEnd(stream)
        stream.deallocate()
        output.deallocate()
    }

    func update(_ input: UnsafeRawBufferPointer, into sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        guard let base = input.baseAddress, !input.isEmpty else { return }
        try Zlib.forEachSlice(of: UnsafeRawBufferPointer(start: base, count: input.count)) { slice in
            // zlib never writes through next_in; its type lacks `const` only for old compilers.
            stream.pointee.next_in = UnsafeMutablePointer(mutating: slice.baseAddress!.assumingMemoryBound(to: Bytef.self))
            stream.pointee.avail_in = UInt32(slice.count)
            try inflateAvailableInput(sink)
        }
        stream.pointee.next_in = nil
    }

    private func inflateAvailableInput(_ sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        while true {
            if atMemberEnd {
                guard stream.pointee.avail_in > 0 else { return }
                // More input after a member: the next member begins.
                inflateReset(stream)
                atMemberEnd = false
            }
            stream.pointee.next_out = output.baseAddress!.assumingMemoryBound(to: Bytef.self)
            stream.pointee.avail_out = UInt32(output.count)
            let result = inflate(stream, Z_NO_FLUSH)
            switch result {
            case Z_OK, Z_BUF_ERROR: break  // Z_BUF_ERROR: no progress possible, handled below.
            case Z_STREAM_END: atMemberEnd = true
            case Z_DATA_ERROR, Z_NEED_DICT: throw CompressionError.corrupt(.gzip, detail: Zlib.message(stream, result))
            default: throw CompressionError.libraryFailure(.gzip, detail: Zlib.message(stream, result))
            }
            let produced = output.count - Int(stream.pointee.avail_out)
            if produced > 0 {
                try sink(UnsafeRawBufferPointer(start: output.baseAddress, count: produced))
            }
            // A full buffer may leave output pending inside zlib: go round again even without input.
            if !atMemberEnd && stream.pointee.avail_in == 0 && stream.pointee.avail_out > 0 { return }
        }
    }

    func finish(into sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        guard atMemberEnd else { throw CompressionError.truncated(.gzip) }
    }
}
