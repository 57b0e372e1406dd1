import Foundation
import PGBackupFoundations
import Testing

@Suite("SHA-256")
struct SHA256Tests {
    /// FIPS 180-2 / NIST examples.
    @Test("known vectors", arguments: [
        ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        ("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
    ])
    func knownVectors(message: String, hex: String) {
        #expect(SHA256Hasher.hash(Array(message.utf8)).description == hex)
    }

    @Test func oneMillionAsInSmallPieces() {
        var hasher = SHA256Hasher()
        let piece = [UInt8](repeating: UInt8(ascii: "a"), count: 1000)
        for _ in 0..<1000 { hasher.update(piece) }
        #expect(hasher.finalize().description == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    @Test("streamed in random chunks, matches sha256sum", arguments: [Sample.random5MiB, .compressible4MiB, .oneByte])
    func matchesSha256sum(sample: Sample) throws {
        let bytes = sample.bytes
        var hasher = SHA256Hasher()
        bytes.withUnsafeBytes { all in
            for range in TestBytes.randomChunks(of: all.count, seed: 91) {
                hasher.update(UnsafeRawBufferPointer(rebasing: all[range]))
            }
        }
        let tool = String(decoding: try CommandLineTool.run(["sha256sum"], input: bytes), as: UTF8.self)
        #expect(hasher.finalize().description == String(tool.prefix(64)))
        #expect(hasher.finalize() == SHA256Hasher.hash(bytes))
    }

    @Test func finalizingACopyLeavesTheOriginalRunning() {
        var hasher = SHA256Hasher()
        hasher.update(Array("ab".utf8))
        let partial = hasher.finalize()
        hasher.update(Array("c".utf8))
        #expect(partial == SHA256Hasher.hash(Array("ab".utf8)))
        #expect(hasher.finalize() == SHA256Hasher.hash(Array("abc".utf8)))
    }

    @Test func hexBothWays() throws {
        let hex = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        let digest = try #require(SHA256Digest(hex: hex))
        #expect(digest.description == hex)
        #expect(SHA256Digest(hex: hex.uppercased()) == digest)
        #expect(digest.bytes.count == 32)
        #expect(digest.bytes.first == 0xBA && digest.bytes.last == 0xAD)
        #expect(SHA256Digest(bytes: digest.bytes) == digest)
        #expect(SHA256Digest(hex: hex) != SHA256Digest(hex: String(hex.dropLast()) + "e"))
    }

    @Test("refuses what is not 64 hex digits", arguments: [
        "", "ba78", String(repeating: "0", count: 63), String(repeating: "0", count: 65),
        String(repeating: "0", count: 63) + "g", String(repeating: "0", count: 62) + "é",
    ])
    func refusesBadHex(text: String) {
        #expect(SHA256Digest(hex: text) == nil)
    }

    @Test func refusesWrongByteCount() {
        #expect(SHA256Digest(bytes: [UInt8](repeating: 1, count: 31)) == nil)
        #expect(SHA256Digest(bytes: [UInt8](repeating: 1, count: 33)) == nil)
    }

    @Test func codableAsHexString() throws {
        let digest = SHA256Hasher.hash(Array("abc".utf8))
        let json = try JSONEncoder().encode([digest])
        #expect(String(decoding: json, as: UTF8.self)
            == #"["ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"]"#)
        #expect(try JSONDecoder().decode([SHA256Digest].self, from: json) == [digest])
        #expect(throws: DecodingError.self) { try JSONDecoder().decode([SHA256Digest].self, from: Data(#"["abc"]"#.utf8)) }
    }

    @Test func ordersAndHashesLikeItsHex() {
        let digests = (0..<200).map { SHA256Hasher.hash([UInt8(truncatingIfNeeded: $0), 7]) }
        #expect(digests.sorted().map(\.description) == digests.map(\.description).sorted())
        #expect(Set(digests).count == 200)
        #expect(Set(digests.map(\.description)).count == 200)
    }
}
