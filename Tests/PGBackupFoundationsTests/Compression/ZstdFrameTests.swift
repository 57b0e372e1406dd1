import PGBackupFoundations
import Testing

@Suite("zstd frames")
struct ZstdFrameTests {
    /// A skippable frame (RFC 8878 §3.1.2), as pzstd writes between frames: magic
    /// 0x184D2A5? little-endian, a 4-byte little-endian length, then that many ignored bytes.
    static func skippableFrame(payload: [UInt8]) -> [UInt8] {
        [0x50, 0x2A, 0x4D, 0x18] + withUnsafeBytes(of: UInt32(payload.count).littleEndian, Array.init) + payload
    }

    @Test func skippableFramesAreSkipped() throws {
        let compression = Compression.zstd(level: 1)
        let stream = Self.skippableFrame(payload: Array("index".utf8))
            + (try compression.compress(Array("hello, ".utf8)))
            + Self.skippableFrame(payload: [])
            + (try compression.compress(Array("world".utf8)))
        #expect(try compression.makeDecompressor().run(stream, chunkSeed: 101) == Array("hello, world".utf8))
        #expect(try CommandLineTool.run(compression.toolDecompressCommand, input: stream) == Array("hello, world".utf8))
    }

    @Test func onlyASkippableFrameIsNoData() throws {
        // A lone skippable frame is complete, like an empty frame: no data, and not truncated.
        let stream = Self.skippableFrame(payload: [1, 2, 3])
        #expect(try Compression.zstd(level: 1).decompress(stream).isEmpty)
    }

    @Test func aSkippableFrameCutShortIsTruncated() throws {
        let stream = Self.skippableFrame(payload: [1, 2, 3]).dropLast()
        #expect(throws: CompressionError.truncated(.zstd)) { try Compression.zstd(level: 1).decompress(Array(stream)) }
    }
}
