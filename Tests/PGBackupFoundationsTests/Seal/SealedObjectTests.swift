import PGBackupFoundations
import Testing

/// Sealing and opening objects: round trips, the real tools, and every way an object can be damaged.
@Suite("Sealed objects")
struct SealedObjectTests {
    static let compressions: [Compression] = [.none, .gzip(level: 1), .zstd(level: 1), .zstd(level: 6)]
    static let object = "main/wal/0000000100000000/000000010000000000000003"

    static func key(_ compression: Compression) -> String { object + "." + compression.fileExtension }

    /// Seals `content` in random chunk sizes; checks the sealer's own accounting.
    static func seal(_ content: [UInt8], _ compression: Compression, chunkSeed: UInt64 = 1) throws -> (stored: [UInt8], seal: ObjectSeal) {
        let sealer = try ObjectSealer(compression: compression)
        var stored: [UInt8] = []
        let append: (UnsafeRawBufferPointer) -> Void = { stored.append(contentsOf: $0) }
        try content.withUnsafeBytes { all in
            for range in TestBytes.randomChunks(of: all.count, seed: chunkSeed) {
                try sealer.update(UnsafeRawBufferPointer(rebasing: all[range]), into: append)
            }
        }
        let seal = try sealer.finish(into: append)
        #expect(sealer.storedLength == UInt64(stored.count))
        return (stored, seal)
    }

    /// Opens `stored` in random chunk sizes; returns the content.
    static func open(_ stored: [UInt8], _ algorithm: CompressionAlgorithm, object: String = object, chunkSeed: UInt64 = 2) throws -> [UInt8] {
        let opener = try ObjectOpener(algorithm: algorithm, object: object)
        var content: [UInt8] = []
        let append: (UnsafeRawBufferPointer) -> Void = { content.append(contentsOf: $0) }
        try stored.withUnsafeBytes { all in
            for range in TestBytes.randomChunks(of: all.count, seed: chunkSeed) {
                try opener.update(UnsafeRawBufferPointer(rebasing: all[range]), into: append)
            }
        }
        try opener.finish(into: append)
        return content
    }

    /// The `SealError` opening `stored` throws; records an issue if it opens.
    static func failure(
        _ stored: [UInt8], _ compression: Compression, sourceLocation: SourceLocation = #_sourceLocation
    ) -> SealError? {
        do {
            _ = try open(stored, compression.algorithm, object: key(compression))
            Issue.record("a damaged object opened without error", sourceLocation: sourceLocation)
            return nil
        } catch let error as SealError {
            #expect(error.object == key(compression), sourceLocation: sourceLocation)
            #expect(error.description.hasPrefix("unable to verify '\(key(compression))': "), sourceLocation: sourceLocation)
            return error
        } catch {
            Issue.record("expected a SealError, got \(type(of: error)): \(error)", sourceLocation: sourceLocation)
            return nil
        }
    }

    @Test("round trip in random chunk sizes", arguments: compressions, Sample.allCases)
    func roundTrip(compression: Compression, sample: Sample) throws {
        let (stored, seal) = try Self.seal(sample.bytes, compression)
        #expect(seal == ObjectSeal(of: sample.bytes))
        expectSameBytes(try Self.open(stored, compression.algorithm), sample.bytes, "opened content")
        // The seal is the stored stream's last bytes.
        #expect(ObjectSeal(trailer: stored.suffix(ObjectSeal.trailerSize(for: compression.algorithm)), algorithm: compression.algorithm) == seal)
        if compression == .none {
            expectSameBytes(Array(stored.dropLast(48)), sample.bytes, "a raw object's content before its trailer")
        }
    }

    @Test("a digest known up front is sealed as given, and a wrong one makes the object fail to open", arguments: compressions)
    func knownDigest(compression: Compression) throws {
        let content = Sample.compressible4MiB.bytes
        let sealer = try ObjectSealer(compression: compression, sha256: SHA256Hasher.hash(content))
        var stored: [UInt8] = []
        try sealer.update(content) { stored.append(contentsOf: $0) }
        #expect(try sealer.finish { stored.append(contentsOf: $0) } == ObjectSeal(of: content))
        #expect(stored == (try ObjectSealer.seal(content, compression: compression)), "the same bytes as a sealer that hashes")
        expectSameBytes(try Self.open(stored, compression.algorithm), content, "opened content")

        // A caller bug (a digest of other bytes) cannot go unnoticed: the object does not open.
        let liar = try ObjectSealer(compression: compression, sha256: SHA256Hasher.hash(Array(content.dropLast())))
        var lied: [UInt8] = []
        try liar.update(content) { lied.append(contentsOf: $0) }
        try liar.finish { lied.append(contentsOf: $0) }
        guard case .digestMismatch? = Self.failure(lied, compression)?.reason else {
            Issue.record("expected a digest mismatch")
            return
        }
    }

    @Test("the real tool decompresses a sealed object to exactly the content", arguments: compressions.filter { $0 != .none }, Sample.allCases)
    func toolIgnoresTheSeal(compression: Compression, sample: Sample) throws {
        let (stored, _) = try Self.seal(sample.bytes, compression)
        let output = try CommandLineTool.run(compression.toolDecompressCommand, input: stored)
        expectSameBytes(output, sample.bytes, "\(compression.toolDecompressCommand.joined(separator: " ")) output")
        // `gzip -t` / `zstd -t` find the object valid as a whole.
        _ = try CommandLineTool.run([compression.algorithm == .gzip ? "gzip" : "zstd", "-t", "-q"], input: stored)
    }

    @Test("the tool's own compressed output plus a seal opens", arguments: [Compression.gzip(level: 6), .zstd(level: 3)])
    func toolOutputSealed(compression: Compression) throws {
        let content = Sample.compressible4MiB.bytes
        let command = compression.algorithm == .gzip ? ["gzip", "-c", "-6"] : ["zstd", "-c", "-q", "-3"]
        let stored = try CommandLineTool.run(command, input: content) + ObjectSeal(of: content).trailer(for: compression.algorithm)
        expectSameBytes(try Self.open(stored, compression.algorithm), content, "opened")
    }

    @Test("one byte at a time", arguments: compressions)
    func byteByByte(compression: Compression) throws {
        let content = Array(Sample.compressible4MiB.bytes.prefix(20_000))
        let stored = try ObjectSealer.seal(content, compression: compression)
        let opener = try ObjectOpener(algorithm: compression.algorithm, object: "x")
        var output: [UInt8] = []
        for byte in stored { try opener.update([byte]) { output.append(contentsOf: $0) } }
        try opener.finish { output.append(contentsOf: $0) }
        expectSameBytes(output, content, "opened byte by byte")
    }

    @Test("content streams out before the end, in small pieces", arguments: compressions)
    func streams(compression: Compression) throws {
        let content = Sample.compressible4MiB.bytes
        let stored = try ObjectSealer.seal(content, compression: compression)
        let opener = try ObjectOpener(algorithm: compression.algorithm, object: "x")
        var delivered = 0, largest = 0
        let count: (UnsafeRawBufferPointer) -> Void = { delivered += $0.count; largest = max(largest, $0.count) }
        try opener.update(stored.prefix(stored.count / 2), into: count)
        #expect(delivered > content.count / 4, "half the object in, yet only \(delivered) bytes out")
        try opener.update(stored.dropFirst(stored.count / 2), into: count)
        try opener.finish(into: count)
        #expect(delivered == content.count)
        if compression != .none { #expect(largest <= 192 * 1024) }
    }

    @Test("a flipped byte anywhere is caught", arguments: compressions)
    func flippedByte(compression: Compression) throws {
        let content = Sample.random5MiB.bytes.prefix(300_000) + Sample.compressible4MiB.bytes.prefix(300_000)
        let stored = try ObjectSealer.seal(Array(content), compression: compression)
        let trailer = ObjectSeal.trailerSize(for: compression.algorithm)
        // Spread over the whole object, plus every byte of the trailer.
        let positions = Set(stride(from: 0, to: stored.count, by: max(1, stored.count / 97))).union((stored.count - trailer)..<stored.count)
        for position in positions.sorted() {
            var damaged = stored
            damaged[position] ^= 0x40
            _ = Self.failure(damaged, compression)
        }
    }

    @Test("a damaged digest or length in the seal is named as such", arguments: compressions)
    func damagedSealFields(compression: Compression) throws {
        let content = Array(Sample.compressible4MiB.bytes.prefix(100_000))
        let stored = try ObjectSealer.seal(content, compression: compression)
        let payloadStart = stored.count - ObjectSeal.trailerSize(for: compression.algorithm)
            + (compression.algorithm == .none ? 0 : compression.algorithm == .zstd ? 8 : 16)

        var digestDamaged = stored
        digestDamaged[payloadStart + 8] ^= 0xFF
        let digestError = Self.failure(digestDamaged, compression)
        guard case .digestMismatch(let sealed, let actual)? = digestError?.reason else {
            Issue.record("expected a digest mismatch, got \(String(describing: digestError))")
            return
        }
        #expect(actual == SHA256Hasher.hash(content) && sealed != actual)
        #expect(digestError!.description.hasPrefix("unable to verify '\(Self.key(compression))': SHA-256 mismatch: the seal records \(sealed), the content hashes to \(actual)"))
        #expect(digestError!.description.contains("HINT:"))

        var lengthDamaged = stored
        lengthDamaged[payloadStart + 40] ^= 0x01
        let lengthError = Self.failure(lengthDamaged, compression)
        #expect(lengthError?.reason == .lengthMismatch(sealed: UInt64(content.count) ^ 1, actual: UInt64(content.count)))
        #expect(lengthError?.description.contains("length mismatch") == true)
    }

    @Test("truncation is caught wherever it cuts", arguments: compressions)
    func truncation(compression: Compression) throws {
        let content = Array(Sample.random5MiB.bytes.prefix(200_000))
        let stored = try ObjectSealer.seal(content, compression: compression)
        let trailer = ObjectSeal.trailerSize(for: compression.algorithm)
        for length in [0, 1, trailer - 1, trailer, stored.count / 2, stored.count - trailer - 1, stored.count - trailer, stored.count - 1] {
            let error = Self.failure(Array(stored.prefix(length)), compression)
            #expect(error != nil, "cut to \(length) bytes")
        }
        // Cutting exactly the seal off leaves a valid compressed stream without seal.
        #expect(Self.failure(Array(stored.dropLast(trailer)), compression)?.reason == .missingSeal(compression.algorithm))
    }

    @Test("an unsealed object, or bytes after the seal, is refused", arguments: compressions)
    func missingSeal(compression: Compression) throws {
        let content = Array(Sample.compressible4MiB.bytes.prefix(100_000))
        let plain = try compression.compress(content)
        // (Raw: the content's last 48 bytes are taken as the trailer, and hold no tag.)
        let error = Self.failure(plain, compression)
        #expect(error?.reason == .missingSeal(compression.algorithm))
        #expect(error?.description.contains("does not end in a pgbackup seal for \(compression.algorithm) data") == true)

        let sealed = try ObjectSealer.seal(content, compression: compression)
        #expect(Self.failure(sealed + [0x00], compression) != nil)
        // A second sealed object appended: its seal closes the stream, and the content before
        // it (both copies; raw: with the first seal too) is not what it records.
        #expect(Self.failure(sealed + sealed, compression)?.reason == .lengthMismatch(
            sealed: UInt64(content.count), actual: UInt64(2 * content.count + (compression == .none ? 48 : 0))))
    }

    @Test("corrupt compressed content names the object and the codec's reason", arguments: [Compression.gzip(level: 1), .zstd(level: 1)])
    func undecodable(compression: Compression) throws {
        let content = Array(Sample.random5MiB.bytes.prefix(100_000))
        var stored = try ObjectSealer.seal(content, compression: compression)
        stored[stored.count / 2] ^= 0x10
        let error = Self.failure(stored, compression)
        guard case .undecodable? = error?.reason else {
            Issue.record("expected the codec to reject it, got \(String(describing: error))")
            return
        }
        #expect(error!.description.contains("compressed stream is corrupt"))
    }
}
