import Foundation
import PGBackupFoundations
import PGBackupStorage

/// Diverged WAL (`WALArchiveLayout`, "Diverged WAL"): files that conflict with the archive's
/// history, kept apart under `wal/diverged/<TTTTTTTT>/` with a `DivergedWAL` record, never under
/// their canonical names.
extension WALArchive {
    /// What a store call records as the source when its caller names none.
    public static let unnamedSource = "an unnamed source"

    /// Every diverged WAL record, oldest detection first. A record that is damaged or not a
    /// record throws (`SealError`, `RepositoryError.corrupt`): diverged WAL is never silently
    /// dropped from a report.
    public func diverged() async throws -> [DivergedWAL] {
        var records: [DivergedWAL] = []
        for object in try await store.list(prefix: layout.divergedPrefix) where object.key.hasSuffix(".json") {
            let content = try await sealedObjects.content(key: object.key, algorithm: .none, limit: 1 << 20)
            do {
                records.append(try RepositoryJSON.decode(DivergedWAL.self, from: content))
            } catch {
                throw RepositoryError.corrupt(key: object.key, location: store.location, reason: "not a diverged WAL record (\(error))")
            }
        }
        return records.sorted { ($0.detectedAt, $0.key) < ($1.detectedAt, $1.key) }
    }

    /// Keeps `length` bytes of `file` (from its current position; `seal` is theirs) apart,
    /// compressed as new WAL is.
    func keepApart(
        _ fileName: WALFileName, from file: LocalFileReader, length: UInt64, seal: ObjectSeal,
        reason: DivergedWAL.Reason, source: String
    ) async throws -> WALStoreOutcome {
        let key = layout.divergedKey(fileName, sha256: seal.sha256)
        if let kept = try await keptRecord(key: key, seal: seal) { return .diverged(key: key, record: kept) }
        _ = try await putSealed(key: key, from: file, length: length, compression: compression)
        return try await writeRecord(key: key, fileName: fileName, seal: seal, compression: compression.algorithm, reason: reason, source: source)
    }

    /// Keeps a small file (a history or backup history file) apart, raw as its archived peers.
    func keepApart(_ fileName: WALFileName, content: [UInt8], reason: DivergedWAL.Reason, source: String) async throws -> WALStoreOutcome {
        let seal = ObjectSeal(of: content)
        let key = layout.divergedKey(fileName, sha256: seal.sha256)
        if let kept = try await keptRecord(key: key, seal: seal) { return .diverged(key: key, record: kept) }
        _ = try await sealedObjects.put(key: key, content: content, compression: .none, sha256: seal.sha256)
        return try await writeRecord(key: key, fileName: fileName, seal: seal, compression: .none, reason: reason, source: source)
    }

    /// The record of the same content kept apart before, when it and its object verify: the
    /// same content offered again is one object with its first record.
    private func keptRecord(key: String, seal: ObjectSeal) async throws -> DivergedWAL? {
        let content: [UInt8]
        do {
            content = try await sealedObjects.content(key: layout.divergedRecordKey(key), algorithm: .none, limit: 1 << 20)
        } catch StorageError.notFound {
            return nil
        } catch is SealError {
            return nil  // a damaged record is rewritten
        }
        guard let record = try? RepositoryJSON.decode(DivergedWAL.self, from: content), record.sha256 == seal.sha256,
              try await usableSeal(key: key, algorithm: record.compression) == seal
        else { return nil }
        return record
    }

    /// The record goes after the object it describes: a record always names a complete object.
    private func writeRecord(
        key: String, fileName: WALFileName, seal: ObjectSeal, compression: CompressionAlgorithm,
        reason: DivergedWAL.Reason, source: String
    ) async throws -> WALStoreOutcome {
        let record = DivergedWAL(
            key: key, fileName: fileName.name, timeline: fileName.timeline, sha256: seal.sha256, size: Int64(seal.length),
            compression: compression, reason: reason, source: source, detectedAt: Date())
        let encoded = try RepositoryJSON.encode(record)
        _ = try await sealedObjects.put(key: layout.divergedRecordKey(key), content: encoded, compression: .none)
        // As every later read gives it (the time to the millisecond).
        return .diverged(key: key, record: try RepositoryJSON.decode(DivergedWAL.self, from: encoded))
    }

    /// The earliest end of `timeline` that an archived history file records (the history of a
    /// later timeline that lists it, with its switch point), and that file's name; nil when none
    /// does.
    ///
    /// The later timelines' history files are probed upward from `timeline + 1` until one is
    /// missing, as PostgreSQL itself finds the newest timeline in an archive (`findNewestTimeLine`:
    /// timeline IDs are handed out consecutively, and each history file lists every ancestor).
    /// One small read per later timeline, and one miss: usually a single request, whatever the
    /// archive's size (a listing of `wal/` would cost a request per thousand objects on S3, and a
    /// walk of every segment directory on a file system, at every push). A damaged or unparsable
    /// history file is unusable, as a damaged segment is: skipped here (the probe goes on past
    /// it), and `verify` reports it.
    func recordedEnd(of timeline: TimelineID) async throws -> (switchPoint: LSN, history: String)? {
        var found: (switchPoint: LSN, history: String)?
        var later = timeline.rawValue
        while later < UInt32.max {
            later += 1
            let history: TimelineHistory?
            do {
                guard let read = try await self.history(of: TimelineID(later)) else { break }
                history = read
            } catch is SealError {
                history = nil
            } catch is RepositoryError {
                history = nil
            }
            guard let history, let end = history.switchpoint(of: timeline) else { continue }
            if found.map({ end < $0.switchPoint }) ?? true { found = (end, history.fileName) }
        }
        return found
    }
}
