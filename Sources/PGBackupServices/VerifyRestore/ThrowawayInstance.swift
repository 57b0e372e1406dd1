import Foundation
import PGBackupFoundations

#if canImport(Glibc)
import Glibc
#endif

/// The temporary directory `verify-restore` restores into and the server it starts there:
/// `<tmp>/pgbackup-verify-XXXXXX/{data, data.pgbackup.yaml, socket/, pg_hba.conf, server.log}`,
/// owned by the run-as user, the server on a private Unix socket and a free port of 127.0.0.1.
struct ThrowawayInstance: Sendable {
    let root: String
    let user: RunAsUser
    /// Changed by `movePort` when another process took it between its choice and the start.
    private(set) var port: Int
    var dataDirectory: String { root + "/data" }
    var socketDirectory: String { root + "/socket" }
    var logFile: String { root + "/server.log" }
    var hbaFile: String { root + "/pg_hba.conf" }

    /// Creates the directory (mkdtemp under `$TMPDIR`, or `/tmp` when the run-as user cannot
    /// reach `$TMPDIR`) with an empty data directory, all owned by the run-as user.
    static func create(user: RunAsUser) throws -> ThrowawayInstance {
        var bases: [String] = []
        if let tmp = ProcessInfo.processInfo.environment["TMPDIR"], tmp.hasPrefix("/") { bases.append(tmp) }
        bases.append("/tmp")
        guard let base = bases.first(where: user.canTraverse) else {
            throw ServerToolError.refused("unable to create a temporary directory that '\(user.name)' can reach under \(bases.joined(separator: " or "))")
        }
        var template = Array((base.hasSuffix("/") ? base : base + "/") .utf8CString.dropLast()) + Array("pgbackup-verify-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else {
            throw FileSystemError(operation: "create a temporary directory in", path: base, reason: FileSystem.errnoDescription())
        }
        let root = String(cString: made)
        let instance = ThrowawayInstance(root: root, user: user, port: try freePort())
        do {
            for directory in [instance.dataDirectory, instance.socketDirectory] { try FileSystem.makeDirectories(directory, mode: 0o700) }
            // Only the run-as user (and root) can reach the socket: trust is safe, and needed, since
            // the backed-up server's pg_hba.conf may ask for passwords nobody gave us.
            let hba = "# written by pgbackup verify-restore: only the socket in this 0700 directory\nlocal all all trust\n"
            guard FileManager.default.createFile(atPath: instance.hbaFile, contents: Data(hba.utf8), attributes: [.posixPermissions: 0o600]) else {
                throw FileSystemError(operation: "write", path: instance.hbaFile, reason: "cannot create the file")
            }
            try user.takeOwnership(ofTree: root)
        } catch {
            try? FileManager.default.removeItem(atPath: root)
            throw error
        }
        return instance
    }

    /// A port of 127.0.0.1 that nothing listens on right now.
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw FileSystemError(operation: "open a socket for", path: "127.0.0.1", reason: FileSystem.errnoDescription()) }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { throw FileSystemError(operation: "find a free port on", path: "127.0.0.1", reason: FileSystem.errnoDescription()) }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// Another free port, written after the last one (a later setting wins), for a start that
    /// found the chosen port taken (a free port is free only until someone binds it).
    mutating func movePort() throws {
        port = try Self.freePort()
        try writeOverrides()
        try user.takeOwnership(ofTree: dataDirectory + "/postgresql.auto.conf")
    }

    /// Appends the settings that make the restored server a private throwaway one: no archiving
    /// into anybody's repository, our socket, port and pg_hba.conf, logs to stderr (`-l`).
    /// The file is replaced whole (`DurableFile`), never left half-appended.
    func writeOverrides() throws {
        let settings: [(String, String)] = [
            ("archive_mode", "off"), ("unix_socket_directories", socketDirectory), ("listen_addresses", "127.0.0.1"),
            ("port", String(port)), ("hba_file", hbaFile), ("ssl", "off"), ("logging_collector", "off"),
            ("log_destination", "stderr"), ("primary_conninfo", ""), ("primary_slot_name", ""),
        ]
        var block = "\n# written by pgbackup verify-restore: a private throwaway instance\n"
        for (name, value) in settings {
            block += "\(name) = '\(value.replacingOccurrences(of: "'", with: "''"))'\n"
        }
        let path = dataDirectory + "/postgresql.auto.conf"
        guard let existing = FileManager.default.contents(atPath: path) else {
            throw FileSystemError(operation: "append to", path: path, reason: "cannot read the file")
        }
        try DurableFile.write(path, contents: Array(existing) + Array(block.utf8), mode: 0o600)
    }

    /// The environment of pg_ctl, psql and pg_amcheck: a plain one (no PG* variable of ours
    /// can point them elsewhere, no credentials of ours reach the server).
    var environment: [String: String] {
        var environment = ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin", "LC_ALL": "C"]
        if let tz = ProcessInfo.processInfo.environment["TZ"] { environment["TZ"] = tz }
        return environment
    }

    func pgCtlArguments(_ action: String, timeoutSeconds: Int, mode: String? = nil) -> [String] {
        var arguments = ["-D", dataDirectory, "-w", "-t", String(timeoutSeconds)]
        if action == "start" { arguments += ["-l", logFile] }
        if let mode { arguments += ["-m", mode] }
        return arguments + [action]
    }

    /// Runs a server tool as the run-as user.
    func run(_ executable: String, _ arguments: [String], timeout: Duration, cancellable: Bool = true) async throws -> ChildResult {
        let (tool, rest) = user.command(executable, arguments)
        return try await ChildProcess.run(tool, rest, environment: environment, timeout: timeout, cancellable: cancellable, directory: root)
    }

    /// libpq options that reach this instance as `role` in `database`.
    func connection(role: String, database: String = "postgres") -> [String] {
        ["-h", socketDirectory, "-p", String(port), "-U", role, "-d", database]
    }

    /// The last lines of the server's log, for a failed start.
    func logTail(lines: Int = 15) -> String {
        let text = String(decoding: FileManager.default.contents(atPath: logFile) ?? Data(), as: UTF8.self)
        return text.split(separator: "\n").suffix(lines).joined(separator: "\n")
    }

    /// The postmaster's pid from `postmaster.pid`, if it is there.
    var postmasterPID: pid_t? {
        guard let text = try? String(contentsOfFile: dataDirectory + "/postmaster.pid", encoding: .utf8),
              let first = text.split(separator: "\n").first, let pid = pid_t(first), pid > 0 else { return nil }
        return pid
    }

    /// Whether `pid` is a live process started on this directory (not a reused pid).
    func isOurs(_ pid: pid_t) -> Bool {
        guard let line = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
        return String(decoding: line.map { $0 == 0 ? 32 : $0 }, as: UTF8.self).contains(root)
    }

    /// Stops the server however it must (fast, immediate, then SIGKILL) and, unless `keep`,
    /// removes the directory. Not cancellable: it runs after a SIGTERM too.
    func tearDown(binaries: ServerBinaries?, keep: Bool) async -> [String] {
        var problems: [String] = []
        if let binaries, postmasterPID != nil {
            var stopped = false
            for mode in ["fast", "immediate"] where !stopped {
                let result = try? await run(binaries.path("pg_ctl"), pgCtlArguments("stop", timeoutSeconds: 60, mode: mode), timeout: .seconds(70), cancellable: false)
                stopped = result?.succeeded == true
            }
            if !stopped, let pid = postmasterPID, isOurs(pid) {
                kill(pid, SIGKILL)
                problems.append("the server (pid \(pid)) did not stop and was killed")
            }
        }
        if !keep {
            do { try FileManager.default.removeItem(atPath: root) } catch {
                problems.append("unable to remove '\(root)': \(error)")
            }
        }
        return problems
    }
}
