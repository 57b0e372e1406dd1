/// What to ask of `BASE_BACKUP`, rendered in the option-list syntax that PostgreSQL 15 requires
/// (`BASE_BACKUP (LABEL 'x', CHECKPOINT 'fast', …)`; the old keyword syntax is gone in 15).
///
/// The defaults are what pgbackup wants: a fast checkpoint, no wait for WAL archiving (pgbackup
/// streams WAL itself), a manifest with SHA-256 checksums, progress reports, no rate limit, and
/// the `tablespace_map` file in the main archive.
public struct BaseBackupOptions: Sendable, Hashable {
    /// `CHECKPOINT`: how the server runs the checkpoint that starts the backup.
    public enum Checkpoint: String, Sendable, Hashable {
        /// As fast as possible (I/O at full speed): the backup starts within seconds.
        case fast
        /// Spread over `checkpoint_completion_target` × `checkpoint_timeout`, as the server's
        /// own checkpoints: gentle on I/O, but the first event may take minutes to arrive.
        case spread
    }

    /// `MANIFEST_CHECKSUMS`: the checksum of each file in `backup_manifest`.
    public enum ManifestChecksums: String, Sendable, Hashable, CaseIterable {
        case none = "NONE"
        case crc32c = "CRC32C"
        case sha224 = "SHA224"
        case sha256 = "SHA256"
        case sha384 = "SHA384"
        case sha512 = "SHA512"
    }

    /// The server's limits for `MAX_RATE`, in kB/s (basebackup.h: MAX_RATE_LOWER, MAX_RATE_UPPER).
    public static let maxRateRange = 32...1_048_576

    /// `LABEL`: written into `backup_label` (`LABEL: …`). Any text without NUL characters; the
    /// server refuses more than 1024 bytes (SQLSTATE 22023, "backup label too long").
    public var label: String
    public var checkpoint: Checkpoint
    /// `WAIT`: whether the server waits, at the end, until the WAL the backup needs is archived
    /// by `archive_command`. pgbackup streams WAL itself, so false.
    public var waitForWALArchiving: Bool
    /// `MANIFEST 'yes'` or `'no'`: whether a `backup_manifest` follows the archives.
    public var includeManifest: Bool
    /// Ignored without `includeManifest`.
    public var manifestChecksums: ManifestChecksums
    /// `PROGRESS`: the tablespace sizes are estimated before the backup (an extra pass over the
    /// data directory) and progress reports arrive during it. Without it, sizes are nil.
    public var progress: Bool
    /// `MAX_RATE` in kB/s (1 kB = 1024 bytes), within `maxRateRange`; nil sends at full speed.
    public var maxRateKilobytesPerSecond: Int?
    /// `TABLESPACE_MAP`: adds `tablespace_map` to the main archive, which restore needs to
    /// recreate the `pg_tblspc` links.
    public var tablespaceMap: Bool

    public init(
        label: String,
        checkpoint: Checkpoint = .fast,
        waitForWALArchiving: Bool = false,
        includeManifest: Bool = true,
        manifestChecksums: ManifestChecksums = .sha256,
        progress: Bool = true,
        maxRateKilobytesPerSecond: Int? = nil,
        tablespaceMap: Bool = true
    ) {
        self.label = label
        self.checkpoint = checkpoint
        self.waitForWALArchiving = waitForWALArchiving
        self.includeManifest = includeManifest
        self.manifestChecksums = manifestChecksums
        self.progress = progress
        self.maxRateKilobytesPerSecond = maxRateKilobytesPerSecond
        self.tablespaceMap = tablespaceMap
    }

    /// The replication command, e.g.
    /// `BASE_BACKUP (LABEL 'nightly', CHECKPOINT 'fast', WAIT false, MANIFEST 'yes',
    /// MANIFEST_CHECKSUMS 'SHA256', PROGRESS true, TABLESPACE_MAP true)`.
    ///
    /// - Throws: `BaseBackupError.invalidOptions` for a label holding NUL or a rate out of range.
    public func command() throws(BaseBackupError) -> String {
        guard !label.utf8.contains(0) else {
            throw .invalidOptions("the backup label must not contain NUL characters")
        }
        var options = [
            "LABEL \(Self.quoted(label))",
            "CHECKPOINT '\(checkpoint.rawValue)'",
            "WAIT \(waitForWALArchiving)",
            "MANIFEST '\(includeManifest ? "yes" : "no")'",
        ]
        if includeManifest { options.append("MANIFEST_CHECKSUMS '\(manifestChecksums.rawValue)'") }
        options.append("PROGRESS \(progress)")
        options.append("TABLESPACE_MAP \(tablespaceMap)")
        if let rate = maxRateKilobytesPerSecond {
            guard Self.maxRateRange.contains(rate) else {
                throw .invalidOptions(
                    "MAX_RATE \(rate) kB/s is outside PostgreSQL's range of \(Self.maxRateRange.lowerBound) to \(Self.maxRateRange.upperBound) kB/s")
            }
            options.append("MAX_RATE \(rate)")
        }
        return "BASE_BACKUP (" + options.joined(separator: ", ") + ")"
    }

    /// A string constant of the replication command grammar (repl_scanner.l): single quotes,
    /// a quote doubled, and no backslash escapes (a backslash is an ordinary character there,
    /// unlike in an `E'…'` SQL literal).
    static func quoted(_ text: String) -> String {
        "'" + text.replacingOccurrences(of: "'", with: "''") + "'"
    }
}
