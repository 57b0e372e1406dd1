/// The files PostgreSQL writes into `pg_wal` and hands to `archive_command`/`restore_command`.
public enum WALFileName: Hashable, Sendable, CustomStringConvertible {
    /// `000000010000000000000003`: a complete segment.
    case segment(WALSegmentName)
    /// `000000010000000000000003.partial`: the last, incomplete segment of the old timeline,
    /// archived at promotion so that the new timeline's copy can take the plain name.
    case partialSegment(WALSegmentName)
    /// `00000002.history`: the timeline history file of a timeline.
    case history(TimelineID)
    /// `000000010000000000000003.00000028.backup`: the backup history file written at the end of
    /// a base backup; the second part is the start LSN's offset inside the segment.
    case backupHistory(WALSegmentName, offset: UInt32)

    /// Classifies `name`; throws `WALNameError.notAWALFileName` for anything else.
    public init(parsing name: some StringProtocol, segmentSize: WALSegmentSize) throws(WALNameError) {
        let text = String(name)
        let utf8 = Array(text.utf8)
        let segmentLength = 24
        switch utf8.count {
        case segmentLength:
            self = .segment(try WALSegmentName(parsing: text, segmentSize: segmentSize))
        case 8 + 8 where text.hasSuffix(".history"):
            guard let tli = Hex.parse8(utf8[0..<8]) else { throw .notAWALFileName(text) }
            guard tli != 0 else { throw .timelineZero(text) }
            self = .history(TimelineID(tli))
        case segmentLength + 8 where text.hasSuffix(".partial"):
            self = .partialSegment(try WALSegmentName(parsing: text.prefix(segmentLength), segmentSize: segmentSize))
        case segmentLength + 1 + 8 + 7 where text.hasSuffix(".backup") && utf8[segmentLength] == UInt8(ascii: "."):
            let segment = try WALSegmentName(parsing: text.prefix(segmentLength), segmentSize: segmentSize)
            guard let offset = Hex.parse8(utf8[(segmentLength + 1)..<(segmentLength + 9)]),
                  UInt64(offset) < segmentSize.bytes
            else { throw .notAWALFileName(text) }
            self = .backupHistory(segment, offset: offset)
        default:
            throw .notAWALFileName(text)
        }
    }

    /// The backup history file name of a backup that started at `startLSN` on `timeline`.
    public static func backupHistory(timeline: TimelineID, startLSN: LSN, segmentSize: WALSegmentSize) -> WALFileName {
        .backupHistory(
            WALSegmentName(timeline: timeline, containing: startLSN, segmentSize: segmentSize),
            offset: UInt32(segmentSize.offset(of: startLSN))
        )
    }

    /// The file name, exactly as PostgreSQL writes it.
    public var name: String {
        switch self {
        case .segment(let segment): return segment.name
        case .partialSegment(let segment): return segment.name + ".partial"
        case .history(let timeline): return timeline.hex + ".history"
        case .backupHistory(let segment, let offset): return segment.name + "." + Hex.format8(offset) + ".backup"
        }
    }

    public var description: String { name }

    /// The timeline the file belongs to.
    public var timeline: TimelineID {
        switch self {
        case .segment(let segment), .partialSegment(let segment), .backupHistory(let segment, _): return segment.timeline
        case .history(let timeline): return timeline
        }
    }
}
