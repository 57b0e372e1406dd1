import PGBackupFoundations
import Testing

/// The seal's bytes, exactly as `ObjectSeal` documents them.
@Suite("Seal format")
struct SealFormatTests {
    static let seal = ObjectSeal(of: Array("hello, WAL\n".utf8))

    @Test func payloadLayout() {
        let payload = Self.seal.payload
        #expect(payload.count == 48)
        #expect(Array(payload[0..<8]) == [0x50, 0x47, 0x42, 0x53, 0x45, 0x41, 0x4C, 0x01])
        #expect(Array(payload[8..<40]) == Self.seal.sha256.bytes)
        #expect(Array(payload[40..<48]) == [11, 0, 0, 0, 0, 0, 0, 0])
        #expect(Self.seal.sha256.description == "ac5785bc99a10206c7bf33ed07600974f443beb2d02acbf9f8471d2cdc080602")  // sha256sum
        #expect(ObjectSeal(payload: payload) == Self.seal)
    }

    @Test func lengthIsLittleEndian64Bit() {
        let big = ObjectSeal(sha256: Self.seal.sha256, length: 0x0102_0304_0506_0708)
        #expect(Array(big.payload[40..<48]) == [8, 7, 6, 5, 4, 3, 2, 1])
        #expect(ObjectSeal(payload: big.payload)?.length == 0x0102_0304_0506_0708)
    }

    @Test func zstdTrailerIsASkippableFrame() {
        let trailer = Self.seal.trailer(for: .zstd)
        #expect(trailer.count == 56 && ObjectSeal.trailerSize(for: .zstd) == 56)
        #expect(Array(trailer[0..<4]) == [0x5B, 0x2A, 0x4D, 0x18])  // 0x184D2A5B little-endian
        #expect(Array(trailer[4..<8]) == [48, 0, 0, 0])
        #expect(Array(trailer[8...]) == Self.seal.payload)
        #expect(ObjectSeal(trailer: trailer, algorithm: .zstd) == Self.seal)
    }

    @Test func gzipTrailerIsAnEmptyMemberWithTheSealInFEXTRA() {
        let trailer = Self.seal.trailer(for: .gzip)
        #expect(trailer.count == 74 && ObjectSeal.trailerSize(for: .gzip) == 74)
        #expect(Array(trailer[0..<10]) == [0x1F, 0x8B, 0x08, 0x04, 0, 0, 0, 0, 0, 0xFF])
        #expect(Array(trailer[10..<12]) == [52, 0])  // XLEN
        #expect(Array(trailer[12..<16]) == [0x50, 0x42, 48, 0])  // "PB", 48 bytes
        #expect(Array(trailer[16..<64]) == Self.seal.payload)
        #expect(Array(trailer[64...]) == [0x03, 0x00, 0, 0, 0, 0, 0, 0, 0, 0])
        #expect(ObjectSeal(trailer: trailer, algorithm: .gzip) == Self.seal)
    }

    @Test func rawTrailerIsThePayload() {
        #expect(Self.seal.trailer(for: .none) == Self.seal.payload)
        #expect(ObjectSeal.trailerSize(for: .none) == 48)
        #expect(ObjectSeal(trailer: Self.seal.payload, algorithm: .none) == Self.seal)
    }

    @Test("anything but an exact trailer is no seal", arguments: CompressionAlgorithm.allCases)
    func parsingIsStrict(algorithm: CompressionAlgorithm) {
        let trailer = Self.seal.trailer(for: algorithm)
        #expect(ObjectSeal(trailer: trailer.dropLast(), algorithm: algorithm) == nil)
        #expect(ObjectSeal(trailer: trailer + [0], algorithm: algorithm) == nil)
        #expect(ObjectSeal(trailer: [], algorithm: algorithm) == nil)
        // Every fixed byte matters (the digest and length bytes are free by design).
        let payloadStart = trailer.count - (algorithm == .gzip ? 10 : 0) - 48
        let free = (payloadStart + 8)..<(payloadStart + 48)
        for index in trailer.indices where !free.contains(index) {
            var damaged = trailer
            damaged[index] ^= 0x01
            #expect(ObjectSeal(trailer: damaged, algorithm: algorithm) == nil, "byte \(index) flipped")
        }
        // A trailer of another algorithm is not one of this algorithm.
        for other in CompressionAlgorithm.allCases where other != algorithm {
            #expect(ObjectSeal(trailer: Self.seal.trailer(for: other), algorithm: algorithm) == nil)
        }
    }
}
