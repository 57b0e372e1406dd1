import PGBackupRepository

#if canImport(Glibc)
import Glibc
#endif

/// A delta restore's first step: removes every entry under the roots that the backup does not
/// have, or has with another type (stale WAL, `postmaster.pid`, `backup_label.old`, dropped
/// relations, a link where the backup has a directory, …). Never follows links: a link is
/// removed, not what it points to. Keeps `RESTORE_FAILED` and the `pg_tblspc/<oid>` links
/// (remade afterwards if they point elsewhere).
enum DeltaCleanup {
    static func run(_ plan: RestorePlan, roots: RestoreRoots) throws -> (files: Int, directories: Int) {
        var expected: [String: BackupManifest.FileType] = [:]
        for entry in plan.entries { expected[entry.display] = entry.type }
        if plan.regeneratesTablespaceMap { expected[RestorePlan.tablespaceMapPath] = .file }
        var keep: Set<String> = [RestoreMarker.name]
        for oid in plan.tablespaceDirectories.keys { keep.insert("pg_tblspc/\(oid)") }
        var removed = (files: 0, directories: 0)

        func clean(_ root: RestoreRoot, prefix: String, relative: String) throws {
            for name in try root.names(in: relative) {
                let relativePath = relative.isEmpty ? name : relative + "/" + name
                let key = prefix + relativePath
                if keep.contains(key) { continue }
                let type = try root.type(relativePath)
                let actual: BackupManifest.FileType? = switch type {
                case S_IFDIR: .directory
                case S_IFREG: .file
                case S_IFLNK: .symlink
                default: nil
                }
                if let actual, actual == expected[key] {
                    if actual == .directory { try clean(root, prefix: prefix, relative: relativePath) }
                    continue
                }
                if type == S_IFDIR { removed.directories += 1 } else { removed.files += 1 }
                try root.remove(relativePath)
            }
        }
        for (tablespace, root) in roots.all {
            try clean(root, prefix: tablespace.map { "pg_tblspc/\($0)/" } ?? "", relative: "")
        }
        return removed
    }
}
