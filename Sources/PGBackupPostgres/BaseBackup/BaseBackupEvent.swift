import PGBackupFoundations

/// One tablespace of a base backup, as the server lists it before sending the archives.
public struct BaseBackupTablespace: Sendable, Hashable {
    /// The tablespace's OID (its `pg_tblspc/<oid>` link); nil for the main data directory.
    public var oid: UInt32?
    /// The tablespace's directory on the server (where the link points); nil for the main data
    /// directory.
    public var location: String?
    /// The server's estimate of the archive's size in bytes, when `PROGRESS` was asked for; nil
    /// otherwise. PostgreSQL reports kilobytes (rounded down), so this is a multiple of 1024.
    public var estimatedSize: Int64?

    public init(oid: UInt32?, location: String?, estimatedSize: Int64?) {
        self.oid = oid
        self.location = location
        self.estimatedSize = estimatedSize
    }
}

/// What `BaseBackupStream.next()` hands out, in this order:
/// `started`, `tablespaces`, then for each archive `archiveStarted` followed by any number of
/// `archiveData` and `progress`, then (with a manifest) `manifestStarted` and `manifestData`,
/// then `finished`.
///
/// Deliberately not `Sendable`: `archiveData` and `manifestData` point into libpq's receive
/// buffer, which is valid only until the next call on the stream (`next`, `cancel`) and is
/// freed then. Copy the bytes to keep them. This is what keeps the hot path zero-copy: the
/// bytes go from libpq's buffer to the consumer (a `TarReader`, a hasher) untouched.
public enum BaseBackupEvent {
    /// The backup started: the checkpoint is done and WAL from `startLSN` on is needed to make
    /// the backup consistent. `timeline` is the server's timeline at that moment.
    case started(startLSN: LSN, timeline: TimelineID)
    /// Every tablespace the backup holds, one archive each. PostgreSQL 15 lists the user
    /// tablespaces first and the main data directory (oid nil) last, and sends the archives in
    /// this order.
    case tablespaces([BaseBackupTablespace])
    /// A new archive begins: `base.tar` for the main data directory (location nil),
    /// `<oid>.tar` for a tablespace (its location). Every `archiveData` until the next
    /// `archiveStarted` or `manifestStarted` belongs to it.
    ///
    /// The archive is a complete tar stream (PostgreSQL 15 ends it with tar's two zero blocks)
    /// whose names are relative to the data directory, or to the tablespace's directory
    /// (`PG_15_<catversion>/<database oid>/<relfilenode>`; the manifest lists those files as
    /// `pg_tblspc/<oid>/…`). With `TABLESPACE_MAP` the main archive holds `tablespace_map`
    /// instead of the `pg_tblspc/<oid>` links.
    case archiveStarted(name: String, tablespaceLocation: String?)
    /// The next bytes of the current archive. Valid only until the next call on the stream.
    case archiveData(UnsafeRawBufferPointer)
    /// Archive bytes the server has sent so far, over all archives (with `PROGRESS`). Never
    /// decreases; compare it with the sum of the tablespaces' `estimatedSize`, which it may
    /// overshoot slightly when files grow during the backup. The server sends one at most
    /// every second, and one at the end of each archive.
    case progress(bytesDone: Int64)
    /// The archives are complete; the `backup_manifest` follows (with `MANIFEST 'yes'`).
    case manifestStarted
    /// The next bytes of `backup_manifest` (JSON). Valid only until the next call on the stream.
    case manifestData(UnsafeRawBufferPointer)
    /// The backup ended: the WAL up to `endLSN` on `timeline` makes it consistent. The
    /// connection is idle again when this arrives.
    ///
    /// `checksumFailures` is nil when the server found no page whose checksum failed (or does
    /// not verify them: data checksums off, or `VERIFY_CHECKSUMS false`). Otherwise the backup
    /// is complete all the same (PostgreSQL sent every byte, then ended with an ERROR of
    /// SQLSTATE XX001, which this replaces): the damaged pages are in it as the server read them.
    case finished(endLSN: LSN, timeline: TimelineID, checksumFailures: PageChecksumFailures?)
}

@available(*, unavailable, message: "archiveData and manifestData point into a buffer valid only until the next call on the stream")
extension BaseBackupEvent: Sendable {}
