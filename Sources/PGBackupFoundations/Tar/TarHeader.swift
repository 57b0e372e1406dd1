/// One tar entry's metadata, after GNU long-name and pax extended headers have been applied.
public struct TarHeader: Hashable, Sendable {
    /// The path inside the archive, without a trailing `/` for directories. Read as UTF-8 (bytes
    /// that are not are replaced; PostgreSQL's own file names are ASCII).
    public var name: String
    public var type: TarEntryType
    /// Permission bits (`0o7777`).
    public var mode: UInt32
    public var uid: UInt64
    public var gid: UInt64
    /// Data bytes that follow the header; 0 for directories and links.
    public var size: UInt64
    /// Modification time, seconds since the Unix epoch.
    public var modificationTime: Int64
    /// The target of a symlink or hard link; empty otherwise.
    public var linkTarget: String
    public var userName: String
    public var groupName: String

    public init(
        name: String, type: TarEntryType = .file, mode: UInt32 = 0o600, uid: UInt64 = 0, gid: UInt64 = 0,
        size: UInt64 = 0, modificationTime: Int64 = 0, linkTarget: String = "", userName: String = "", groupName: String = ""
    ) {
        self.name = name
        self.type = type
        self.mode = mode
        self.uid = uid
        self.gid = gid
        self.size = size
        self.modificationTime = modificationTime
        self.linkTarget = linkTarget
        self.userName = userName
        self.groupName = groupName
    }
}
