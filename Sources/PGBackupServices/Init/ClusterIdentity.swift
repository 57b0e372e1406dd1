import PGBackupFoundations
import PGBackupPostgres

/// Who the primary is, as a replication connection reports it.
public struct ClusterIdentity: Sendable, Hashable, Codable {
    public var systemIdentifier: SystemIdentifier
    public var timeline: TimelineID
    public var walPosition: LSN
    /// `server_version_num`, e.g. 150018.
    public var versionNumber: Int
    public var walSegmentSize: WALSegmentSize

    /// Connects over the replication protocol and asks IDENTIFY_SYSTEM, the server version and
    /// the WAL segment size. Runs off the cooperative pool: libpq blocks.
    public static func fetch(conninfo: String) async throws -> ClusterIdentity {
        try await BlockingIO.runLong {
            let connection = try PostgresConnection(conninfo: conninfo, replication: .physical)
            defer { connection.close() }
            return try read(from: connection)
        }
    }

    /// Asks an open replication connection. Blocking.
    public static func read(from connection: PostgresConnection) throws -> ClusterIdentity {
        let system = try connection.identifySystem()
        let segmentSizeText = try connection.showParameter("wal_segment_size")
        guard let bytes = parseMemorySize(segmentSizeText), let segmentSize = try? WALSegmentSize(bytes: UInt64(bytes)) else {
            throw ServiceError.unsupported("unexpected wal_segment_size '\(segmentSizeText)' from the server")
        }
        return ClusterIdentity(
            systemIdentifier: system.systemIdentifier, timeline: system.timeline, walPosition: system.xlogPosition,
            versionNumber: Int(try connection.serverVersion), walSegmentSize: segmentSize)
    }
}

/// Parses PostgreSQL's memory units as `SHOW` prints them: `16MB`, `1GB`, `8kB`, `512` (bytes).
func parseMemorySize(_ text: String) -> Int? {
    let digits = text.prefix(while: \.isNumber)
    guard let value = Int(digits) else { return nil }
    switch text.dropFirst(digits.count) {
    case "", "B": return value
    case "kB": return value << 10
    case "MB": return value << 20
    case "GB": return value << 30
    case "TB": return value << 40
    default: return nil
    }
}
