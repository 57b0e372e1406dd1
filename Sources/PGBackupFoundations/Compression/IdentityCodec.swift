/// `none`: objects are stored as they are (extension `raw`).
public struct IdentityCodec: Codec {
    public init() {}

    public var compression: Compression { .none }

    public func makeCompressor() -> any CodecStream { IdentityStream() }
    public func makeDecompressor() -> any CodecStream { IdentityStream() }
}

/// Hands each input chunk to the sink as it is, without copying. Empty input is a valid
/// (empty) object, so `finish` never reports truncation.
final class IdentityStream: CodecStream {
    func update(_ input: UnsafeRawBufferPointer, into sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        if !input.isEmpty { try sink(input) }
    }

    func finish(into sink: (UnsafeRawBufferPointer) throws -> Void) throws {}
}
