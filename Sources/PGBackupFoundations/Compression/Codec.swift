#if canImport(FoundationEssentials)
import FoundationEssentials  // ContiguousBytes
#else
import Foundation
#endif

/// One compression format: a `Sendable` description that makes streams.
///
/// Every implementation passes the shared conformance suite (`CodecConformanceTests`), which
/// checks it against the real `gzip`/`zstd` command-line tools.
public protocol Codec: Sendable {
    var compression: Compression { get }
    /// A new compressor. Its output is a complete stream that the format's command-line tool
    /// (`zstd -d`, `gzip -d`) decompresses.
    func makeCompressor() throws(CompressionError) -> any CodecStream
    /// A new decompressor. It accepts what the format's command-line tool writes, including
    /// several frames or members one after another (`cat a.zst b.zst`).
    func makeDecompressor() throws(CompressionError) -> any CodecStream
}

/// A streaming compressor or decompressor: feed input chunk by chunk with `update`, then call
/// `finish` once.
///
/// Contract for every implementation:
/// - Output goes to `sink` in pieces as soon as it is ready. A piece is valid only during the
///   call; copy it to keep it. A piece never exceeds the stream's fixed output buffer (about
///   128 KiB), whatever the input size or compression ratio, and the stream holds back only a
///   bounded amount (the format's window), so memory does not grow with the data. The identity
///   stream hands its input through as is, without copying.
/// - Errors from `sink` propagate unchanged; the stream's own errors are `CompressionError`.
///   A gzip or zstd decompressor throws `.corrupt` as soon as it finds the input invalid (a
///   checksum mismatch shows at the end of a frame or member), and `.truncated` from `finish`
///   if the input stopped inside a frame or member or held none at all. For `none`, any input,
///   empty too, is a valid object.
/// - After `finish` or after any error, the stream must not be used again.
/// - A stream owns C state: it is not `Sendable`; one task owns it at a time.
public protocol CodecStream: AnyObject {
    func update(_ input: UnsafeRawBufferPointer, into sink: (UnsafeRawBufferPointer) throws -> Void) throws
    func finish(into sink: (UnsafeRawBufferPointer) throws -> Void) throws
}

extension CodecStream {
    /// Feeds contiguous bytes (`[UInt8]`, `ArraySlice`, `Data`, …).
    public func update(_ input: some ContiguousBytes, into sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        try input.withUnsafeBytes { try update($0, into: sink) }
    }

    /// Feeds bytes and returns the output they complete, in one array. For a decompressor the
    /// array can be far larger than the input: prefer the sink form for untrusted or large data.
    public func update(_ input: some ContiguousBytes) throws -> [UInt8] {
        var output: [UInt8] = []
        try update(input) { output.append(contentsOf: $0) }
        return output
    }

    /// Ends the stream and returns the remaining output.
    public func finish() throws -> [UInt8] {
        var output: [UInt8] = []
        try finish { output.append(contentsOf: $0) }
        return output
    }
}

extension Codec {
    /// Compresses a small object in one call (built on the streaming API).
    public func compress(_ bytes: some ContiguousBytes) throws -> [UInt8] {
        try makeCompressor().transformAll(bytes)
    }

    /// Decompresses a small object in one call (built on the streaming API).
    public func decompress(_ bytes: some ContiguousBytes) throws -> [UInt8] {
        try makeDecompressor().transformAll(bytes)
    }
}

extension Compression {
    /// Compresses a small object in one call (built on the streaming API).
    public func compress(_ bytes: some ContiguousBytes) throws -> [UInt8] {
        try makeCompressor().transformAll(bytes)
    }

    /// Decompresses a small object in one call (built on the streaming API).
    public func decompress(_ bytes: some ContiguousBytes) throws -> [UInt8] {
        try makeDecompressor().transformAll(bytes)
    }
}

extension CodecStream {
    fileprivate func transformAll(_ bytes: some ContiguousBytes) throws -> [UInt8] {
        var output: [UInt8] = []
        let append: (UnsafeRawBufferPointer) -> Void = { output.append(contentsOf: $0) }
        try update(bytes, into: append)
        try finish(into: append)
        return output
    }
}
