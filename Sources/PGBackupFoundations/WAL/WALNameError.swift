/// Why a WAL segment size or a WAL-directory file name was refused.
public enum WALNameError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The segment size is not a power of two between 1 MiB and 1 GiB.
    case invalidSegmentSize(UInt64)
    /// The name is none of PostgreSQL's WAL-directory file names.
    case notAWALFileName(String)
    /// The name has the right shape but its segment part does not exist with this segment size.
    case segmentOutOfRange(name: String, segment: UInt32, segmentSize: WALSegmentSize)
    /// Timeline 0 does not exist in PostgreSQL: timelines start at 1.
    case timelineZero(String)

    public var description: String {
        switch self {
        case .invalidSegmentSize(let bytes):
            return "unable to use WAL segment size \(bytes) bytes: it must be a power of two from 1 MiB to 1 GiB"
                + " (HINT: `SHOW wal_segment_size` on the server, or `pg_controldata` 'Bytes per WAL segment')"
        case .notAWALFileName(let name):
            return "unable to parse WAL file name '\(name)': expected a 24-hex-digit segment name (upper case),"
                + " NNNNNNNN.history, <segment>.partial or <segment>.XXXXXXXX.backup"
        case .segmentOutOfRange(let name, let segment, let size):
            return "unable to parse WAL file name '\(name)': segment part \(segment) does not exist with \(size)"
                + " segments (at most \(size.segmentsPerLogID - 1)); HINT: is the configured segment size right?"
        case .timelineZero(let name):
            return "unable to parse WAL file name '\(name)': timeline 0 does not exist (timelines start at 1)"
        }
    }
}
