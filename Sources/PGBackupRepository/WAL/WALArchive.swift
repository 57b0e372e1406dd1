import Foundation
import PGBackupFoundations
import PGBackupStorage

/// What storing a WAL file did.
public enum WALStoreOutcome: Sendable, Equatable {
    /// Written under `key`: `size` bytes of content, `storedSize` bytes as stored (compressed and
    /// sealed), content SHA-256 `sha256`.
    case stored(key: String, size: Int64, storedSize: Int64, sha256: SHA256Digest)
    /// The same content was archived already under `key`; nothing was written.
    case alreadyArchived(key: String)
    /// The file conflicts with the archive's history: it is kept apart under `key` (in
    /// `wal/diverged/`), never under its canonical name; `record` says why and who offered it.
    case diverged(key: String, record: DivergedWAL)

    /// The key that holds the file.
    public var key: String {
        switch self {
        case .stored(let key, _, _, _), .alreadyArchived(let key), .diverged(let key, _): key
        }
    }
}

/// The repository's WAL archive: completed segments, partial segments, timeline history and
/// backup history files of one server, every object sealed (`ObjectSeal`). Keys: see
/// `WALArchiveLayout`.
///
/// Rules every method keeps:
/// - **Archived WAL is immutable.** Storing a segment, history or backup history file whose name
///   is archived already succeeds without writing when the content is identical
///   (`.alreadyArchived`, so `archive_command` may retry). When it differs, the offered file is
///   kept apart under `wal/diverged/` with a record (`.diverged`, `WALArchive+Diverged`); the
///   archived copy stays as it was. An archived copy that fails verification is unusable: it is
///   replaced by the new copy. (The check and the put are two steps: two writers storing
///   *different* content under one name at the same instant are not detected.)
/// - **A timeline's history is final once a later timeline records its end.** A completed
///   segment of timeline T that ends past T's switch point in an archived history file (and is
///   not archived identically) is WAL a former primary wrote after the failover: kept apart too.
/// - **Partial segments are mutable**: each store replaces the previous copy.
/// - **Every read is verified** against the object's seal before anything becomes visible.
/// - Memory stays bounded: files stream through in chunks of `chunkSize`.
public struct WALArchive: Sendable {
    public let repository: Repository
    public let segmentSize: WALSegmentSize
    /// How new segments and partial segments are compressed; reads take any compression.
    public let compression: Compression
    public let layout: WALArchiveLayout

    /// The unit files and objects are read in.
    static let chunkSize = 1 << 20

    public init(repository: Repository, segmentSize: WALSegmentSize, compression: Compression) {
        self.repository = repository
        self.segmentSize = segmentSize
        self.compression = compression
        self.layout = WALArchiveLayout(repository: repository.layout)
    }

    var store: any ObjectStore { repository.store }

    /// Stores a completed segment read from a local file, which must be exactly one segment long.
    /// Identical content already archived (in any compression) → `.alreadyArchived`; different
    /// content under the same name, or a segment past its timeline's switch point in an archived
    /// history file → kept apart (`.diverged`, recording `source`: who offered it). `serverTimes`:
    /// what the stream knows of the segment's time, stored first (`WALArchiveLayout`, "Server
    /// times"); never for a diverged segment.
    public func storeSegment(
        _ name: WALSegmentName, contentsOf path: String, serverTimes: WALTimeRecord? = nil,
        source: String = WALArchive.unnamedSource
    ) async throws -> WALStoreOutcome {
        let file = try await LocalFileReader.open(path)
        defer { file.close() }
        let size = try await file.size()
        guard size == segmentSize.bytes else {
            throw WALArchiveError.wrongSegmentSize(name: name.name, path: path, size: size, segmentSize: segmentSize)
        }
        let existing = try await storedCopies(of: name)
        let key = layout.key(of: .segment(name, compression.algorithm))
        var offered: ObjectSeal?
        if !existing.isEmpty {
            let seal = try await hash(file, length: size)
            offered = seal
            try await file.rewind()
            switch try await compare(existing, with: seal) {
            case .identical(let key):
                try await putServerTimes(serverTimes, for: name, partial: false)
                return .alreadyArchived(key: key)
            case let .differs(archivedKey, archived):
                return try await keepApart(
                    .segment(name), from: file, length: size, seal: seal,
                    reason: .conflict(archivedKey: archivedKey, archived: archived), source: source)
            case .noUsableCopy:
                break
            }
        }
        if let end = try await recordedEnd(of: name.timeline), name.endLSN > end.switchPoint {
            let seal: ObjectSeal
            if let offered { seal = offered } else { seal = try await hash(file, length: size) }
            try await file.rewind()
            return try await keepApart(
                .segment(name), from: file, length: size, seal: seal,
                reason: .beyondSwitchPoint(end.switchPoint, history: end.history), source: source)
        }
        try await putServerTimes(serverTimes, for: name, partial: false)
        let (seal, info) = try await putSealed(key: key, from: file, length: size, compression: compression)
        try await store.delete(existing.map(\.key).filter { $0 != key })
        return .stored(key: key, size: Int64(seal.length), storedSize: info.size, sha256: seal.sha256)
    }

    /// Stores or replaces the partial copy of the segment being written: the first `length`
    /// bytes of the file (at most one segment). `serverTimes` is stored first; without it, the
    /// previous copy's record goes (it would not reach this copy's end).
    public func storePartial(_ name: WALSegmentName, contentsOf path: String, length: Int, serverTimes: WALTimeRecord? = nil) async throws {
        guard length >= 0, UInt64(length) <= segmentSize.bytes else {
            throw WALArchiveError.partialTooLong(name: name.name + ".partial", length: UInt64(max(length, 0)), segmentSize: segmentSize)
        }
        let file = try await LocalFileReader.open(path)
        defer { file.close() }
        try await putServerTimes(serverTimes, for: name, partial: true)
        let key = layout.key(of: .partial(name, compression.algorithm))
        _ = try await putSealed(key: key, from: file, length: UInt64(length), compression: compression)
        try await store.delete(otherPartialKeys(name, keeping: key))
    }

    /// Removes the partial copy of the segment (in whatever compression) and its server times;
    /// nothing to remove is fine.
    public func removePartial(_ name: WALSegmentName) async throws {
        try await store.delete(CompressionAlgorithm.allCases.map { layout.key(of: .partial(name, $0)) }
            + [layout.key(of: .serverTimes(name, partial: true))])
    }

    /// Stores a timeline history file (sealed raw, `<server>/wal/<TTTTTTTT>.history`). Identical
    /// content already archived succeeds; different content is kept apart (`.diverged`).
    @discardableResult
    public func storeHistory(
        _ timeline: TimelineID, content: [UInt8], source: String = WALArchive.unnamedSource
    ) async throws -> WALStoreOutcome {
        try await storeImmutable(.history(timeline), content: content, source: source)
    }

    /// Stores any WAL-directory file by its PostgreSQL name, for `wal-push`: a segment, a
    /// timeline history file (`NNNNNNNN.history`), a backup history file (`*.backup`), or the
    /// `.partial` segment PostgreSQL archives at promotion (which replaces any partial copy of
    /// that segment, unless identical). Throws `WALNameError` for any other name. A file that
    /// conflicts with the archive's history is kept apart (`.diverged`, recording `source`).
    ///
    /// `.partial` files are exempt from the switch-point rule: PostgreSQL archives one at
    /// promotion, the old timeline's last segment cut at the switch point (no WAL past it), and
    /// partial copies are mutable and never part of a timeline's completed history.
    public func storeFile(
        named name: String, contentsOf path: String, source: String = WALArchive.unnamedSource
    ) async throws -> WALStoreOutcome {
        switch try WALFileName(parsing: name, segmentSize: segmentSize) {
        case .segment(let segment):
            return try await storeSegment(segment, contentsOf: path, source: source)
        case .history(let timeline):
            return try await storeImmutable(.history(timeline), content: readSmallFile(path), source: source)
        case let .backupHistory(segment, offset):
            return try await storeImmutable(.backupHistory(segment, offset: offset), content: readSmallFile(path), source: source)
        case .partialSegment(let segment):
            return try await storePostgresPartial(segment, contentsOf: path)
        }
    }

    /// Per timeline: the contiguous ranges of completed segments held, the gaps between them,
    /// history files and partial segments (one listing of the WAL prefix).
    public func continuity() async throws -> WALContinuity {
        WALContinuity(keys: try await store.list(prefix: layout.prefix).map(\.key), layout: layout, segmentSize: segmentSize)
    }

    /// The continuity, and the last recorded server time at the end of each timeline's archive
    /// (`lastServerTime(of:)`; a timeline whose newest WAL has no record is absent). One listing,
    /// and one small read per timeline.
    public func survey() async throws -> (continuity: WALContinuity, serverTimes: [TimelineID: WALTimeMark]) {
        let continuity = try await continuity()
        var times: [TimelineID: WALTimeMark] = [:]
        for timeline in continuity.timelines {
            times[timeline.timeline] = try await lastServerTime(of: timeline)
        }
        return (continuity, times)
    }

    /// The archived history file of `timeline`, parsed and checked; nil when the archive has none.
    public func history(of timeline: TimelineID) async throws -> TimelineHistory? {
        let key = layout.key(of: .history(timeline))
        let content: [UInt8]
        do {
            content = try await SealedObjects(store: store).content(key: key, algorithm: .none, limit: 1 << 20)
        } catch StorageError.notFound {
            return nil
        }
        do {
            return try TimelineHistory(parsing: String(decoding: content, as: UTF8.self), timeline: timeline)
        } catch {
            throw RepositoryError.corrupt(key: key, location: store.location, reason: "not a timeline history file (\(error))")
        }
    }

    // MARK: - storing, the details

    /// The stored copies of a completed segment, in any compression (normally none or one).
    func storedCopies(of segment: WALSegmentName) async throws -> [(key: String, algorithm: CompressionAlgorithm)] {
        try await store.list(prefix: layout.segmentKeyPrefix(segment)).compactMap { info in
            guard case let .segment(stored, algorithm)? = layout.entry(forKey: info.key, segmentSize: segmentSize),
                  stored == segment else { return nil }
            return (info.key, algorithm)
        }
    }

    /// How an offered file compares with the archived copies of its name.
    private enum Comparison {
        /// A copy verifies and holds the same content.
        case identical(key: String)
        /// A copy verifies and holds other content (`archived`: its SHA-256).
        case differs(key: String, archived: SHA256Digest)
        /// Every copy is damaged (to be replaced).
        case noUsableCopy
    }

    private func compare(_ copies: [(key: String, algorithm: CompressionAlgorithm)], with offered: ObjectSeal) async throws -> Comparison {
        for copy in copies {
            // A damaged copy is unusable, so replacing it loses nothing.
            guard let archived = try await usableSeal(key: copy.key, algorithm: copy.algorithm) else { continue }
            return archived == offered ? .identical(key: copy.key) : .differs(key: copy.key, archived: archived.sha256)
        }
        return .noUsableCopy
    }

    /// History and backup history files: small, raw, immutable.
    private func storeImmutable(_ entry: WALArchiveEntry, content: [UInt8], source: String) async throws -> WALStoreOutcome {
        let key = layout.key(of: entry)
        let offered = ObjectSeal(of: content)
        if try await store.exists(key) {
            switch try await compare([(key, .none)], with: offered) {
            case .identical(let key):
                return .alreadyArchived(key: key)
            case let .differs(archivedKey, archived):
                return try await keepApart(
                    entry.fileName, content: content, reason: .conflict(archivedKey: archivedKey, archived: archived), source: source)
            case .noUsableCopy:
                break
            }
        }
        let info = try await store.put(key, bytes: try ObjectSealer.seal(content, compression: .none))
        return .stored(key: key, size: Int64(content.count), storedSize: info.size, sha256: offered.sha256)
    }

    /// PostgreSQL's own `<segment>.partial` (archived at promotion): the whole file.
    private func storePostgresPartial(_ segment: WALSegmentName, contentsOf path: String) async throws -> WALStoreOutcome {
        let name = segment.name + ".partial"
        let file = try await LocalFileReader.open(path)
        defer { file.close() }
        let size = try await file.size()
        guard size <= segmentSize.bytes else {
            throw WALArchiveError.partialTooLong(name: name, length: size, segmentSize: segmentSize)
        }
        let offered = try await hash(file, length: size)
        try await file.rewind()
        for algorithm in CompressionAlgorithm.allCases {
            let key = layout.key(of: .partial(segment, algorithm))
            if try await usableSeal(key: key, algorithm: algorithm) == offered {
                return .alreadyArchived(key: key)
            }
        }
        let key = layout.key(of: .partial(segment, compression.algorithm))
        try await putServerTimes(nil, for: segment, partial: true)
        let (seal, info) = try await putSealed(key: key, from: file, length: size, compression: compression)
        try await store.delete(otherPartialKeys(segment, keeping: key))
        return .stored(key: key, size: Int64(seal.length), storedSize: info.size, sha256: seal.sha256)
    }

    private func otherPartialKeys(_ segment: WALSegmentName, keeping key: String) -> [String] {
        CompressionAlgorithm.allCases.map { layout.key(of: .partial(segment, $0)) }.filter { $0 != key }
    }

    /// A history or backup history file: small text; refuses anything over 16 MiB.
    private func readSmallFile(_ path: String) async throws -> [UInt8] {
        let file = try await LocalFileReader.open(path)
        defer { file.close() }
        let limit: UInt64 = 16 << 20
        let size = try await file.size()
        guard size <= limit else {
            throw FileSystemError(operation: "archive", path: path, reason: "larger than \(limit) bytes: not a history file")
        }
        return try await file.read(maxLength: Int(size))
    }
}
