import Logging
import PGBackupFoundations
import PGBackupRepository
import PGBackupStorage

/// `pgbackup init`: creates the server's part of the repository, bound to the cluster's system
/// identifier, or confirms that an existing one belongs to this cluster.
public struct InitService: Sendable {
    public let settings: Settings
    public let logger: Logger

    public init(settings: Settings, logger: Logger) {
        self.settings = settings
        self.logger = logger
    }

    /// What `init` did, for the command's text or JSON output.
    public struct Result: Sendable, Codable, Equatable {
        public var created: Bool
        public var repository: String
        public var server: String
        public var systemIdentifier: SystemIdentifier
        public var postgresVersion: String
        public var walSegmentSize: WALSegmentSize
        public var timeline: UInt32
        public var walPosition: String
        /// `none` or `aes-256-gcm`.
        public var encryption: String
        /// The id of the key file's key that wraps the data key (encrypted repositories).
        public var keyID: String?
        /// With `--upgrade`: the history begun (its root, and the cluster it follows).
        public var upgrade: RepositoryUpgrade?
    }

    /// `upgrade`: `init --upgrade`, after pg_upgrade: begins the new cluster's history in the
    /// same repository (`Repository.beginHistory`), every older backup staying listed and
    /// restorable. Without it, an upgraded cluster is refused (`RepositoryError.clusterUpgraded`).
    public func run(upgrade: Bool = false) async throws -> Result {
        let conninfo = try settings.requireConninfo()
        let key = try settings.encryptionKey()
        let store = try StoreFactory.open(settings, create: true)
        logger.debug("connecting to the primary", metadata: ["server": "\(settings.server)"])
        let cluster = try await ClusterIdentity.fetch(conninfo: conninfo)
        let info = RepositoryInfo(
            server: settings.server, systemIdentifier: cluster.systemIdentifier,
            postgresVersionNumber: cluster.versionNumber, walSegmentSize: cluster.walSegmentSize,
            createdBy: "pgbackup \(PGBackupVersion.current)")
        if upgrade {
            let (repository, record) = try await Repository.beginHistory(
                store: store, info: info, key: key, createdBy: "pgbackup \(PGBackupVersion.current)")
            logger.notice("began a new history after a major upgrade", metadata: [
                "repository": "\(store.location)", "server": "\(settings.server)", "root": "\(record.root)",
                "previous": "\(record.previousSystemIdentifier)", "systemIdentifier": "\(record.systemIdentifier)",
            ])
            return Result(
                created: true, repository: store.location, server: settings.server,
                systemIdentifier: info.systemIdentifier, postgresVersion: info.postgresVersion,
                walSegmentSize: info.walSegmentSize, timeline: cluster.timeline.rawValue,
                walPosition: cluster.walPosition.description, encryption: repository.encryption, keyID: repository.keyID, upgrade: record)
        }
        let (repository, outcome) = try await Repository.initialize(store: store, info: info, key: key)
        let (created, stored) = switch outcome {
        case let .created(info): (true, info)
        case let .alreadyInitialized(info): (false, info)
        }
        logger.info(created ? "repository created" : "repository already initialized for this cluster",
                    metadata: ["repository": "\(store.location)", "server": "\(settings.server)", "encryption": "\(repository.encryption)"])
        return Result(
            created: created, repository: store.location, server: settings.server,
            systemIdentifier: stored.systemIdentifier, postgresVersion: stored.postgresVersion,
            walSegmentSize: stored.walSegmentSize, timeline: cluster.timeline.rawValue,
            walPosition: cluster.walPosition.description, encryption: repository.encryption, keyID: repository.keyID)
    }
}
