import PGBackupFoundations
import PGBackupStorage

/// Recorded gaps (`WALGap`), under `<server>/wal/gaps/`.
extension WALArchive {
    /// Stores the record of a gap, sealed raw; recording the same gap again replaces it.
    public func recordGap(_ gap: WALGap) async throws {
        _ = try await sealedObjects.put(key: layout.gapKey(gap), content: try RepositoryJSON.encode(gap), compression: .none)
    }

    /// Every recorded gap, oldest first. A record that is damaged or not a gap document throws
    /// (`SealError`, `RepositoryError.corrupt`): a gap is never silently dropped.
    public func gaps() async throws -> [WALGap] {
        var gaps: [WALGap] = []
        for object in try await store.list(prefix: layout.gapPrefix) where object.key.hasSuffix(".json") {
            let content = try await sealedObjects.content(key: object.key, algorithm: .none, limit: 1 << 20)
            do {
                gaps.append(try RepositoryJSON.decode(WALGap.self, from: content))
            } catch {
                throw RepositoryError.corrupt(key: object.key, location: store.location, reason: "not a WAL gap record (\(error))")
            }
        }
        return gaps.sorted { ($0.startLSN, $0.endLSN) < ($1.startLSN, $1.endLSN) }
    }
}
