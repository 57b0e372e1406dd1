import Foundation

/// `<server>/repository.json`: what the repository is and which PostgreSQL cluster it belongs to.
public struct RepositoryInfo: Codable, Sendable, Hashable {
    /// The repository format this file describes; readers refuse versions they do not know.
    public var formatVersion: Int
    public var server: String
    /// `pg_control`'s database system identifier, as decimal text (JSON numbers lose 64-bit precision).
    public var systemIdentifier: String
    /// `server_version_num`, e.g. 150018.
    public var postgresVersionNumber: Int
    /// WAL segment size in bytes (`wal_segment_size`).
    public var walSegmentSize: Int
    /// `none` until client-side encryption is configured.
    public var encryption: String
    public var createdAt: Date
    /// The pgbackup version that created the repository.
    public var createdBy: String

    /// The newest format this build reads and writes.
    public static let currentFormatVersion = 1

    public init(
        server: String, systemIdentifier: UInt64, postgresVersionNumber: Int, walSegmentSize: Int,
        encryption: String = "none", createdAt: Date = Date(), createdBy: String
    ) {
        self.formatVersion = Self.currentFormatVersion
        self.server = server
        self.systemIdentifier = String(systemIdentifier)
        self.postgresVersionNumber = postgresVersionNumber
        self.walSegmentSize = walSegmentSize
        self.encryption = encryption
        self.createdAt = createdAt
        self.createdBy = createdBy
    }

    /// Refuses a repository that belongs to another cluster or another WAL segment size.
    /// `location` names the repository in the error.
    public func check(belongsTo systemIdentifier: UInt64, walSegmentSize: Int, location: String) throws(RepositoryError) {
        guard self.systemIdentifier == String(systemIdentifier) else {
            throw .systemIdentifierMismatch(
                server: server, location: location, repository: self.systemIdentifier, cluster: String(systemIdentifier))
        }
        guard self.walSegmentSize == walSegmentSize else {
            throw .segmentSizeMismatch(server: server, repository: self.walSegmentSize, cluster: walSegmentSize)
        }
    }

    /// `15.18` from 150018.
    public var postgresVersion: String {
        "\(postgresVersionNumber / 10000).\(postgresVersionNumber % 10000)"
    }
}

/// The JSON conventions of every repository document: sorted keys, ISO 8601 times in UTC with
/// milliseconds (`2026-11-22T10:15:00.123Z`).
public enum RepositoryJSON {
    private static let timeFormat = Date.ISO8601FormatStyle(includingFractionalSeconds: true)

    public static func encode(_ value: some Encodable) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(date.formatted(timeFormat))
        }
        return Array(try encoder.encode(value)) + [UInt8(ascii: "\n")]
    }

    public static func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws -> T {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let container = try decoder.singleValueContainer()
            let text = try container.decode(String.self)
            if let date = (try? timeFormat.parse(text)) ?? (try? Date.ISO8601FormatStyle().parse(text)) { return date }
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "'\(text)' is not an ISO 8601 time")
        }
        return try decoder.decode(type, from: Data(bytes))
    }
}
