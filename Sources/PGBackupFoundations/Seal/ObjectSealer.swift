#if canImport(FoundationEssentials)
import FoundationEssentials  // ContiguousBytes
#else
import Foundation
#endif

/// Streams content into a sealed object: compresses it, hashes and counts the *uncompressed*
/// bytes, and at `finish` appends the seal trailer (`ObjectSeal`).
///
/// Contract: like `CodecStream` (output pieces are valid only during the sink call; memory is
/// bounded by the codec's buffers; errors from the sink propagate unchanged; not `Sendable`, one
/// task owns it). Call `finish` exactly once; the stream must not be used after it or after an
/// error.
public final class ObjectSealer {
    public let compression: Compression
    private let compressor: any CodecStream
    private var hasher = SHA256Hasher()
    /// The content's digest when the caller knew it up front: the content is not hashed again.
    private let knownDigest: SHA256Digest?
    private var length: UInt64 = 0
    /// Bytes handed to the sink so far: compressed content, then the trailer.
    public private(set) var storedLength: UInt64 = 0

    /// Throws `CompressionError` when the setting is invalid or the codec cannot start.
    public init(compression: Compression) throws(CompressionError) {
        self.compression = compression
        compressor = try compression.makeCompressor()
        knownDigest = nil
    }

    /// For content whose SHA-256 the caller has just computed over the very bytes it will feed
    /// (a chunk, keyed by its digest): the seal records `sha256` and the content is not hashed a
    /// second time (hashing was a third of a backup's CPU). A mismatch would be a caller bug, and
    /// every read would report the object as damaged.
    public init(compression: Compression, sha256: SHA256Digest) throws(CompressionError) {
        self.compression = compression
        compressor = try compression.makeCompressor()
        knownDigest = sha256
    }

    public func update(_ input: UnsafeRawBufferPointer, into sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        if knownDigest == nil { hasher.update(input) }
        length += UInt64(input.count)
        try compressor.update(input) { piece in
            storedLength += UInt64(piece.count)
            try sink(piece)
        }
    }

    /// Ends the compressed stream, writes the trailer, and returns the seal it holds.
    @discardableResult
    public func finish(into sink: (UnsafeRawBufferPointer) throws -> Void) throws -> ObjectSeal {
        try compressor.finish { piece in
            storedLength += UInt64(piece.count)
            try sink(piece)
        }
        let seal = ObjectSeal(sha256: knownDigest ?? hasher.finalize(), length: length)
        let trailer = seal.trailer(for: compression.algorithm)
        try trailer.withUnsafeBytes { try sink($0) }
        storedLength += UInt64(trailer.count)
        return seal
    }
}

extension ObjectSealer {
    /// Feeds contiguous bytes (`[UInt8]`, `ArraySlice`, …).
    public func update(_ input: some ContiguousBytes, into sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        try input.withUnsafeBytes { try update($0, into: sink) }
    }

    /// Seals a small object in one call.
    public static func seal(_ content: [UInt8], compression: Compression) throws -> [UInt8] {
        let sealer = try ObjectSealer(compression: compression)
        var output: [UInt8] = []
        try sealer.update(content) { output.append(contentsOf: $0) }
        try sealer.finish { output.append(contentsOf: $0) }
        return output
    }
}
