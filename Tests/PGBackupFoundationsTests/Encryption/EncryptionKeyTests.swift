import Foundation
import PGBackupFoundations
import Testing

@Suite("Encryption key")
struct EncryptionKeyTests {
    static let raw: [UInt8] = (0..<32).map { UInt8($0 * 7 + 3) }
    static var hex: String { raw.map { String(format: "%02x", $0) }.joined() }

    @Test func keyFileFormatsAreTheSameKey() throws {
        let fromRaw = try EncryptionKey(fileContents: Self.raw)
        let forms: [[UInt8]] = [
            Array(Self.hex.utf8), Array((Self.hex + "\n").utf8), Array((Self.hex.uppercased() + "\r\n").utf8),
            Array(Data(Self.raw).base64EncodedString().utf8), Array((Data(Self.raw).base64EncodedString() + "\n").utf8),
        ]
        for form in forms {
            #expect(try EncryptionKey(fileContents: form).id == fromRaw.id, "\(String(decoding: form, as: UTF8.self))")
        }
        #expect(try EncryptionKey(fileContents: fromRaw.fileContents).id == fromRaw.id)
        #expect(String(decoding: fromRaw.fileContents, as: UTF8.self) == Self.hex + "\n")
    }

    @Test func anythingElseIsRefused() {
        let bad: [[UInt8]] = [
            [], Array(Self.raw.prefix(31)), Self.raw + [0], Array(Self.hex.dropLast().utf8), Array((Self.hex + "0\n").utf8),
            Array(("z" + Self.hex.dropFirst()).utf8), Array(Data(Self.raw.prefix(31)).base64EncodedString().utf8),
            Array("correct horse battery staple\n".utf8), Array((Self.hex + "\n\n").utf8),
        ]
        for contents in bad {
            #expect(throws: EncryptionKeyError.invalidFormat(size: contents.count)) { try EncryptionKey(fileContents: contents) }
        }
    }

    @Test func theKeyNeverShowsAndItsIDIsStable() throws {
        let key = try EncryptionKey(fileContents: Self.raw)
        #expect(key.id.count == 16)
        #expect(key.id == (try EncryptionKey(fileContents: Array(Self.hex.utf8))).id)
        #expect(key.id != EncryptionKey.random().id)
        #expect(!Self.hex.contains(key.id))
        #expect("\(key)" == "EncryptionKey(id: \(key.id))")
        #expect(!"\(key)".contains(Self.hex.prefix(8)))
    }

    @Test func derivedKeysAreIndependent() throws {
        let key = try EncryptionKey(fileContents: Self.raw)
        let names = key.derived("pgbackup chunk names v1")
        #expect(names.id != key.id)
        #expect(names.id == key.derived("pgbackup chunk names v1").id)
        #expect(names.id != key.derived("something else").id)
        #expect(key.derived("x", salt: [1]).id != key.derived("x", salt: [2]).id)
        let message = Array("content".utf8)
        #expect(names.authenticationCode(of: message) == names.authenticationCode(of: message))
        #expect(names.authenticationCode(of: message) != key.authenticationCode(of: message))
        #expect(names.authenticationCode(of: message) != SHA256Hasher.hash(message))
    }

    @Test func wrappingOpensOnlyWithTheSameKeyAndContext() throws {
        let wrapping = try EncryptionKey(fileContents: Self.raw)
        let data = EncryptionKey.random()
        let wrapped = wrapping.wrap(data, context: "server=main")
        #expect(wrapped.count == 60)
        #expect(try wrapping.unwrap(wrapped, context: "server=main").id == data.id)
        #expect(wrapping.wrap(data, context: "server=main") != wrapped, "a fresh nonce each time")
        #expect(throws: EncryptionKeyError.unwrapFailed) { try EncryptionKey.random().unwrap(wrapped, context: "server=main") }
        #expect(throws: EncryptionKeyError.unwrapFailed) { try wrapping.unwrap(wrapped, context: "server=other") }
        for index in [0, 20, 59] {
            var flipped = wrapped
            flipped[index] ^= 0x01
            #expect(throws: EncryptionKeyError.unwrapFailed) { try wrapping.unwrap(flipped, context: "server=main") }
        }
        #expect(throws: EncryptionKeyError.unwrapFailed) { try wrapping.unwrap(Array(wrapped.dropLast()), context: "server=main") }
    }
}
