import Foundation
import PGBackupFoundations
import Testing

/// Memory must not grow with the data (DESIGN.md invariant 7). Measuring RSS would be flaky, so
/// this checks what the API hands out: every output piece stays within a fixed buffer, and the
/// pipeline never holds back more than a few MiB, whatever the total size.
@Suite("Codec bounded memory")
struct BoundedMemoryTests {
    static let total = 256 << 20
    static let chunkSize = 1 << 20
    /// Largest piece a compressing stream may hand out: its output buffer (128 KiB for both
    /// libraries, ZSTD_CStreamOutSize is a few bytes over), with headroom.
    static let largestPiece = 192 * 1024
    /// Most input that may be in flight between compressor input and decompressor output:
    /// the compressor's current block or deflate buffer, plus the chunk being fed.
    static let largestLag = 4 << 20

    @Test("256 MiB through compressor and decompressor, pieces and lag stay small",
          arguments: [Compression.none, .gzip(level: 1), .zstd(level: 1)])
    func streamManyMebibytes(compression: Compression) throws {
        // Compressible enough that decompression expands each small input many times over: the
        // case where an unbounded decompressor would hand out huge pieces.
        let block = TestBytes.compressible(count: Self.chunkSize, seed: 0x5EED_0003)
        let compressor = try compression.makeCompressor()
        let decompressor = try compression.makeDecompressor()
        var fed = 0, compressedBytes = 0, restored = 0
        var largestCompressedPiece = 0, largestRestoredPiece = 0, largestLagSeen = 0
        var mismatch: Int?

        let check: (UnsafeRawBufferPointer) -> Void = { piece in
            largestRestoredPiece = max(largestRestoredPiece, piece.count)
            // The output must repeat `block`: compare piece by piece, wrapping at its end.
            var done = 0
            block.withUnsafeBytes { expected in
                while done < piece.count {
                    let offset = (restored + done) % Self.chunkSize
                    let length = min(piece.count - done, Self.chunkSize - offset)
                    if mismatch == nil, memcmp(piece.baseAddress! + done, expected.baseAddress! + offset, length) != 0 {
                        mismatch = restored + done
                    }
                    done += length
                }
            }
            restored += piece.count
        }
        let forward: (UnsafeRawBufferPointer) throws -> Void = { piece in
            largestCompressedPiece = max(largestCompressedPiece, piece.count)
            compressedBytes += piece.count
            try decompressor.update(piece, into: check)
        }

        try block.withUnsafeBytes { chunk in
            while fed < Self.total {
                try compressor.update(chunk, into: forward)
                fed += chunk.count
                largestLagSeen = max(largestLagSeen, fed - restored)
            }
        }
        try compressor.finish(into: forward)
        try decompressor.finish(into: check)

        #expect(restored == Self.total)
        #expect(mismatch == nil, "restored data differs from offset \(mismatch ?? -1)")
        #expect(largestLagSeen <= Self.largestLag, "held back \(largestLagSeen) bytes")
        if compression == .none {
            // The identity stream hands the caller's own chunks through, without buffering.
            #expect(largestCompressedPiece == Self.chunkSize)
            #expect(largestRestoredPiece == Self.chunkSize)
        } else {
            #expect(compressedBytes < Self.total / 4)
            #expect(largestCompressedPiece <= Self.largestPiece)
            #expect(largestRestoredPiece <= Self.largestPiece)
        }
    }
}
