import Foundation
import PGBackupFoundations

#if canImport(Glibc)
import Glibc
#endif

/// The OS user the throwaway server runs as: ourselves, or (as root) `--run-as USER`, whom
/// pg_ctl, psql and pg_amcheck run as through `runuser` (or `setpriv`).
public struct RunAsUser: Sendable {
    public let name: String
    let uid: uid_t
    let gid: gid_t
    /// runuser/setpriv and its arguments before the command; empty when we are that user.
    let prefix: [String]

    /// Ourselves when `name` is nil and we are not root. PostgreSQL refuses root, so root needs
    /// `name`; a non-root user can run only as itself.
    public static func resolve(_ name: String?) throws -> RunAsUser {
        let euid = geteuid()
        guard let name else {
            guard euid != 0 else {
                throw ServerToolError.refused(
                    "unable to verify a restore as root: PostgreSQL refuses to run as root\nHINT: run pgbackup verify-restore as an unprivileged user, or give --run-as USER (e.g. --run-as postgres)")
            }
            let own = getpwuid(euid).map { String(cString: $0.pointee.pw_name) } ?? "uid \(euid)"
            return RunAsUser(name: own, uid: euid, gid: getegid(), prefix: [])
        }
        guard let entry = getpwnam(name) else { throw ServerToolError.refused("unable to run as '\(name)': no such user") }
        let uid = entry.pointee.pw_uid, gid = entry.pointee.pw_gid
        if uid == euid { return RunAsUser(name: name, uid: uid, gid: gid, prefix: []) }
        guard euid == 0 else { throw ServerToolError.refused("unable to run as '\(name)': only root can switch users (run pgbackup as '\(name)' instead)") }
        guard uid != 0 else { throw ServerToolError.refused("unable to run as '\(name)': PostgreSQL refuses to run as root") }
        let tools = ["/usr/sbin/runuser", "/sbin/runuser", "/usr/bin/runuser", "/bin/runuser"]
        if let runuser = tools.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) {
            return RunAsUser(name: name, uid: uid, gid: gid, prefix: [runuser, "-u", name, "--"])
        }
        if let setpriv = ["/usr/bin/setpriv", "/bin/setpriv"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) {
            return RunAsUser(name: name, uid: uid, gid: gid, prefix: [setpriv, "--reuid=\(uid)", "--regid=\(gid)", "--init-groups", "--"])
        }
        throw ServerToolError.refused("unable to run as '\(name)': neither runuser nor setpriv (util-linux) is installed")
    }

    /// The executable and arguments that run `executable arguments…` as this user.
    func command(_ executable: String, _ arguments: [String]) -> (String, [String]) {
        guard let first = prefix.first else { return (executable, arguments) }
        return (first, Array(prefix.dropFirst()) + [executable] + arguments)
    }

    /// `command` as one shell line, for the operator (`--keep`).
    func shellLine(_ executable: String, _ arguments: [String]) -> String {
        let (tool, rest) = command(executable, arguments)
        return ([tool] + rest).map(Quoting.shellWord).joined(separator: " ")
    }

    /// `chown -R` of `path` to this user, never following links (a no-op when we are that user).
    func takeOwnership(ofTree path: String) throws {
        guard uid != geteuid() || gid != getegid() else { return }
        guard lchown(path, uid, gid) == 0 else {
            throw FileSystemError(operation: "change the owner of", path: path, reason: FileSystem.errnoDescription())
        }
        var info = stat()
        guard lstat(path, &info) == 0, info.st_mode & S_IFMT == S_IFDIR else { return }
        for name in try FileManager.default.contentsOfDirectory(atPath: path) { try takeOwnership(ofTree: path + "/" + name) }
    }

    /// Whether this user can reach entries inside `directory`: every directory from `/` down
    /// grants it search (x) permission.
    func canTraverse(_ directory: String) -> Bool {
        var path = ""
        for component in [""] + directory.split(separator: "/").map(String.init) {
            path += component.isEmpty ? "/" : (path.hasSuffix("/") ? "" : "/") + component
            var info = stat()
            guard stat(path, &info) == 0 else { return false }
            let mode = info.st_mode
            let ok = uid == 0 || (info.st_uid == uid ? mode & S_IXUSR != 0 : info.st_gid == gid ? mode & S_IXGRP != 0 : mode & S_IXOTH != 0)
            if !ok { return false }
        }
        return true
    }
}
