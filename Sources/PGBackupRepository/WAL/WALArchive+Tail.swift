import PGBackupFoundations
import PGBackupStorage

/// What storing a spool's tail did.
public enum WALTailOutcome: Sendable, Equatable {
    /// Stored as the segment's partial copy.
    case stored
    /// The repository already held those bytes: the completed segment, or a partial copy at
    /// least as long. Nothing was written.
    case alreadyHeld
}

extension WALArchive {
    /// Stores the first `length` bytes of a spool file as the partial copy of `segment`, unless
    /// the repository holds them already (the completed segment, or a partial copy at least that
    /// long, which is never replaced by a shorter one). Once this returns, the repository holds
    /// the bytes and the spool file may go.
    public func storeTail(_ segment: WALSegmentName, contentsOf path: String, length: Int) async throws -> WALTailOutcome {
        if try await !storedCopies(of: segment).isEmpty { return .alreadyHeld }
        if let partial = try await storedPartial(of: segment),
           let seal = try await usableSeal(key: partial.key, algorithm: partial.algorithm), seal.length >= UInt64(length) {
            return .alreadyHeld
        }
        try await storePartial(segment, contentsOf: path, length: length)
        return .stored
    }
}

extension WALArchive {
    /// How many bytes of WAL the stored partial copy of `segment` holds; nil when there is none
    /// or it does not verify. Reads the whole object (at most one segment).
    public func partialLength(of segment: WALSegmentName) async throws -> UInt64? {
        guard let partial = try await storedPartial(of: segment) else { return nil }
        return try await usableSeal(key: partial.key, algorithm: partial.algorithm)?.length
    }
}
