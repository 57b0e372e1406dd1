import Foundation
import PGBackupFoundations

/// `repository.json`'s `encryptionKey`: the repository's random data key, wrapped (AES-256-GCM)
/// by the key file's key, and that key's id. Never holds a key in the clear.
public struct WrappedDataKey: Codable, Sendable, Hashable {
    /// `EncryptionKey.id` of the key file's key that wrapped the data key.
    public var keyID: String
    /// Base64 of `keyFileKey.wrap(dataKey, context: WrappedDataKey.context(…))`.
    public var wrappedDataKey: String
    /// Always `aes-256-gcm`.
    public var algorithm: String
    public var wrappedAt: Date

    /// The only algorithm this build writes and reads.
    public static let algorithm = "aes-256-gcm"

    /// Wraps `dataKey` with `keyFileKey` for the server's repository.
    public init(dataKey: EncryptionKey, wrappedBy keyFileKey: EncryptionKey, server: String, systemIdentifier: SystemIdentifier, at time: Date = Date()) {
        keyID = keyFileKey.id
        wrappedDataKey = Data(keyFileKey.wrap(dataKey, context: Self.context(server: server, systemIdentifier: systemIdentifier))).base64EncodedString()
        algorithm = Self.algorithm
        wrappedAt = time
    }

    /// The authenticated context of the wrap: a wrapped key copied into another server's or
    /// cluster's `repository.json` does not open.
    public static func context(server: String, systemIdentifier: SystemIdentifier) -> String {
        "pgbackup repository data key v1 server=\(server) system=\(systemIdentifier)"
    }

    /// The data key, with the key file's key; `EncryptionKeyError.unwrapFailed` when it does not open.
    public func unwrap(with keyFileKey: EncryptionKey, server: String, systemIdentifier: SystemIdentifier) throws(EncryptionKeyError) -> EncryptionKey {
        guard let bytes = Data(base64Encoded: wrappedDataKey) else { throw .unwrapFailed }
        return try keyFileKey.unwrap(Array(bytes), context: Self.context(server: server, systemIdentifier: systemIdentifier))
    }
}
