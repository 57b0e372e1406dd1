/// Object keys of one server's part of a repository (DESIGN.md, "Repository format").
public struct RepositoryLayout: Sendable, Hashable {
    /// The server's name: the first component of every key below.
    public let server: String

    public init(server: String) { self.server = server }

    /// `<server>/repository.json`
    public var info: String { "\(server)/repository.json" }
    /// `<server>/wal/`
    public var walPrefix: String { "\(server)/wal/" }
    /// `<server>/backups/`
    public var backupsPrefix: String { "\(server)/backups/" }
    /// `<server>/chunks/`
    public var chunksPrefix: String { "\(server)/chunks/" }
    /// `<server>/locks/`
    public var locksPrefix: String { "\(server)/locks/" }
    /// `<server>/verifications/`
    public var verificationsPrefix: String { "\(server)/verifications/" }
}
