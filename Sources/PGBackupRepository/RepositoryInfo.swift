import Foundation
import PGBackupFoundations

/// `<server>/repository.json`: what the repository is and which PostgreSQL cluster it belongs to.
public struct RepositoryInfo: Codable, Sendable, Hashable {
    /// The repository format this file describes; readers refuse versions they do not know.
    public var formatVersion: Int
    public var server: String
    /// `pg_control`'s database system identifier (decimal text in the JSON).
    public var systemIdentifier: SystemIdentifier
    /// `server_version_num`, e.g. 150018.
    public var postgresVersionNumber: Int
    /// `wal_segment_size` (bytes in the JSON).
    public var walSegmentSize: WALSegmentSize
    /// `none`, or `aes-256-gcm` for a repository created with a key (`encryptionKey` then holds
    /// its wrapped data key). A repository stays what it was created as.
    public var encryption: String
    /// The wrapped data key of an encrypted repository; nil for a plaintext one.
    public var encryptionKey: WrappedDataKey?
    public var createdAt: Date
    /// The pgbackup version that created the repository.
    public var createdBy: String

    /// The newest format this build reads and writes: 2 for an encrypted repository, so that
    /// builds without encryption (which refuse versions above 1) never write plaintext into it.
    public static let currentFormatVersion = 2
    /// The format of a plaintext repository, which every build since the first reads.
    public static let plaintextFormatVersion = 1

    /// A plaintext repository's description. `withEncryptionKey` makes it an encrypted one.
    public init(
        server: String, systemIdentifier: SystemIdentifier, postgresVersionNumber: Int, walSegmentSize: WALSegmentSize,
        createdAt: Date = Date(), createdBy: String
    ) {
        self.formatVersion = Self.plaintextFormatVersion
        self.server = server
        self.systemIdentifier = systemIdentifier
        self.postgresVersionNumber = postgresVersionNumber
        self.walSegmentSize = walSegmentSize
        self.encryption = "none"
        self.createdAt = createdAt
        self.createdBy = createdBy
    }

    /// The same description for an encrypted repository whose data key `wrapped` holds.
    public func withEncryptionKey(_ wrapped: WrappedDataKey) -> RepositoryInfo {
        var info = self
        info.formatVersion = Self.currentFormatVersion
        info.encryption = wrapped.algorithm
        info.encryptionKey = wrapped
        return info
    }

    /// Whether the repository is encrypted (its objects, but `repository.json`, are stored sealed
    /// under its data key).
    public var isEncrypted: Bool { encryption != "none" }

    /// Refuses a repository that belongs to another cluster or another WAL segment size.
    /// `location` names the repository in the error. With the server's `versionNumber`, another
    /// cluster on a newer major is `.clusterUpgraded` (pg_upgrade's new cluster: `init
    /// --upgrade`); `host` names the server that answered.
    public func check(
        belongsTo systemIdentifier: SystemIdentifier, walSegmentSize: WALSegmentSize, location: String, versionNumber: Int? = nil, host: String? = nil
    ) throws(RepositoryError) {
        guard self.systemIdentifier == systemIdentifier else {
            if let versionNumber, isUpgrade(to: versionNumber) {
                throw .clusterUpgraded(
                    server: server, location: location, host: host, repository: self.systemIdentifier,
                    repositoryVersion: postgresVersionNumber, cluster: systemIdentifier, clusterVersion: versionNumber)
            }
            throw .systemIdentifierMismatch(
                server: server, location: location, repository: self.systemIdentifier, cluster: systemIdentifier)
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
