/// The long page header that begins every WAL segment (`XLogLongPageHeaderData`): the page's
/// magic (which changes with every major: 0xD110 on 15, 0xD113 on 16, 0xD118 on 18 — pgbackup
/// never depends on it), the timeline, the page's address, and the database system, segment and
/// block sizes the segment belongs to. Read in the server's byte order, little-endian on every
/// platform pgbackup runs on.
public struct WALLongPageHeader: Sendable, Hashable {
    public var magic: UInt16
    public var timeline: TimelineID
    public var pageAddress: LSN
    /// `xlp_sysid`: the database system (`pg_control_system()`) that wrote the segment.
    public var systemIdentifier: SystemIdentifier
    public var segmentSize: UInt32
    public var blockSize: UInt32

    /// Its size in bytes: the short header (`XLogPageHeaderData`, 24 with its padding), then
    /// system identifier, segment size and block size.
    public static let size = 40
    /// `XLP_LONG_HEADER` in `xlp_info`.
    static let longHeaderFlag: UInt16 = 0x0002

    /// Nil when `bytes` is shorter than a long header or its flags say it is not one (a page
    /// that does not begin a segment).
    public init?(_ bytes: some Collection<UInt8>) {
        let head = Array(bytes.prefix(Self.size))
        guard head.count == Self.size else { return nil }
        func little(_ offset: Int, _ count: Int) -> UInt64 {
            (0..<count).reduce(UInt64(0)) { $0 | UInt64(head[offset + $1]) << (8 * UInt64($1)) }
        }
        guard UInt16(little(2, 2)) & Self.longHeaderFlag != 0 else { return nil }
        magic = UInt16(little(0, 2))
        timeline = TimelineID(UInt32(little(4, 4)))
        pageAddress = LSN(little(8, 8))
        systemIdentifier = SystemIdentifier(rawValue: little(24, 8))
        segmentSize = UInt32(little(32, 4))
        blockSize = UInt32(little(36, 4))
    }
}
