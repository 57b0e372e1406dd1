import PGBackupFoundations

/// Why writing a backup's files into a data directory failed (`RestoreWriter`). Errors of the
/// file system below reach the caller as `FileSystemError` ("unable to <verb> '<path>': …").
///
/// Whatever the case, a failed write leaves `RESTORE_FAILED` in the data directory saying what
/// failed, and no `global/pg_control`: PostgreSQL refuses to start the directory.
public enum RestoreError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A chunk or pack could not be fetched or did not verify (damaged, missing, unreadable
    /// store). `object` is its key in the repository when known (else `chunk <sha256>`), `files`
    /// the files it holds content of (data-directory relative; tablespace files as
    /// `pg_tblspc/<oid>/…`), `cause` the store's own message.
    case chunkFailed(object: String, files: [String], cause: String)
    /// A packed file's bytes in its (verified) pack do not hash to the file's own SHA-256.
    case packedFileMismatch(path: String, pack: SHA256Digest, expected: SHA256Digest, actual: SHA256Digest)
    /// A file ended up with another size than the manifest records.
    case sizeMismatch(path: String, expected: Int64, actual: Int64)
    /// The manifest names a tablespace the caller did not map to a directory.
    case tablespaceNotMapped(oid: UInt32, location: String)
    /// A tablespace directory is unusable: not absolute, or inside (or holding) the data
    /// directory or another tablespace's directory.
    case invalidTablespaceDirectory(oid: UInt32, path: String, reason: String)
    /// The data directory is unusable (not an absolute path).
    case invalidDataDirectory(path: String, reason: String)
    /// A fresh restore needs an empty (or absent) directory.
    case directoryNotEmpty(path: String)
    /// A delta or forced restore found a live postmaster in the data directory (the pid its
    /// `postmaster.pid` names answers `kill(pid, 0)`).
    case serverRunning(dataDirectory: String, pid: Int32)
    /// A delta restore into a directory that is not a copy of the backup's cluster (another
    /// cluster's data directory, no data directory at all, a tablespace directory holding
    /// foreign files): it would delete what the backup lacks. Nothing was touched.
    case notSameCluster(path: String, systemIdentifier: SystemIdentifier?, reason: String)
    /// The manifest holds something no data directory can (an absolute or `..` path, a file
    /// whose chunks do not cover it, two entries for one path, no `global/pg_control`, …).
    case invalidManifest(path: String, reason: String)

    public var description: String {
        switch self {
        case let .chunkFailed(object, files, cause):
            return "unable to restore \(Self.list(files)): object '\(object)' failed: \(cause)"
        case let .packedFileMismatch(path, pack, expected, actual):
            return "unable to verify '\(path)' in pack '\(pack)': its content hashes to \(actual), the backup records \(expected)"
                + "\nHINT: the backup's manifest and its pack disagree; `pgbackup verify` checks the repository, or restore another backup"
        case let .sizeMismatch(path, expected, actual):
            return "unable to restore '\(path)': it holds \(actual) bytes after writing, the backup records \(expected)"
                + "\nHINT: did something else write into the directory during the restore?"
        case let .tablespaceNotMapped(oid, location):
            return "unable to restore tablespace \(oid) (at '\(location)' when backed up): no directory given for it"
                + "\nHINT: map it with --tablespace-map \(oid)=DIR"
        case let .invalidTablespaceDirectory(oid, path, reason):
            return "unable to restore tablespace \(oid) into '\(path)': \(reason)"
        case let .invalidDataDirectory(path, reason):
            return "unable to restore into '\(path)': \(reason)"
        case let .directoryNotEmpty(path):
            return "unable to restore into '\(path)': the directory is not empty"
                + "\nHINT: restore into an empty directory, or use --delta to update this copy of the same cluster"
        case let .serverRunning(dataDirectory, pid):
            return "unable to restore into '\(dataDirectory)': a PostgreSQL server (pid \(pid)) is running on it"
                + "\nHINT: stop the server first (pg_ctl stop -D '\(dataDirectory)'); if process \(pid) is not a PostgreSQL server of this directory, its postmaster.pid is stale: remove it"
        case let .notSameCluster(path, systemIdentifier, reason):
            return "unable to restore with --delta into '\(path)': \(reason); nothing was changed"
                + "\nHINT: --delta updates an older copy of the backup's own cluster\(systemIdentifier.map { " (system identifier \($0))" } ?? ""); "
                + "restore into an empty directory, or replace what is there with --force"
        case let .invalidManifest(path, reason):
            return "unable to restore '\(path)': the backup's manifest is invalid: \(reason)"
        }
    }

    /// `'a'`, `'a' and 'b'`, `'a', 'b' and 3 more files`.
    private static func list(_ files: [String]) -> String {
        let shown = files.prefix(3).map { "'\($0)'" }
        switch files.count {
        case 0: return "a chunk no file needs"
        case 1: return shown[0]
        case 2...3: return shown.dropLast().joined(separator: ", ") + " and " + shown.last!
        default: return shown.joined(separator: ", ") + " and \(files.count - 3) more files"
        }
    }
}
