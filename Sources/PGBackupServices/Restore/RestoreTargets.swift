import Foundation
import PGBackupFoundations

#if canImport(Glibc)
import Glibc
#endif

/// What a restore may write into, decided before anything is written (DESIGN.md, invariant 4),
/// and the emptying that `--force` asks for, done only once everything else was checked.
///
/// - `.fresh`: every root absent or empty.
/// - `.delta`: the data directory absent, empty, or a data directory of the backup's cluster
///   (the system identifier in its `global/pg_control`, or in the `RESTORE_FAILED` an earlier
///   restore of that cluster left); each tablespace directory absent, empty or holding only
///   PostgreSQL's `PG_<version>_<catalog>` directories; no live postmaster.
/// - `.replace`: no live postmaster; then `clear` empties the roots.
enum RestoreTargets {
    /// `systemIdentifier`: the backup's cluster (nil when its manifest names none readable).
    static func check(_ plan: RestorePlan, systemIdentifier: SystemIdentifier?, mode: RestoreWriter.Mode) throws {
        if mode == .fresh {
            for root in plan.roots where try !RestoreFiles.isEmptyOrAbsent(root.path) {
                throw RestoreError.directoryNotEmpty(path: root.path)
            }
            return
        }
        for root in plan.roots {
            if let type = try RestoreFiles.type(at: root.path), type != S_IFDIR {
                throw FileSystemError(operation: "restore into", path: root.path, reason: "it is not a directory")
            }
        }
        if let pid = runningServer(in: plan.dataDirectory) {
            throw RestoreError.serverRunning(dataDirectory: plan.dataDirectory, pid: pid)
        }
        guard mode == .delta else { return }
        try checkSameCluster(plan.dataDirectory, systemIdentifier: systemIdentifier)
        for root in plan.roots where try root.tablespace != nil && RestoreFiles.type(at: root.path) == S_IFDIR {
            if let stranger = try RestoreFiles.names(in: root.path).sorted().first(where: { !$0.hasPrefix("PG_") }) {
                throw RestoreError.notSameCluster(
                    path: root.path, systemIdentifier: systemIdentifier,
                    reason: "it holds '\(stranger)', which PostgreSQL never puts in a tablespace directory")
            }
        }
    }

    /// `.replace`: removes everything in every root (never following links) but the data
    /// directory's `RESTORE_FAILED`. Returns the files and directories removed.
    static func clear(_ roots: [RestoreRoot], dataDirectory: RestoreRoot) throws -> (files: Int, directories: Int) {
        var removed = (files: 0, directories: 0)
        for root in roots {
            for name in try root.names(in: "") where !(root.path == dataDirectory.path && name == RestoreMarker.name) {
                if try root.type(name) == S_IFDIR { removed.directories += 1 } else { removed.files += 1 }
                try root.remove(name)
            }
        }
        return removed
    }

    /// The pid `postmaster.pid` names when that process lives (`kill(pid, 0)`: EPERM is alive too).
    static func runningServer(in dataDirectory: String) -> Int32? {
        guard let text = try? String(contentsOfFile: dataDirectory + "/postmaster.pid", encoding: .utf8),
            let pid = Int32(text.split(separator: "\n", maxSplits: 1).first?.trimmingCharacters(in: .whitespaces) ?? ""),
            pid > 0, kill(pid, 0) == 0 || errno == EPERM
        else { return nil }
        return pid
    }

    /// The system identifier of the data directory: the first 8 bytes of `global/pg_control`
    /// (`ControlFileData.system_identifier`, in the machine's byte order); nil without the file.
    static func systemIdentifier(ofDataDirectory directory: String) throws -> SystemIdentifier? {
        let path = directory + "/global/pg_control"
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ENOENT { return nil }
            throw FileSystemError(operation: "open", path: path, reason: FileSystem.errnoDescription())
        }
        defer { close(fd) }
        var identifier: UInt64 = 0
        let read = try withUnsafeMutableBytes(of: &identifier) { try RestoreFiles.read(fd, into: $0, at: 0, path: path) }
        guard read == MemoryLayout<UInt64>.size else {
            throw RestoreError.notSameCluster(path: directory, systemIdentifier: nil, reason: "its global/pg_control holds \(read) bytes")
        }
        return SystemIdentifier(rawValue: identifier)
    }

    /// `.delta`: the data directory is empty, absent, or of the cluster `systemIdentifier`.
    private static func checkSameCluster(_ directory: String, systemIdentifier: SystemIdentifier?) throws {
        guard try !RestoreFiles.isEmptyOrAbsent(directory) else { return }
        guard let systemIdentifier else {
            throw RestoreError.notSameCluster(path: directory, systemIdentifier: nil, reason: "the backup's manifest names no system identifier to compare with")
        }
        if let found = try Self.systemIdentifier(ofDataDirectory: directory) {
            guard found == systemIdentifier else {
                throw RestoreError.notSameCluster(
                    path: directory, systemIdentifier: systemIdentifier, reason: "it is a data directory of another cluster (system identifier \(found))")
            }
            return
        }
        let marker = try? String(contentsOfFile: directory + "/" + RestoreMarker.name, encoding: .utf8)
        if let marker, RestoreMarker.systemIdentifier(in: marker) == systemIdentifier { return }
        throw RestoreError.notSameCluster(
            path: directory, systemIdentifier: systemIdentifier,
            reason: marker == nil
                ? "it has no global/pg_control: it is not a data directory"
                : "it has no global/pg_control, and its \(RestoreMarker.name) is not of a restore of this cluster")
    }
}
