import Crypto
#if canImport(FoundationEssentials)
import FoundationEssentials  // ContiguousBytes
#else
import Foundation
#endif

/// Streaming SHA-256 (swift-crypto, which uses the CPU's SHA extensions where present). Not
/// `Sendable` because swift-crypto's `SHA256` is not; its digest is.
public struct SHA256Hasher {
    private var hasher = SHA256()

    public init() {}

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        hasher.update(bufferPointer: bytes)
    }

    /// Feeds contiguous bytes (`[UInt8]`, `ArraySlice`, `Data`, …).
    public mutating func update(_ bytes: some ContiguousBytes) {
        bytes.withUnsafeBytes { hasher.update(bufferPointer: $0) }
    }

    /// The digest of everything fed so far. The hasher is a value: finalizing a copy leaves the
    /// original free to continue.
    public func finalize() -> SHA256Digest {
        hasher.finalize().withUnsafeBytes { SHA256Digest(digestBytes: $0) }
    }

    /// The digest of `bytes` in one call.
    public static func hash(_ bytes: some ContiguousBytes) -> SHA256Digest {
        var hasher = SHA256Hasher()
        hasher.update(bytes)
        return hasher.finalize()
    }
}
