import Foundation
import PGBackupFoundations

#if canImport(Glibc)
import Glibc
#endif

extension WALSpool {
    /// The database system a spooled WAL file belongs to (its first page's `WALLongPageHeader`);
    /// nil when the file is too short or does not begin with a long header.
    static func systemIdentifier(ofWALFileAt path: String) -> SystemIdentifier? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        guard let head = try? handle.read(upToCount: WALLongPageHeader.size) else { return nil }
        return WALLongPageHeader(head)?.systemIdentifier
    }

    /// Moves the WAL files of another database system out of the spool's way, into
    /// `<spool>/foreign-<system identifier>/`, and returns what it moved. After a `pg_upgrade`
    /// the new cluster reuses the old one's segment names: a spool the old cluster's daemon left
    /// must never be stored into the new cluster's history (nor overwritten by its WAL). The
    /// files are kept, never deleted: the old history may still lack them.
    func setAsideForeignWAL(systemIdentifier expected: SystemIdentifier) throws -> [(file: String, systemIdentifier: SystemIdentifier)] {
        let files = pendingSegments().map { completedPath($0) } + partialFiles().map(\.path)
        var moved: [(file: String, systemIdentifier: SystemIdentifier)] = []
        for path in files {
            guard let found = Self.systemIdentifier(ofWALFileAt: path), found != expected else { continue }
            let aside = "\(directory)/foreign-\(found)"
            try FileSystem.makeDirectories(aside, mode: 0o700)
            let target = aside + "/" + (path as NSString).lastPathComponent
            guard rename(path, target) == 0 else {
                throw WALSpoolError.unableToSetAside(file: path, into: aside, reason: FileSystem.errnoDescription())
            }
            try FileSystem.syncDirectory(aside)
            moved.append((path, found))
        }
        if !moved.isEmpty { try FileSystem.syncDirectory(directory) }
        return moved
    }
}
