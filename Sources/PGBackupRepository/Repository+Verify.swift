import PGBackupFoundations

extension Repository {
    /// Reads the whole sealed object `key` (stored in `algorithm`), discarding its content, and
    /// checks it against its seal; returns the seal. A damaged object is a `SealError` naming the
    /// key, a missing one `StorageError.notFound`. Memory: the codec's buffers and one read piece.
    public func verifySealedObject(key: String, algorithm: CompressionAlgorithm) async throws -> ObjectSeal {
        try await SealedObjects(store: store).verify(key: key, algorithm: algorithm)
    }
}
