import PGBackupRepository

/// What `pgbackup verify` found (DESIGN.md, "Checks and verification"): `ok` only when no
/// problem was found.
public struct VerifyReport: Encodable, Sendable, Hashable {
    /// One problem, named by the object's key.
    public struct Problem: Codable, Sendable, Hashable {
        public var object: String
        public var problem: String
        public init(object: String, problem: String) {
            self.object = object
            self.problem = problem
        }
    }

    public var ok: Bool { errors.isEmpty }
    public var errors: [Problem] = []
    /// The backups covered, oldest first.
    public var backups: [BackupID] = []
    /// Objects read and verified (backup.json files, chunks, packs, server manifests, WAL objects).
    public var objectsRead = 0
    /// Stored bytes of the objects read.
    public var bytesRead: Int64 = 0
    /// Chunks (and packs) referenced by the covered backups, each read once.
    public var chunks = 0
    /// Objects read under `wal/` (segments, partials, histories, time records, gap records).
    public var walObjects = 0
    /// WAL kept apart under `wal/diverged/` (information, not a problem: it is not part of the
    /// archive's history; its objects are verified like every other).
    public var diverged: [DivergedWAL] = []
    public var seconds: Double = 0

    public init() {}

    private enum CodingKeys: String, CodingKey {
        case ok, errors, backups, objectsRead, bytesRead, chunks, walObjects, diverged, seconds
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(ok, forKey: .ok)
        try container.encode(errors, forKey: .errors)
        try container.encode(backups, forKey: .backups)
        try container.encode(objectsRead, forKey: .objectsRead)
        try container.encode(bytesRead, forKey: .bytesRead)
        try container.encode(chunks, forKey: .chunks)
        try container.encode(walObjects, forKey: .walObjects)
        try container.encode(diverged, forKey: .diverged)
        try container.encode(seconds, forKey: .seconds)
    }
}
