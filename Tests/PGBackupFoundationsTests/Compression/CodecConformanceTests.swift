import PGBackupFoundations
import Testing

/// The one suite every codec passes (STYLE.md habit 1), checked against the real `gzip` and
/// `zstd` tools in both directions.
@Suite("Codec conformance")
struct CodecConformanceTests {
    static let codecs: [Compression] = [.none, .gzip(level: 1), .gzip(level: 9), .zstd(level: 1), .zstd(level: 6)]
    /// Truncation and corruption mean nothing for `none`: any bytes are a valid raw object.
    static let compressingCodecs = codecs.filter { $0 != .none }

    @Test("round trip in random chunk sizes", arguments: codecs, Sample.allCases)
    func roundTrip(compression: Compression, sample: Sample) throws {
        let input = sample.bytes
        let compressed = try compression.makeCompressor().run(input, chunkSeed: 11)
        let output = try compression.makeDecompressor().run(compressed, chunkSeed: 12)
        expectSameBytes(output, input, "round trip")
        if sample.isHighlyCompressible && compression != .none {
            #expect(compressed.count < input.count / 4)
        }
        if compression == .none {
            expectSameBytes(compressed, input, "identity output")
        }
    }

    @Test("the real tool decompresses our output", arguments: codecs, Sample.allCases)
    func toolReadsOurs(compression: Compression, sample: Sample) throws {
        let compressed = try compression.makeCompressor().run(sample.bytes, chunkSeed: 21)
        let output = try CommandLineTool.run(compression.toolDecompressCommand, input: compressed)
        expectSameBytes(output, sample.bytes, "\(compression.toolDecompressCommand) output")
    }

    @Test("we decompress the real tool's output", arguments: ToolCompression.all)
    func weReadTools(tool: ToolCompression) throws {
        for sample in Sample.allCases where tool.isFast || sample != .random5MiB {
            let compressed = try CommandLineTool.run(tool.command, input: sample.bytes)
            let output = try tool.algorithm.makeDecompressor().run(compressed, chunkSeed: 31)
            expectSameBytes(output, sample.bytes, "\(sample)")
        }
    }

    @Test("concatenated streams (frames, members) decompress as one", arguments: codecs)
    func concatenation(compression: Compression) throws {
        let first = Sample.compressible4MiB.bytes
        let second = Sample.random5MiB.bytes.prefix(300_000)
        let third = Array("the end".utf8)
        // Ours, the tool's, an empty one of ours, then ours again: `cat a.zst b.zst ...`.
        let stream = try compression.compress(first)
            + CommandLineTool.run(compressionCommand(compression), input: Array(second))
            + compression.compress([UInt8]())
            + compression.compress(third)
        let expected = first + second + third
        expectSameBytes(try compression.makeDecompressor().run(stream, chunkSeed: 41), expected, "ours")
        expectSameBytes(try CommandLineTool.run(compression.toolDecompressCommand, input: stream), expected, "the tool's")
    }

    @Test("one byte at a time, across a stream boundary", arguments: codecs)
    func byteByByte(compression: Compression) throws {
        let input = Array(Sample.compressible4MiB.bytes.prefix(40_000))
        let compressor = try compression.makeCompressor()
        var compressed: [UInt8] = []
        for byte in input { compressed += try compressor.update([byte]) }
        compressed += try compressor.finish()
        let twice = compressed + compressed

        let decompressor = try compression.makeDecompressor()
        var output: [UInt8] = []
        for byte in twice { output += try decompressor.update([byte]) }
        output += try decompressor.finish()
        expectSameBytes(output, input + input, "byte-by-byte round trip")
    }

    @Test("one-shot helpers match the streams", arguments: codecs)
    func oneShot(compression: Compression) throws {
        let input = Array(Sample.compressible4MiB.bytes.prefix(100_000))
        let compressed = try compression.compress(input)
        expectSameBytes(try compression.codec().decompress(compressed), input, "codec().decompress")
        expectSameBytes(try compression.decompress(compressed), input, "decompress")
        expectSameBytes(try compression.makeDecompressor().run(compressed, chunkSeed: 51), input, "streamed")
    }

    @Test("truncated input fails at finish", arguments: compressingCodecs, [Sample.empty, .oneByte, .random5MiB, .compressible4MiB])
    func truncated(compression: Compression, sample: Sample) throws {
        let compressed = try compression.compress(sample.bytes)
        for cut in Set([0, 1, 10, compressed.count / 2, compressed.count - 1]) {
            let decompressor = try compression.makeDecompressor()
            let error = #expect(throws: CompressionError.self, "cut at \(cut) of \(compressed.count)") {
                _ = try decompressor.run(Array(compressed.prefix(cut)), chunkSeed: 61)
            }
            #expect(error == .truncated(compression.algorithm), "cut at \(cut) of \(compressed.count)")
        }
    }

    @Test("corrupt input is refused", arguments: compressingCodecs, [Sample.oneByte, .random5MiB, .compressible4MiB])
    func corrupt(compression: Compression, sample: Sample) throws {
        let compressed = try compression.compress(sample.bytes)
        // The magic number, the last byte (checksum or length) and, in a large stream, a byte in
        // the middle (block data). In a tiny stream the middle is a block header, whose damage
        // may as well read as a longer block cut short: truncated, also an honest answer.
        let middle = compressed.count > 1000 ? [compressed.count / 2] : []
        for position in Set([0, compressed.count - 1] + middle) {
            var damaged = compressed
            damaged[position] ^= 0x55
            let error = #expect(throws: CompressionError.self, "byte \(position) of \(compressed.count)") {
                _ = try compression.makeDecompressor().run(damaged, chunkSeed: 71)
            }
            guard case .corrupt(compression.algorithm, _) = error else {
                Issue.record("byte \(position) of \(compressed.count): expected .corrupt, got \(String(describing: error))")
                continue
            }
        }
    }

    @Test("garbage, before or after a valid stream, is refused", arguments: compressingCodecs)
    func garbage(compression: Compression) throws {
        // At least 4 bytes: shorter garbage could be the start of a zstd frame, hence truncated.
        let garbage = Array("this is not compressed data".utf8)
        let valid = try compression.compress(Array("hello".utf8))
        for input in [garbage, valid + garbage] {
            let error = #expect(throws: CompressionError.self) {
                _ = try compression.makeDecompressor().run(input, chunkSeed: 81)
            }
            guard case .corrupt(compression.algorithm, _) = error else {
                Issue.record("expected .corrupt, got \(String(describing: error))")
                continue
            }
        }
    }

    private func compressionCommand(_ compression: Compression) -> [String] {
        switch compression {
        case .none: ["cat"]
        case .gzip(let level): ["gzip", "-c", "-\(level)"]
        case .zstd(let level): ["zstd", "-c", "-q", "-\(level)"]
        }
    }
}

/// A way the real tools write compressed data, and the algorithm that must read it.
struct ToolCompression: Sendable, CustomTestStringConvertible {
    let command: [String]
    let algorithm: CompressionAlgorithm
    /// False for slow settings, which skip the 5 MiB random sample to keep the suite quick.
    var isFast = true

    var testDescription: String { command.joined(separator: " ") }

    static let all: [ToolCompression] = [
        ToolCompression(command: ["cat"], algorithm: .none),
        ToolCompression(command: ["gzip", "-c"], algorithm: .gzip),
        ToolCompression(command: ["gzip", "-c", "-1"], algorithm: .gzip),
        ToolCompression(command: ["gzip", "-c", "-9"], algorithm: .gzip, isFast: false),
        ToolCompression(command: ["zstd", "-c", "-q", "--format=gzip"], algorithm: .gzip),
        ToolCompression(command: ["zstd", "-c", "-q"], algorithm: .zstd),
        ToolCompression(command: ["zstd", "-c", "-q", "--format=zstd", "--no-check"], algorithm: .zstd),
        ToolCompression(command: ["zstd", "-c", "-q", "-19"], algorithm: .zstd, isFast: false),
        ToolCompression(command: ["zstd", "-c", "-q", "-3", "--long=27"], algorithm: .zstd),
        ToolCompression(command: ["zstd", "-c", "-q", "-T2", "--rsyncable"], algorithm: .zstd),
    ]
}
