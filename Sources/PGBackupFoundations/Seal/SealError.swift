/// A stored object failed verification against its seal (`ObjectSeal`). The description names
/// the object: "unable to verify 'main/wal/…/000000010000000000000003.zst': SHA-256 mismatch …".
public struct SealError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What went wrong.
    public enum Reason: Sendable, Hashable {
        /// The stored stream does not end in a seal trailer of its algorithm: it was cut short,
        /// damaged at its end, or not written by pgbackup.
        case missingSeal(CompressionAlgorithm)
        /// The content decompressed to a different SHA-256 than the seal records.
        case digestMismatch(sealed: SHA256Digest, actual: SHA256Digest)
        /// The content decompressed to a different length than the seal records.
        case lengthMismatch(sealed: UInt64, actual: UInt64)
        /// The compressed content itself is invalid or cut short (the codec's own checks).
        case undecodable(CompressionError)
        /// The object is encrypted (or should be) and did not open: changed, cut short, or not
        /// the object stored under this name (`EncryptedObjectFormat`).
        case undecryptable(DecryptionFailure)
    }

    /// The object's name as the caller knows it: its key, or a file path.
    public var object: String
    public var reason: Reason

    public init(object: String, reason: Reason) {
        self.object = object
        self.reason = reason
    }

    public var description: String {
        let hint = "\nHINT: the object was damaged after it was written (storage, copy or transfer); "
            + "restore it from another copy of the repository, or take a new backup"
        switch reason {
        case .missingSeal(let algorithm):
            return "unable to verify '\(object)': it does not end in a pgbackup seal for \(algorithm) data "
                + "(the object is truncated, damaged at its end, or was not written by pgbackup)" + hint
        case let .digestMismatch(sealed, actual):
            return "unable to verify '\(object)': SHA-256 mismatch: the seal records \(sealed), "
                + "the content hashes to \(actual)" + hint
        case let .lengthMismatch(sealed, actual):
            return "unable to verify '\(object)': length mismatch: the seal records \(sealed) bytes, "
                + "the content has \(actual)" + hint
        case .undecodable(let error):
            return "unable to verify '\(object)': \(error)" + hint
        case .undecryptable(let failure):
            return "unable to decrypt '\(object)': \(failure)" + hint
        }
    }
}
