#if canImport(FoundationEssentials)
import FoundationEssentials  // ContiguousBytes
#else
import Foundation
#endif

/// Streams a sealed object back to its content: decompresses it, hashes and counts the output,
/// and at `finish` checks it against the seal found at the end of the stored stream.
///
/// The opener holds back the last `ObjectSeal.trailerSize(for:)` bytes it was given (at most 74)
/// and feeds everything before them to the decompressor, so it never holds the object and
/// needs no seek: whatever the stored stream ends in is taken as the trailer.
///
/// Contract:
/// - Content goes to `sink` as it is decoded, *before* it is verified: a caller writes it
///   somewhere provisional (a temporary file) and makes it visible only after `finish` returns.
/// - Every failure of the object is a `SealError` naming `object`: undecodable content
///   (`.undecodable`, from `update` as soon as the codec sees it, or from `finish`), no seal at
///   the end (`.missingSeal`), a different length or SHA-256 (`.lengthMismatch`,
///   `.digestMismatch`). Errors from `sink` propagate unchanged.
/// - Not `Sendable`; one task owns it; unusable after `finish` or an error.
public final class ObjectOpener {
    /// The object's name for error messages: its key or path.
    public let object: String
    public let algorithm: CompressionAlgorithm
    private let decompressor: any CodecStream
    private let trailerSize: Int
    /// The last bytes seen, at most `trailerSize`: the seal trailer once the input ends.
    private var tail: [UInt8] = []
    private var hasher = SHA256Hasher()
    private var length: UInt64 = 0

    public init(algorithm: CompressionAlgorithm, object: String) throws(CompressionError) {
        self.algorithm = algorithm
        self.object = object
        decompressor = try algorithm.makeDecompressor()
        trailerSize = ObjectSeal.trailerSize(for: algorithm)
        tail.reserveCapacity(trailerSize)
    }

    public func update(_ input: UnsafeRawBufferPointer, into sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        // Release what can no longer be part of the trailer: the oldest held bytes, then the
        // input's front; keep the newest `trailerSize` bytes.
        let release = max(0, tail.count + input.count - trailerSize)
        let fromTail = min(release, tail.count)
        let fromInput = release - fromTail
        if fromTail > 0 {
            let held = tail
            try held.withUnsafeBytes { try decode(UnsafeRawBufferPointer(rebasing: $0[..<fromTail]), sink) }
            tail.removeFirst(fromTail)
        }
        if fromInput > 0 {
            try decode(UnsafeRawBufferPointer(rebasing: input[..<fromInput]), sink)
        }
        tail.append(contentsOf: input[fromInput...])
    }

    /// Ends the stream and verifies it; returns the seal, which the content matches.
    @discardableResult
    public func finish(into sink: (UnsafeRawBufferPointer) throws -> Void) throws -> ObjectSeal {
        guard let seal = ObjectSeal(trailer: tail, algorithm: algorithm) else {
            throw SealError(object: object, reason: .missingSeal(algorithm))
        }
        do {
            try decompressor.finish { piece in try consume(piece, sink) }
        } catch let error as CompressionError {
            throw SealError(object: object, reason: .undecodable(error))
        }
        guard length == seal.length else {
            throw SealError(object: object, reason: .lengthMismatch(sealed: seal.length, actual: length))
        }
        let digest = hasher.finalize()
        guard digest == seal.sha256 else {
            throw SealError(object: object, reason: .digestMismatch(sealed: seal.sha256, actual: digest))
        }
        return seal
    }

    private func decode(_ bytes: UnsafeRawBufferPointer, _ sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        do {
            try decompressor.update(bytes) { piece in try consume(piece, sink) }
        } catch let error as CompressionError {
            // The sink (a file writer, a collector) never throws CompressionError itself.
            throw SealError(object: object, reason: .undecodable(error))
        }
    }

    private func consume(_ piece: UnsafeRawBufferPointer, _ sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        hasher.update(piece)
        length += UInt64(piece.count)
        try sink(piece)
    }
}

extension ObjectOpener {
    /// Feeds contiguous bytes (`[UInt8]`, `ArraySlice`, …).
    public func update(_ input: some ContiguousBytes, into sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        try input.withUnsafeBytes { try update($0, into: sink) }
    }

    /// Opens a small sealed object in one call: its verified content.
    public static func open(_ stored: [UInt8], algorithm: CompressionAlgorithm, object: String) throws -> [UInt8] {
        let opener = try ObjectOpener(algorithm: algorithm, object: object)
        var output: [UInt8] = []
        try opener.update(stored) { output.append(contentsOf: $0) }
        try opener.finish { output.append(contentsOf: $0) }
        return output
    }
}
