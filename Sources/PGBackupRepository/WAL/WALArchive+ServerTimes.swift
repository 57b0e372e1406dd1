import PGBackupFoundations
import PGBackupStorage

/// The server times recorded with stored WAL (`WALTimeRecord`; the layout's doc comment says
/// how they are kept).
extension WALArchive {
    /// The server times recorded with a completed segment (`partial: false`) or with its partial
    /// copy; nil when there is none. A damaged record throws `RepositoryError.corrupt`.
    public func serverTimes(of segment: WALSegmentName, partial: Bool) async throws -> WALTimeRecord? {
        let key = layout.key(of: .serverTimes(segment, partial: partial))
        let content: [UInt8]
        do {
            content = try await SealedObjects(store: store).content(key: key, algorithm: .none, limit: 1 << 20)
        } catch StorageError.notFound {
            return nil
        } catch let error as SealError {
            throw RepositoryError.corrupt(key: key, location: store.location, reason: "\(error)")
        }
        do {
            return try RepositoryJSON.decode(WALTimeRecord.self, from: content)
        } catch {
            throw RepositoryError.corrupt(key: key, location: store.location, reason: "not a server-time record (\(error))")
        }
    }

    /// The last recorded server time of the timeline's archive: the newest mark of the record
    /// kept with its newest WAL (the partial segment when it is ahead of the completed ones, as
    /// `wal-fetch` serves it). Nil when that WAL has no record (stored by `wal-push`, or before
    /// records existed) or a completed segment's record does not reach its end: then nothing
    /// bounds the time of that WAL.
    ///
    /// An idle server sends no WAL, so this stays at the time of its last WAL while the clock
    /// moves on. That is the right end: recovery stops at the first commit after a target time,
    /// and the archive holds none after this one.
    public func lastServerTime(of timeline: WALContinuity.Timeline) async throws -> WALTimeMark? {
        if let partial = timeline.partials.last, timeline.lastSegment.map({ partial.segmentNumber > $0.segmentNumber }) ?? true {
            guard let mark = try await serverTimes(of: partial, partial: true)?.last, mark.lsn > partial.startLSN else { return nil }
            return mark
        }
        guard let segment = timeline.lastSegment,
              let mark = try await serverTimes(of: segment, partial: false)?.last, mark.lsn >= segment.endLSN
        else { return nil }
        return mark
    }

    /// Writes a record (before the WAL it describes), or removes the partial's stale one.
    func putServerTimes(_ record: WALTimeRecord?, for segment: WALSegmentName, partial: Bool) async throws {
        let key = layout.key(of: .serverTimes(segment, partial: partial))
        if let record {
            _ = try await sealedObjects.put(key: key, content: try RepositoryJSON.encode(record), compression: .none)
        } else if partial {
            try await store.delete([key])
        }
    }
}
