import PGBackupFoundations

/// What one key under `<server>/wal/` holds (DESIGN.md, "Repository format").
public enum WALArchiveEntry: Hashable, Sendable {
    /// `<TTTTTTTTXXXXXXXX>/<segment>.<zst|gz|raw>`: a completed segment.
    case segment(WALSegmentName, CompressionAlgorithm)
    /// `partial/<segment>.partial.<zst|gz|raw>`: the segment being written (or the `.partial`
    /// file PostgreSQL archives at promotion), shorter than a segment.
    case partial(WALSegmentName, CompressionAlgorithm)
    /// `<TTTTTTTT>.history`: a timeline history file, sealed raw.
    case history(TimelineID)
    /// `<TTTTTTTTXXXXXXXX>/<segment>.<offset>.backup`: a backup history file, sealed raw.
    case backupHistory(WALSegmentName, offset: UInt32)
    /// `<TTTTTTTTXXXXXXXX>/<segment>.times` or `partial/<segment>.partial.times`: the server
    /// times recorded with the completed segment or with its partial copy (`WALTimeRecord`,
    /// sealed raw JSON).
    case serverTimes(WALSegmentName, partial: Bool)

    /// The PostgreSQL file name the entry holds (`…03`, `…03.partial`, `00000002.history`, …).
    public var fileName: WALFileName {
        switch self {
        case .segment(let segment, _): .segment(segment)
        case .partial(let segment, _): .partialSegment(segment)
        case .history(let timeline): .history(timeline)
        case let .backupHistory(segment, offset): .backupHistory(segment, offset: offset)
        case let .serverTimes(segment, partial): partial ? .partialSegment(segment) : .segment(segment)
        }
    }

    /// How the object's content is stored: history and backup history files are always raw.
    public var algorithm: CompressionAlgorithm {
        switch self {
        case .segment(_, let algorithm), .partial(_, let algorithm): algorithm
        case .history, .backupHistory, .serverTimes: .none
        }
    }
}

/// The keys of the WAL archive, and the reverse: which entry a key holds. Pure.
///
/// ```
/// <server>/wal/<TTTTTTTTXXXXXXXX>/<segment>.<zst|gz|raw>        completed segments
/// <server>/wal/<TTTTTTTTXXXXXXXX>/<segment>.<offset>.backup     backup history files (sealed raw)
/// <server>/wal/<TTTTTTTT>.history                               timeline history files (sealed raw)
/// <server>/wal/partial/<segment>.partial.<zst|gz|raw>           partial segments
/// <server>/wal/gaps/<first segment>-<last segment>.json          recorded gaps (`WALGap`, sealed raw)
/// <server>/wal/<TTTTTTTTXXXXXXXX>/<segment>.times               server times of a segment (sealed raw JSON)
/// <server>/wal/partial/<segment>.partial.times                  server times of a partial segment
/// <server>/wal/diverged/<TTTTTTTT>/<file>.<sha256 16 hex>        diverged WAL, kept apart (sealed)
/// <server>/wal/diverged/<TTTTTTTT>/<file>.<sha256 16 hex>.json   its record (`DivergedWAL`, sealed raw)
/// ```
///
/// Every object is sealed (`ObjectSeal`); history and backup history files are stored raw
/// without an extension, so `head` shows them (followed by the 48-byte seal).
///
/// **Server times** (the (time, LSN) index): a stream that stores a segment or a partial
/// segment first stores, next to it, the readings of the server's clock it had for that WAL
/// (`WALTimeRecord`: the send times of XLogData and keepalive messages, with how far the WAL went
/// at each). One small object per segment keeps each record as immutable as its segment and
/// needs no index to rewrite; only the archive's newest one is read (restore planning). The
/// record goes *before* its data: a record may then promise more WAL than a failed put left, which
/// keeps its newest time an upper bound of the commit times stored; a partial stored without a
/// record (PostgreSQL's own, the end of a timeline) first removes the previous copy's. `wal-push`
/// stores no record: WAL without one has no known time, and restore planning then does not check
/// a time target against it (PostgreSQL refuses at the end of recovery if it is not reached).
///
/// **Diverged WAL**: a file that conflicts with the archive's history (different content under
/// an archived name, or a segment past its timeline's recorded switch point) is never stored
/// under its canonical key. It goes under `diverged/`, named by its content's digest (the same
/// content offered twice is one object), with a record saying why and who offered it. Readers of
/// the archive (continuity, fetch, retention, restore) never see it: `entry(forKey:)` is nil.
public struct WALArchiveLayout: Hashable, Sendable {
    /// `<server>/wal/`
    public let prefix: String

    public init(prefix: String) {
        self.prefix = prefix
    }

    public init(repository: RepositoryLayout) {
        self.init(prefix: repository.walPrefix)
    }

    /// `<prefix>partial/`
    public var partialPrefix: String { prefix + "partial/" }

    /// `<prefix>gaps/`: the recorded gaps, not WAL (`entry(forKey:)` is nil for them).
    public var gapPrefix: String { prefix + "gaps/" }

    /// `<prefix>gaps/<first segment>-<last segment>.json`
    public func gapKey(_ gap: WALGap) -> String {
        gapPrefix + gap.firstSegment + "-" + gap.lastSegment + ".json"
    }

    /// `<prefix>diverged/`: WAL kept apart (`entry(forKey:)` is nil for it).
    public var divergedPrefix: String { prefix + "diverged/" }

    /// `<prefix>diverged/<TTTTTTTT>/<file name>.<first 16 hex digits of the content's SHA-256>`
    public func divergedKey(_ fileName: WALFileName, sha256: SHA256Digest) -> String {
        divergedPrefix + fileName.timeline.hex + "/" + fileName.name + "." + sha256.description.prefix(16)
    }

    /// The record of the diverged object `key`: `key + ".json"`.
    public func divergedRecordKey(_ key: String) -> String { key + ".json" }

    /// The key of `entry`.
    public func key(of entry: WALArchiveEntry) -> String {
        switch entry {
        case let .segment(segment, algorithm):
            segmentKeyPrefix(segment) + algorithm.fileExtension
        case let .partial(segment, algorithm):
            partialKeyPrefix(segment) + algorithm.fileExtension
        case .history(let timeline):
            prefix + timeline.hex + ".history"
        case let .backupHistory(segment, offset):
            prefix + segment.directory.name + "/" + WALFileName.backupHistory(segment, offset: offset).name
        case let .serverTimes(segment, partial):
            (partial ? partialKeyPrefix(segment) : segmentKeyPrefix(segment)) + Self.serverTimesExtension
        }
    }

    /// The extension of server-time records.
    static let serverTimesExtension = "times"

    /// `<prefix><directory>/<segment>.`: what every stored copy of the segment (in whatever
    /// compression) and the segment's backup history files start with.
    public func segmentKeyPrefix(_ segment: WALSegmentName) -> String {
        prefix + segment.directory.name + "/" + segment.name + "."
    }

    /// `<prefix>partial/<segment>.partial.`: what every stored partial copy of the segment starts with.
    public func partialKeyPrefix(_ segment: WALSegmentName) -> String {
        partialPrefix + segment.name + ".partial."
    }

    /// The entry `key` holds, or nil for a key that is not part of the WAL archive's layout
    /// (outside the prefix, a segment in the wrong directory, an unknown extension, …).
    public func entry(forKey key: String, segmentSize: WALSegmentSize) -> WALArchiveEntry? {
        guard key.hasPrefix(prefix) else { return nil }
        let parts = key.dropFirst(prefix.count).split(separator: "/", omittingEmptySubsequences: false)
        switch parts.count {
        case 1:
            guard case .history(let timeline)? = try? WALFileName(parsing: parts[0], segmentSize: segmentSize) else { return nil }
            return .history(timeline)
        case 2 where parts[0] == "partial":
            let name = parts[1]
            if let segment = Self.timedSegment(name, suffix: ".partial." + Self.serverTimesExtension, segmentSize: segmentSize) {
                return .serverTimes(segment, partial: true)
            }
            guard let dot = name.lastIndex(of: "."),
                  let algorithm = try? CompressionAlgorithm(fileExtension: name[name.index(after: dot)...]),
                  case .partialSegment(let segment)? = try? WALFileName(parsing: name[..<dot], segmentSize: segmentSize)
            else { return nil }
            return .partial(segment, algorithm)
        case 2:
            let (directory, name) = (parts[0], parts[1])
            let entry: WALArchiveEntry
            let segment: WALSegmentName
            if case let .backupHistory(backupSegment, offset)? = try? WALFileName(parsing: name, segmentSize: segmentSize) {
                (entry, segment) = (.backupHistory(backupSegment, offset: offset), backupSegment)
            } else if let timed = Self.timedSegment(name, suffix: "." + Self.serverTimesExtension, segmentSize: segmentSize) {
                (entry, segment) = (.serverTimes(timed, partial: false), timed)
            } else if let dot = name.lastIndex(of: "."),
                      let algorithm = try? CompressionAlgorithm(fileExtension: name[name.index(after: dot)...]),
                      case .segment(let stored)? = try? WALFileName(parsing: name[..<dot], segmentSize: segmentSize) {
                (entry, segment) = (.segment(stored, algorithm), stored)
            } else {
                return nil
            }
            // A segment filed under another directory is not where readers look for it.
            return segment.directory.name == directory ? entry : nil
        default:
            return nil
        }
    }

    /// The segment a server-time record's file name (`<segment><suffix>`) belongs to.
    private static func timedSegment(_ name: Substring, suffix: String, segmentSize: WALSegmentSize) -> WALSegmentName? {
        guard name.hasSuffix(suffix) else { return nil }
        return try? WALSegmentName(parsing: name.dropLast(suffix.count), segmentSize: segmentSize)
    }
}
