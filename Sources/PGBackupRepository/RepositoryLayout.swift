import PGBackupFoundations

/// Object keys of one server's part of a repository (DESIGN.md, "Repository format").
///
/// A server's first history (the cluster `init` bound it to) lives under `<server>/`; each later
/// history, begun by `init --upgrade` after `pg_upgrade`, under its own root
/// `<server>@<system identifier>/` with the same keys below it (`RepositoryUpgrade`): a
/// pg_upgraded cluster's WAL names collide with the old cluster's, so histories never share one.
public struct RepositoryLayout: Sendable, Hashable {
    /// The server's name.
    public let server: String
    /// The first component of every key below but `upgradesPrefix`: `server` for the first
    /// history, `<server>@<system identifier>` for a later one.
    public let root: String

    /// The server's first history.
    public init(server: String) {
        self.server = server
        self.root = server
    }

    /// The history under `root`.
    public init(server: String, root: String) {
        self.server = server
        self.root = root
    }

    /// The root of the history `init --upgrade` begins for the cluster `systemIdentifier`.
    public static func upgradedRoot(server: String, systemIdentifier: SystemIdentifier) -> String {
        "\(server)@\(systemIdentifier)"
    }

    /// `<root>/repository.json`
    public var info: String { "\(root)/repository.json" }
    /// `<root>/wal/`
    public var walPrefix: String { "\(root)/wal/" }
    /// `<root>/backups/`
    public var backupsPrefix: String { "\(root)/backups/" }
    /// `<root>/chunks/`
    public var chunksPrefix: String { "\(root)/chunks/" }
    /// `<root>/locks/`
    public var locksPrefix: String { "\(root)/locks/" }
    /// `<root>/verifications/`
    public var verificationsPrefix: String { "\(root)/verifications/" }
    /// `<server>/upgrades/`: the succession of histories, under the first history's root whatever
    /// this layout's root is (`RepositoryUpgrade`).
    public var upgradesPrefix: String { "\(server)/upgrades/" }
}
