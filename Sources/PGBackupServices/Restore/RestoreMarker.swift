import Foundation
import PGBackupFoundations
import PGBackupRepository

/// `RESTORE_FAILED` in the data directory: there from before anything else is written until the
/// restore completes, and then removed. While it is there the directory has no
/// `global/pg_control` (PostgreSQL cannot start it), and it tells whoever looks why: interrupted,
/// or failed with the error. It also names the cluster (`system identifier: N`), so that a
/// `--delta` restore may complete a directory an earlier restore of the same cluster left
/// without `pg_control`.
struct RestoreMarker: Sendable {
    static let name = "RESTORE_FAILED"
    /// The line that names the cluster.
    static let systemIdentifierPrefix = "system identifier: "

    let manifest: BackupManifest
    let started: Date

    /// Writes the "in progress" text (atomically and durably, `RestoreRoot.writeDurably`).
    func begin(in root: RestoreRoot) throws {
        try write(inProgressText, in: root)
    }

    /// Replaces the text with the error's; best effort (the error is what the caller reports).
    func fail(in root: RestoreRoot, error: any Error) {
        try? write(failureText(error), in: root)
    }

    /// Removes the marker: the directory is complete.
    func end(in root: RestoreRoot) throws {
        try root.remove(Self.name)
        try FileSystem.syncDirectory(root.path)
    }

    /// The system identifier a marker's text names; nil when it names none.
    static func systemIdentifier(in text: String) -> SystemIdentifier? {
        for line in text.split(separator: "\n") where line.hasPrefix(systemIdentifierPrefix) {
            return SystemIdentifier(line.dropFirst(systemIdentifierPrefix.count).trimmingCharacters(in: .whitespaces))
        }
        return nil
    }

    private func write(_ text: String, in root: RestoreRoot) throws {
        try root.writeDurably(Self.name, Array(text.utf8))
    }

    private var cluster: String {
        "\(Self.systemIdentifierPrefix)\(manifest.systemIdentifier)"
    }

    private var inProgressText: String {
        """
        pgbackup is restoring backup \(manifest.id) of server '\(manifest.server)' into this directory (started \(started.formatted(.iso8601))).
        If this file is still here, that restore did not complete (interrupted): the directory is incomplete and has
        no global/pg_control, so PostgreSQL will not start it. Run the restore again (--delta reuses what was written).
        \(cluster)

        """
    }

    private func failureText(_ error: any Error) -> String {
        """
        pgbackup could not restore backup \(manifest.id) of server '\(manifest.server)' into this directory (started \(started.formatted(.iso8601)), failed \(Date().formatted(.iso8601))):

        \(error)

        The directory is incomplete and has no global/pg_control, so PostgreSQL will not start it.
        Fix the cause and run the restore again (--delta reuses what was written), or restore another backup.
        \(cluster)

        """
    }
}
