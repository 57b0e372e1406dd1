import PGBackupFoundations
import Testing

/// The encrypted object format: round trips at every frame boundary, and every way the world
/// changes stored bytes fails to open.
@Suite("Encrypted objects")
struct EncryptedObjectTests {
    static let key = EncryptionKey.random()
    static let frame = EncryptedObjectFormat.frameSize
    static let object = "main/chunks/ab/abcdef.zst"

    static func content(_ count: Int, seed: UInt64 = 1) -> [UInt8] {
        var state = seed &* 0x9E37_79B9_7F4A_7C15
        return (0..<count).map { _ in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return UInt8(truncatingIfNeeded: state >> 33)
        }
    }

    /// Encrypts `content` fed in pieces of `piece` bytes.
    static func encrypt(_ content: [UInt8], object: String = object, key: EncryptionKey = key, piece: Int = 10_000) throws -> [UInt8] {
        let encryptor = ObjectEncryptor(dataKey: key, object: object)
        var stored: [UInt8] = []
        var offset = 0
        while offset < content.count {
            let end = min(content.count, offset + piece)
            try content[offset..<end].withUnsafeBytes { try encryptor.update($0) { stored.append(contentsOf: $0) } }
            offset = end
        }
        try encryptor.finish { stored.append(contentsOf: $0) }
        return stored
    }

    /// Decrypts `stored` fed in pieces of `piece` bytes; what reached the sink, and the error.
    static func decrypt(_ stored: [UInt8], object: String = object, key: EncryptionKey = key, piece: Int = 7_777) -> (output: [UInt8], error: SealError?) {
        let decryptor = ObjectDecryptor(dataKey: key, object: object)
        var output: [UInt8] = []
        do {
            var offset = 0
            while offset < stored.count {
                let end = min(stored.count, offset + piece)
                try stored[offset..<end].withUnsafeBytes { try decryptor.update($0) { output.append(contentsOf: $0) } }
                offset = end
            }
            try decryptor.finish { output.append(contentsOf: $0) }
            return (output, nil)
        } catch {
            return (output, error as? SealError)
        }
    }

    @Test(arguments: [0, 1, frame - 1, frame, frame + 1, 3 * frame, 3 * frame + 17])
    func roundTripsAtEveryFrameBoundary(size: Int) throws {
        let content = Self.content(size)
        for (write, read) in [(1 << 20, 1 << 20), (4_096, 65_553), (size + 1, 1)] where read > 1 || size < 3 * Self.frame {
            let stored = try Self.encrypt(content, piece: max(1, write))
            #expect(Int64(stored.count) == EncryptedObjectFormat.storedSize(plaintextLength: Int64(size)))
            let opened = Self.decrypt(stored, piece: read)
            #expect(opened.error == nil)
            #expect(opened.output == content)
        }
    }

    @Test func theHeaderIsAsDocumentedAndEveryObjectIsFresh() throws {
        let content = Self.content(1_000)
        let first = try Self.encrypt(content), second = try Self.encrypt(content)
        #expect(Array(first[0..<8]) == [0x50, 0x47, 0x42, 0x45, 0x4E, 0x43, 1, 16])
        #expect(first.count == EncryptedObjectFormat.headerSize + 1_000 + 16)
        #expect(first != second, "random salt and nonce base per object")
        #expect(Array(first[8..<52]) != Array(second[8..<52]))
        #expect(!Self.contains(first, Array(content[100..<116])))
        #expect(try Self.encrypt([]).count == 68)
    }

    @Test func aChangedByteAnywhereFailsToOpen() throws {
        let content = Self.content(2 * Self.frame + 500)
        let stored = try Self.encrypt(content)
        let frameStored = Self.frame + 16
        for index in [0, 6, 7, 9, 45, 52, 52 + frameStored - 1, 52 + frameStored + 3, stored.count - 1] {
            var changed = stored
            changed[index] ^= 0x20
            let opened = Self.decrypt(changed)
            guard case .undecryptable = opened.error?.reason else {
                Issue.record("byte \(index): \(String(describing: opened.error))")
                continue
            }
            #expect(opened.error?.object == Self.object)
            #expect(opened.output.count <= (index - 52) / frameStored * Self.frame, "nothing past the damage reaches the sink")
        }
    }

    @Test func cutShortReorderedOrRenamedFailsToOpen() throws {
        let content = Self.content(3 * Self.frame + 10)
        let stored = try Self.encrypt(content)
        let header = 52, frameStored = Self.frame + 16
        var cases: [(String, [UInt8], DecryptionFailure)] = [
            ("cut at a frame boundary", Array(stored.prefix(header + 3 * frameStored)), .frameRejected(index: 2)),
            ("cut after the first frame", Array(stored.prefix(header + frameStored)), .frameRejected(index: 0)),
            ("cut inside the header", Array(stored.prefix(30)), .truncated),
            ("header only", Array(stored.prefix(header)), .truncated),
            ("not encrypted", content, .notEncrypted),
        ]
        var swapped = stored
        swapped.replaceSubrange(header..<(header + frameStored), with: stored[(header + frameStored)..<(header + 2 * frameStored)])
        swapped.replaceSubrange((header + frameStored)..<(header + 2 * frameStored), with: stored[header..<(header + frameStored)])
        cases.append(("two frames swapped", swapped, .frameRejected(index: 0)))
        var appended = stored
        appended += stored.suffix(26)
        cases.append(("bytes appended", appended, .frameRejected(index: 3)))
        for (name, bytes, expected) in cases {
            let opened = Self.decrypt(bytes)
            #expect(opened.error?.reason == .undecryptable(expected), "\(name): \(String(describing: opened.error))")
        }
        // Another object's name, another key.
        #expect(Self.decrypt(stored, object: "main/chunks/ab/other.zst").error?.reason == .undecryptable(.frameRejected(index: 0)))
        #expect(Self.decrypt(stored, key: EncryptionKey.random()).error?.reason == .undecryptable(.frameRejected(index: 0)))
        var otherVersion = stored
        otherVersion[6] = 2
        #expect(Self.decrypt(otherVersion).error?.reason == .undecryptable(.unsupportedVersion(2)))
    }

    @Test func errorsNameTheObjectAndSayWhatHappened() {
        let error = SealError(object: Self.object, reason: .undecryptable(.frameRejected(index: 4)))
        #expect("\(error)".hasPrefix("unable to decrypt '\(Self.object)': encrypted frame 4 does not authenticate"))
        #expect("\(error)".contains("HINT:"))
    }

    static func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard needle.count <= haystack.count else { return false }
        return (0...(haystack.count - needle.count)).contains { haystack[$0..<($0 + needle.count)].elementsEqual(needle) }
    }
}
