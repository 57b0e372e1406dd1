import Foundation
import PGBackupFoundations

#if canImport(Glibc)
import Glibc
#endif

/// The node's own configuration files (`*.conf` at the top of the data directory:
/// `postgresql.conf`, `pg_hba.conf`, `pg_ident.conf`, `postgresql.auto.conf`, files they
/// include), kept across a rejoin's delta restore, which would otherwise put back the backed-up
/// server's (another host's port, addresses, memory, access rules). `postgresql.auto.conf` comes
/// back with the recovery settings of the restore and without recovery targets.
struct KeptConfiguration: Sendable {
    struct File: Sendable {
        var name: String
        /// The content of a regular file, or nil for a symbolic link.
        var content: [UInt8]?
        var linkTarget: String?
        var uid: uid_t
        var gid: gid_t
        var mode: mode_t
    }

    let directory: String
    let files: [File]

    static func save(_ directory: String) throws -> KeptConfiguration {
        var files: [File] = []
        for name in try FileManager.default.contentsOfDirectory(atPath: directory).sorted() where name.hasSuffix(".conf") {
            let path = directory + "/" + name
            var info = stat()
            guard lstat(path, &info) == 0 else { continue }
            var file = File(name: name, content: nil, linkTarget: nil, uid: info.st_uid, gid: info.st_gid, mode: info.st_mode & 0o7777)
            switch info.st_mode & S_IFMT {
            case S_IFREG:
                guard let data = FileManager.default.contents(atPath: path) else {
                    throw FollowError.failed(action: "read", path: path, reason: "unreadable")
                }
                file.content = Array(data)
            case S_IFLNK:
                file.linkTarget = try FileManager.default.destinationOfSymbolicLink(atPath: path)
            default:
                continue
            }
            files.append(file)
        }
        return KeptConfiguration(directory: directory, files: files)
    }

    /// Puts every kept file back as it was (content or link, owner when we are root, mode);
    /// `postgresql.auto.conf` with `settings` in place of its own assignments of them and of
    /// the recovery targets.
    func putBack(settings: [(name: String, value: String)], comment: String) throws {
        for file in files {
            let path = directory + "/" + file.name
            if let target = file.linkTarget {
                if (try? FileManager.default.destinationOfSymbolicLink(atPath: path)) == target { continue }
                _ = unlink(path)
                guard symlink(target, path) == 0 else {
                    throw FollowError.failed(action: "recreate the symbolic link", path: path, reason: FileSystem.errnoDescription())
                }
                if geteuid() == 0 { _ = lchown(path, file.uid, file.gid) }
                continue
            }
            guard var content = file.content else { continue }
            if file.name == RestorePlan.autoConfPath {
                let text = AutoConf.setting(settings, removing: AutoConf.recoveryTargets, in: String(decoding: content, as: UTF8.self), comment: comment)
                content = Array(text.utf8)
            }
            try DurableFile.write(path, contents: content, mode: file.mode, owner: geteuid() == 0 ? FileOwner(uid: file.uid, gid: file.gid) : nil)
        }
    }

    /// Whether the node had its own `postgresql.auto.conf`.
    var hasAutoConf: Bool { files.contains { $0.name == RestorePlan.autoConfPath && $0.content != nil } }
}
