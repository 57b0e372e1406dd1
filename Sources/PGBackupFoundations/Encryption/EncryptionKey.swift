import Crypto
#if canImport(FoundationEssentials)
import FoundationEssentials  // Data, base64
#else
import Foundation
#endif

/// A 256-bit key: the key file's key (which wraps the repository's data key), the data key
/// itself, or a key derived from it. The bytes never leave this type but through `wrap` and
/// `fileContents`; `description` prints only the key's id.
public struct EncryptionKey: Sendable, CustomStringConvertible {
    /// The key's bytes (swift-crypto's `SymmetricKey` is not `Sendable`: it is made on use).
    private let bytes: [UInt8]

    /// The key's size in bytes.
    public static let size = 32

    init(_ key: SymmetricKey) {
        precondition(key.bitCount == 256, "an EncryptionKey has 256 bits")
        bytes = key.withUnsafeBytes { Array($0) }
    }

    var key: SymmetricKey { SymmetricKey(data: bytes) }

    /// A fresh random key (the system's CSPRNG).
    public static func random() -> EncryptionKey {
        EncryptionKey(SymmetricKey(size: .bits256))
    }

    /// A key file's contents: exactly 32 raw bytes, or 64 hex digits, or the base64 of 32 bytes;
    /// the text forms may end in one newline (`openssl rand -hex 32 > key`, `openssl rand
    /// -base64 32 > key`). Anything else is `EncryptionKeyError.invalidFormat`.
    public init(fileContents bytes: [UInt8]) throws(EncryptionKeyError) {
        if bytes.count == Self.size {
            self.init(SymmetricKey(data: bytes))
            return
        }
        var text = bytes
        if text.last == UInt8(ascii: "\n") { text.removeLast() }
        if text.last == UInt8(ascii: "\r") { text.removeLast() }
        // 64 hex digits read as a digest does: the same parser.
        if let decoded = SHA256Digest(hex: String(decoding: text, as: UTF8.self)) {
            self.init(SymmetricKey(data: decoded.bytes))
            return
        }
        if let decoded = Data(base64Encoded: Data(text)), decoded.count == Self.size {
            self.init(SymmetricKey(data: decoded))
            return
        }
        throw .invalidFormat(size: bytes.count)
    }

    /// The key as a key file holds it: 64 lower-case hex digits and a newline (restore writes it
    /// next to the data directory for the restored server's `restore_command`).
    public var fileContents: [UInt8] {
        Array((SHA256Digest(bytes: bytes)!.description + "\n").utf8)
    }

    /// The key's public name: 16 hex digits of HMAC-SHA-256 under the key of a fixed text.
    /// Tells keys apart; reveals nothing about the key.
    public var id: String {
        String(authenticationCode(of: Array("pgbackup key id v1".utf8)).description.prefix(16))
    }

    public var description: String { "EncryptionKey(id: \(id))" }

    /// A key for one purpose, derived with HKDF-SHA-256 (`purpose` is HKDF's info, `salt` its
    /// salt): keys derived for different purposes or salts are independent.
    public func derived(_ purpose: String, salt: some DataProtocol = [UInt8]()) -> EncryptionKey {
        EncryptionKey(HKDF<SHA256>.deriveKey(
            inputKeyMaterial: key, salt: salt, info: Array(purpose.utf8), outputByteCount: Self.size))
    }

    /// HMAC-SHA-256 of `bytes` under this key.
    public func authenticationCode(of bytes: some ContiguousBytes) -> SHA256Digest {
        var hmac = HMAC<SHA256>(key: key)
        bytes.withUnsafeBytes { hmac.update(data: $0) }
        let code = hmac.finalize()
        return code.withUnsafeBytes { SHA256Digest(digestBytes: $0) }
    }

    /// `key` encrypted and authenticated under this key (AES-256-GCM, a random nonce; `context`
    /// is authenticated too): 60 bytes, nonce ‖ ciphertext ‖ tag.
    public func wrap(_ wrapped: EncryptionKey, context: String) -> [UInt8] {
        let box = wrapped.key.withUnsafeBytes { raw in
            // Sealing with a valid 256-bit key and a fresh nonce cannot fail.
            try! AES.GCM.seal(raw, using: wrappingKey, authenticating: Array(context.utf8))
        }
        return Array(box.combined!)
    }

    /// The key `wrap` wrapped with this key and `context`; `EncryptionKeyError.unwrapFailed` when
    /// this is another key, the context differs, or the bytes were changed.
    public func unwrap(_ bytes: [UInt8], context: String) throws(EncryptionKeyError) -> EncryptionKey {
        guard bytes.count == 12 + Self.size + 16,
              let box = try? AES.GCM.SealedBox(combined: bytes),
              let opened = try? AES.GCM.open(box, using: wrappingKey, authenticating: Array(context.utf8)),
              opened.count == Self.size
        else { throw .unwrapFailed }
        return EncryptionKey(SymmetricKey(data: opened))
    }

    /// The key `wrap` uses: derived, so the key file's key itself encrypts nothing.
    private var wrappingKey: SymmetricKey { derived("pgbackup key wrapping v1").key }
}

/// Why a key could not be read or unwrapped. Never holds key material.
public enum EncryptionKeyError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The key file holds neither 32 raw bytes, nor 64 hex digits, nor the base64 of 32 bytes.
    case invalidFormat(size: Int)
    /// A wrapped key did not open: another key, another context, or changed bytes.
    case unwrapFailed

    public var description: String {
        switch self {
        case .invalidFormat(let size):
            "the key file holds \(size) bytes that are neither 32 raw bytes, nor 64 hex digits, nor the base64 of 32 bytes "
                + "(make one with: openssl rand -hex 32 > FILE; chmod 600 FILE)"
        case .unwrapFailed:
            "the wrapped key does not open with this key (another key, or the wrapped key was changed)"
        }
    }
}
