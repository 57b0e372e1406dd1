import Foundation
import PGBackupFoundations
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Where the PostgreSQL server binaries of one major version live.
public struct PostgresBinaries: Sendable {
    public let directory: String
    /// The major version (`postgres --version`): 15, 16, 18.
    public let major: Int

    public func path(_ tool: String) -> String { directory + "/" + tool }

    /// The cache `scripts/install-postgres-majors` fills with the majors Debian lacks:
    /// `<cache>/<major>/bin` (`$PGBACKUP_PG_CACHE`, default /var/cache/pgbackup/postgresql).
    public static var majorsCache: String {
        ProcessInfo.processInfo.environment["PGBACKUP_PG_CACHE"].flatMap { $0.isEmpty ? nil : $0 } ?? "/var/cache/pgbackup/postgresql"
    }

    /// The binaries tests run by default: `$PGBACKUP_TEST_PGBIN` (the README's test command sets
    /// it to run the end-to-end groups on 16 and 18 too), else `pg_config --bindir` when it holds
    /// `initdb` (Debian's `pg_config` comes with libpq-dev and may describe a client-only
    /// install), else Debian's `/usr/lib/postgresql/15/bin`.
    public static func locate() async throws -> PostgresBinaries {
        var searched: [String] = []
        if let fromEnv = ProcessInfo.processInfo.environment["PGBACKUP_TEST_PGBIN"], !fromEnv.isEmpty {
            if let found = await usable(fromEnv, searched: &searched) { return found }
            throw PostgresClusterError.binariesNotFound(searched: searched)
        }
        for pgConfig in ["/usr/bin/pg_config", "/usr/local/bin/pg_config", "/usr/lib/postgresql/15/bin/pg_config"]
        where FileManager.default.isExecutableFile(atPath: pgConfig) {
            if let result = try? await runProcess(pgConfig, ["--bindir"], timeout: .seconds(10)), result.succeeded {
                let dir = result.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
                if let found = await usable(dir, searched: &searched) { return found }
            }
        }
        if let found = await usable("/usr/lib/postgresql/15/bin", searched: &searched) { return found }
        throw PostgresClusterError.binariesNotFound(searched: searched)
    }

    /// The binaries of one major, whatever the default is: `$PGBACKUP_TEST_PGBIN_<major>`, else
    /// the default binaries when they are of that major, else `/usr/lib/postgresql/<major>/bin`,
    /// else the majors cache. Never another major's: a test that needs 18 fails without it.
    public static func locate(major: Int) async throws -> PostgresBinaries {
        var searched: [String] = []
        if let fromEnv = ProcessInfo.processInfo.environment["PGBACKUP_TEST_PGBIN_\(major)"], !fromEnv.isEmpty {
            if let found = await usable(fromEnv, searched: &searched), found.major == major { return found }
            throw PostgresClusterError.binariesNotFound(searched: searched.map { "\($0) (for PostgreSQL \(major))" })
        }
        if let preferred = try? await locate(), preferred.major == major { return preferred }
        for dir in ["/usr/lib/postgresql/\(major)/bin", majorsCache + "/\(major)/bin"] {
            if let found = await usable(dir, searched: &searched), found.major == major { return found }
        }
        throw PostgresClusterError.binariesNotFound(searched: searched.map { "\($0) (for PostgreSQL \(major))" })
    }

    /// The binaries of `major`, or the default ones when nil.
    public static func locate(major: Int?) async throws -> PostgresBinaries {
        guard let major else { return try await locate() }
        return try await locate(major: major)
    }

    /// Every major the tests can reach (15, 16, 17, 18), for pgbackup's per-major
    /// `postgres_bindir` (`15=/path,16=/path`).
    public static func everyMajor() async -> [PostgresBinaries] {
        var found: [PostgresBinaries] = []
        for major in 15...18 {
            if let binaries = try? await locate(major: major) { found.append(binaries) }
        }
        return found
    }

    /// `PGBACKUP_POSTGRES_BINDIR`'s per-major form naming every major the tests can reach
    /// (found once per test process).
    public static func bindirSetting() async -> String {
        if let known = knownBindirSetting.withLock({ $0 }) { return known }
        let setting = await everyMajor().map { "\($0.major)=\($0.directory)" }.joined(separator: ",")
        knownBindirSetting.withLock { $0 = setting }
        return setting
    }
    private static let knownBindirSetting = Mutex<String?>(nil)

    private static func usable(_ dir: String, searched: inout [String]) async -> PostgresBinaries? {
        searched.append(dir)
        guard FileManager.default.isExecutableFile(atPath: dir + "/initdb"),
              FileManager.default.isExecutableFile(atPath: dir + "/pg_ctl"),
              let result = try? await runProcess(dir + "/postgres", ["--version"], timeout: .seconds(10)), result.succeeded,
              let major = PostgresVersion.major(fromVersionOutput: result.standardOutput)
        else { return nil }
        return PostgresBinaries(directory: dir, major: major)
    }
}

/// The OS user that owns data directories and runs the server.
///
/// PostgreSQL refuses to run as root, and CI runs the tests as root: then the server side
/// (initdb, pg_ctl, postgres, pg_basebackup, which write the data directory) runs as an
/// unprivileged user through `runuser`. Client tools (psql, pgbench) run as whoever we are:
/// root may run them, and it saves a PAM session per query.
public struct ServerUser: Sendable {
    public let name: String
    public let uid: uid_t
    public let gid: gid_t
    /// True when commands must switch to this user (we are root).
    public let switchesUser: Bool
    let runuser: String?

    /// `$PGBACKUP_TEST_PGUSER` (default `postgres`) when running as root, else ourselves.
    public static func current() throws -> ServerUser {
        if geteuid() != 0 {
            let name = getpwuid(geteuid()).map { String(cString: $0.pointee.pw_name) } ?? "uid \(geteuid())"
            return ServerUser(name: name, uid: geteuid(), gid: getegid(), switchesUser: false, runuser: nil)
        }
        let name = ProcessInfo.processInfo.environment["PGBACKUP_TEST_PGUSER"].flatMap { $0.isEmpty ? nil : $0 } ?? "postgres"
        guard let entry = getpwnam(name) else {
            throw PostgresClusterError.noUnprivilegedUser(name: name)
        }
        let runuser = ["/usr/sbin/runuser", "/sbin/runuser", "/usr/bin/runuser", "/bin/runuser"]
            .first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let runuser else {
            throw PostgresClusterError.setupFailed(
                step: "find runuser", reason: "running as root needs util-linux's runuser to start PostgreSQL as '\(name)'",
                logTail: nil)
        }
        return ServerUser(name: name, uid: entry.pointee.pw_uid, gid: entry.pointee.pw_gid, switchesUser: true, runuser: runuser)
    }

    /// The executable and arguments that run `executable arguments…` as this user.
    public func command(_ executable: String, _ arguments: [String]) -> (String, [String]) {
        guard switchesUser, let runuser else { return (executable, arguments) }
        return (runuser, ["-u", name, "--", executable] + arguments)
    }

    /// Makes `path` belong to this user (a no-op unless we are root).
    func takeOwnership(of path: String) throws {
        guard switchesUser else { return }
        guard chown(path, uid, gid) == 0 else {
            throw PostgresClusterError.setupFailed(
                step: "chown \(path) to \(name)", reason: String(cString: strerror(errno)), logTail: nil)
        }
    }
}

extension ServerUser {
    /// Makes everything under `path` (never following links) belong to this user: `chown -R`
    /// (a no-op unless we are root).
    public func takeOwnership(ofTree path: String) throws {
        guard switchesUser else { return }
        guard lchown(path, uid, gid) == 0 else {
            throw PostgresClusterError.setupFailed(step: "chown \(path) to \(name)", reason: String(cString: strerror(errno)), logTail: nil)
        }
        var info = stat()
        guard lstat(path, &info) == 0, info.st_mode & S_IFMT == S_IFDIR else { return }
        for name in try FileManager.default.contentsOfDirectory(atPath: path) {
            try takeOwnership(ofTree: path + "/" + name)
        }
    }
}

/// Our environment without libpq's `PG*` variables (a stray PGPASSWORD, PGHOST or PGSERVICE in
/// CI must not change what the tests connect to), with C-locale messages so they can be matched.
func sanitizedEnvironment(adding extra: [String: String] = [:]) -> [String: String] {
    var environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("PG") }
    environment["LC_ALL"] = "C"
    environment["LANG"] = "C"
    environment.merge(extra) { _, new in new }
    return environment
}

// MARK: - ports

private let portsHandedOut = Mutex<Set<Int>>([])

/// A TCP port on 127.0.0.1 that nothing listened on a moment ago (the kernel's pick for port 0).
/// Never the same port twice in one test process. Another process may still take it before we
/// use it: callers that bind it retry with a new port on "address in use".
public func freeTCPPort() throws -> Int {
    for _ in 0..<50 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { break }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else { continue }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard named == 0 else { continue }
        let port = Int(UInt16(bigEndian: address.sin_port))
        let fresh = portsHandedOut.withLock { $0.insert(port).inserted }
        if fresh { return port }
    }
    throw PostgresClusterError.setupFailed(
        step: "find a free TCP port on 127.0.0.1", reason: String(cString: strerror(errno)), logTail: nil)
}

// MARK: - processes

/// Whether `pid` is a live process. A zombie counts as dead: when PID 1 of a container does not
/// reap orphans, a killed postmaster stays a zombie forever.
func processIsAlive(_ pid: pid_t) -> Bool {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else {
        return kill(pid, 0) == 0 || errno == EPERM
    }
    // Format: "pid (comm) S ppid …"; comm may hold spaces and parentheses, so cut at the last ')'.
    guard let close = stat.lastIndex(of: ")") else { return true }
    let state = stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).first
    return state != "Z" && state != "X"
}

/// The direct children of `pid`, from /proc.
func childProcesses(of pid: pid_t) -> [pid_t] {
    guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
    return entries.compactMap { entry -> pid_t? in
        guard let child = pid_t(entry),
              let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")")
        else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 1, pid_t(fields[1]) == pid else { return nil }
        return child
    }
}

/// The postmaster's pid from the first line of `postmaster.pid`, if the file exists.
func postmasterPID(dataDirectory: String) -> pid_t? {
    guard let text = try? String(contentsOfFile: dataDirectory + "/postmaster.pid", encoding: .utf8),
          let first = text.split(separator: "\n").first
    else { return nil }
    return pid_t(first.trimmingCharacters(in: .whitespaces))
}

/// Blocks until none of `pids` is alive, or `timeout` passes. Returns whether all are gone.
@discardableResult
func waitForExit(of pids: [pid_t], timeout: Duration) -> Bool {
    let deadline = ContinuousClock.now + timeout
    while pids.contains(where: processIsAlive) {
        if ContinuousClock.now >= deadline { return false }
        usleep(20_000)
    }
    return true
}

/// Kills the postmaster whose pid is in `dataDirectory/postmaster.pid` and every child it has,
/// with SIGKILL, and waits until they are gone. The postmaster is stopped first so it cannot fork
/// a child we would miss. Synchronous, so that `deinit` can use it.
func killPostmaster(dataDirectory: String) {
    guard let pid = postmasterPID(dataDirectory: dataDirectory), pid > 0, processIsAlive(pid) else { return }
    kill(pid, SIGSTOP)
    let children = childProcesses(of: pid)
    for child in children { kill(child, SIGKILL) }
    kill(pid, SIGKILL)
    waitForExit(of: [pid] + children, timeout: .seconds(10))
}
