import Foundation
import PGBackupFoundations

#if canImport(Glibc)
import Glibc
#endif

/// A `pg_wal` that is a symbolic link to another file system (`initdb --waldir`). A delta restore
/// replaces the link with the backup's directory; a rejoin puts the link back, its target emptied
/// of the node's old WAL (diverged, or superseded by the archive) and of what describes it
/// (`archive_status/`, and 17+'s WAL summaries in `summaries/`), and holding what the restore
/// put in `pg_wal` (`archive_status/`, `summaries/` on 17+).
struct WALDirectoryLink: Sendable {
    let dataDirectory: String
    /// The link's text, as stored.
    let target: String

    static func find(in dataDirectory: String) -> WALDirectoryLink? {
        guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: dataDirectory + "/pg_wal") else { return nil }
        return WALDirectoryLink(dataDirectory: dataDirectory, target: target)
    }

    /// The target's absolute path.
    var resolved: String { target.hasPrefix("/") ? target : dataDirectory + "/" + target }

    /// What PostgreSQL writes in pg_wal: segments, `.partial`, `.history`, `.backup` (8 hex
    /// digits first), and its temporary files. Anything else (a mount point's `lost+found`) stays.
    static func isWAL(_ name: String) -> Bool {
        (name.count >= 8 && name.prefix(8).allSatisfy(\.isHexDigit)) || name.hasPrefix("xlogtemp.") || name.hasPrefix("RECOVERY")
    }

    func putBack(owner: (uid: uid_t, gid: gid_t)) throws {
        let link = dataDirectory + "/pg_wal"
        let files = FileManager.default
        // Already a link (the restore kept it): only the old WAL goes.
        let restored = (try? files.destinationOfSymbolicLink(atPath: link)) == nil
        for name in try files.contentsOfDirectory(atPath: resolved) where Self.isWAL(name) {
            try files.removeItem(atPath: resolved + "/" + name)
        }
        // What describes the old WAL goes with it: its archive status, and (17+) its WAL summaries,
        // which an incremental backup would otherwise trust for WAL this node no longer has.
        for described in ["archive_status", "summaries"] {
            let directory = resolved + "/" + described
            for name in (try? files.contentsOfDirectory(atPath: directory)) ?? [] { try files.removeItem(atPath: directory + "/" + name) }
        }
        if restored {
            for name in try files.contentsOfDirectory(atPath: link) where !files.fileExists(atPath: resolved + "/" + name) {
                try files.copyItem(atPath: link + "/" + name, toPath: resolved + "/" + name)
            }
            try files.removeItem(atPath: link)
            guard symlink(target, link) == 0 else {
                throw FollowError.failed(action: "recreate the symbolic link", path: link, reason: FileSystem.errnoDescription())
            }
        }
        if geteuid() == 0 {
            let user = RunAsUser(name: "", uid: owner.uid, gid: owner.gid, prefix: [])
            try user.takeOwnership(ofTree: resolved)
            _ = lchown(link, owner.uid, owner.gid)
        }
        try FileSystem.syncDirectory(resolved)
        try FileSystem.syncDirectory(dataDirectory)
    }
}
