import Foundation
import PGBackupFoundations
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A real, throwaway PostgreSQL cluster for integration tests.
///
/// Each cluster lives in its own temporary directory under /tmp (`baseDirectory`) holding the
/// data directory, the Unix socket directory and the server log, and listens on its own free TCP
/// port on 127.0.0.1, so tests running in parallel never share anything. The server runs with
/// `wal_level = replica`, replication slots and WAL senders, and has a replication role with a
/// password (`replicationUser`, SCRAM over TCP); the superuser `postgres` is trusted.
///
/// Prefer `withPostgresCluster { … }`, which always destroys the cluster. A cluster that is never
/// destroyed is killed and removed by `deinit` as a last resort.
public final class PostgresCluster: Sendable {
    public struct Options: Sendable {
        /// Appears in the temporary directory's name, to tell clusters apart when debugging.
        public var name: String
        /// Extra `postgresql.conf` settings (written verbatim, so quote strings: `"'on'"` or
        /// `"'/path'"`); they override the harness's defaults.
        public var settings: [String: String]
        public var dataChecksums: Bool
        /// `initdb --wal-segsize` in MiB (a power of two); nil keeps PostgreSQL's 16.
        public var walSegmentSizeMB: Int?
        public var replicationUser: String
        /// Nil picks a random one.
        public var replicationPassword: String?
        /// For each wait on the server: start, stop, promotion, streaming, replay.
        public var timeout: Duration
        /// The server's major version; nil: the default binaries (`PostgresBinaries.locate()`).
        public var major: Int?

        public init(
            name: String = "pg",
            settings: [String: String] = [:],
            dataChecksums: Bool = true,
            walSegmentSizeMB: Int? = nil,
            replicationUser: String = "replicator",
            replicationPassword: String? = nil,
            timeout: Duration = .seconds(60),
            major: Int? = nil
        ) {
            self.name = name
            self.settings = settings
            self.dataChecksums = dataChecksums
            self.walSegmentSizeMB = walSegmentSizeMB
            self.replicationUser = replicationUser
            self.replicationPassword = replicationPassword
            self.timeout = timeout
            self.major = major
        }
    }

    public enum StopMode: String, Sendable {
        case smart, fast, immediate
    }

    public let options: Options
    /// Always 127.0.0.1: the server listens on loopback only.
    public let host = "127.0.0.1"
    public let port: Int
    /// The temporary directory that holds everything of this cluster; removed by `destroy()`.
    public let baseDirectory: String
    public let dataDirectory: String
    /// `unix_socket_directories`; psql and pgbench connect through it.
    public let socketDirectory: String
    /// `pg_ctl -l`: the server's stderr, appended across restarts.
    public let logFile: String
    /// The bootstrap superuser; trusted locally and from 127.0.0.1.
    public let superuser = "postgres"
    /// A role with REPLICATION and LOGIN that authenticates with `replicationPassword`
    /// (scram-sha-256) from 127.0.0.1, for both replication and ordinary connections.
    public let replicationUser: String
    public let replicationPassword: String
    public let binaries: PostgresBinaries
    public let serverUser: ServerUser
    /// The server's major version.
    public var major: Int { binaries.major }

    private struct State: Sendable {
        var destroyed = false
        var standbys: [PostgresCluster] = []
    }
    private let state = Mutex(State())

    private init(
        options: Options, port: Int, baseDirectory: String, replicationPassword: String,
        binaries: PostgresBinaries, serverUser: ServerUser, dataDirectory: String? = nil
    ) {
        self.options = options
        self.port = port
        self.baseDirectory = baseDirectory
        self.dataDirectory = dataDirectory ?? baseDirectory + "/data"
        self.socketDirectory = baseDirectory + "/socket"
        self.logFile = baseDirectory + "/server.log"
        self.replicationUser = options.replicationUser
        self.replicationPassword = replicationPassword
        self.binaries = binaries
        self.serverUser = serverUser
    }

    deinit {
        // Last resort when nobody called destroy(): no async work is possible here, so kill the
        // server outright and remove its directory. Standbys are released (and so cleaned) after.
        if !state.withLock({ $0.destroyed }) {
            killPostmaster(dataDirectory: dataDirectory)
            try? FileManager.default.removeItem(atPath: baseDirectory)
        }
    }

    // MARK: creating

    /// Creates a new cluster (initdb), starts it on a free port and creates the replication role.
    /// Fails (never skips) with the reason and the server log's tail when anything goes wrong;
    /// whatever was created before the failure is removed.
    public static func start(_ options: Options = Options()) async throws -> PostgresCluster {
        let binaries = try await PostgresBinaries.locate(major: options.major)
        let user = try ServerUser.current()
        let base = try makeBaseDirectory(name: options.name, user: user)
        let password = options.replicationPassword ?? "repl-" + randomHex(12)
        do {
            let data = base + "/data"
            try makeOwnedDirectory(base + "/socket", user: user)
            var initdb = [
                "-D", data, "-U", "postgres", "--auth-local=trust", "--auth-host=scram-sha-256",
                "--no-locale", "--encoding=UTF8", "--no-sync", "--no-instructions",
            ]
            if options.dataChecksums { initdb.append("--data-checksums") }
            if let size = options.walSegmentSizeMB { initdb.append("--wal-segsize=\(size)") }
            try await runServerTool(binaries.path("initdb"), initdb, user: user, in: base, step: "initdb a new cluster", logFile: nil)

            try writeFile(data + "/pg_hba.conf", hbaConf(replicationUser: options.replicationUser), owner: user)
            try appendToFile(data + "/postgresql.conf", baseConf(options))

            let port = try await startOnFreePort(data: data, base: base, binaries: binaries, user: user, timeout: options.timeout)
            let cluster = PostgresCluster(
                options: options, port: port, baseDirectory: base, replicationPassword: password,
                binaries: binaries, serverUser: user)
            do {
                try await cluster.sql(
                    "CREATE ROLE \(quoteIdentifier(options.replicationUser)) WITH LOGIN REPLICATION PASSWORD \(quoteLiteral(password))")
            } catch {
                await cluster.destroy()
                throw error
            }
            return cluster
        } catch {
            killPostmaster(dataDirectory: base + "/data")
            try? FileManager.default.removeItem(atPath: base)
            throw error
        }
    }

    /// A streaming standby of this (running) cluster: `pg_basebackup -R` into a new cluster
    /// directory, started on its own port; returns once its WAL receiver is streaming. The standby
    /// is destroyed with this cluster, or earlier by its own `destroy()`.
    ///
    /// - Parameter slot: a physical replication slot to create on this cluster and stream from.
    public func makeStandby(name: String? = nil, slot: String? = nil) async throws -> PostgresCluster {
        var standbyOptions = options
        standbyOptions.name = name ?? options.name + "-standby"
        let base = try Self.makeBaseDirectory(name: standbyOptions.name, user: serverUser)
        var made: PostgresCluster?
        do {
            let data = base + "/data"
            try Self.makeOwnedDirectory(base + "/socket", user: serverUser)
            var arguments = [
                "-D", data, "-R", "-X", "stream", "-c", "fast", "--no-sync", "-w",
                "-h", host, "-p", String(port), "-U", replicationUser,
            ]
            if let slot { arguments += ["-C", "-S", slot] }
            try await Self.runServerTool(
                binaries.path("pg_basebackup"), arguments, user: serverUser, in: base,
                step: "take the base backup for a standby", logFile: logFile,
                environment: ["PGPASSWORD": replicationPassword])
            let port = try await Self.startOnFreePort(
                data: data, base: base, binaries: binaries, user: serverUser, timeout: options.timeout)
            let standby = PostgresCluster(
                options: standbyOptions, port: port, baseDirectory: base, replicationPassword: replicationPassword,
                binaries: binaries, serverUser: serverUser)
            made = standby
            state.withLock { $0.standbys.append(standby) }
            try await standby.waitUntil("the standby's WAL receiver to stream from port \(self.port)") {
                try await standby.sql("SELECT status FROM pg_stat_wal_receiver") == "streaming"
            }
            return standby
        } catch {
            if let made { await made.destroy() }
            killPostmaster(dataDirectory: base + "/data")
            try? FileManager.default.removeItem(atPath: base)
            throw error
        }
    }

    /// Starts PostgreSQL on a data directory made elsewhere (a restored backup) and waits until
    /// it accepts connections: a new base directory holds its socket and log, it listens on a
    /// free port (`pgbackup_test_local.conf`, included from `postgresql.conf`), and the whole
    /// tree of `dataDirectory` and of each of `ownedTrees` (tablespace directories) is handed to
    /// the server's user first. `destroy()` stops it and removes the base directory, not
    /// `dataDirectory`. A server that must recover first (recovery.signal) is up once it
    /// accepts connections; wait for the end of recovery with `waitUntil`.
    public static func start(
        existingDataDirectory dataDirectory: String, ownedTrees: [String] = [], _ options: Options = Options()
    ) async throws -> PostgresCluster {
        // The data directory's own major (PG_VERSION), whatever the default binaries are.
        let version = try? String(contentsOfFile: dataDirectory + "/PG_VERSION", encoding: .utf8)
        let major = options.major ?? version.flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        let binaries = try await PostgresBinaries.locate(major: major)
        let user = try ServerUser.current()
        let base = try makeBaseDirectory(name: options.name, user: user)
        do {
            try makeOwnedDirectory(base + "/socket", user: user)
            let conf = dataDirectory + "/postgresql.conf"
            let text = (try? String(contentsOfFile: conf, encoding: .utf8)) ?? ""
            if !text.contains("include 'pgbackup_test_local.conf'") {
                try appendToFile(conf, "\ninclude 'pgbackup_test_local.conf'\n")
            }
            for tree in [dataDirectory] + ownedTrees { try user.takeOwnership(ofTree: tree) }
            guard chmod(dataDirectory, 0o700) == 0 else {
                throw PostgresClusterError.setupFailed(step: "chmod \(dataDirectory)", reason: String(cString: strerror(errno)), logTail: nil)
            }
            let port = try await startOnFreePort(data: dataDirectory, base: base, binaries: binaries, user: user, timeout: options.timeout)
            return PostgresCluster(
                options: options, port: port, baseDirectory: base, replicationPassword: options.replicationPassword ?? "",
                binaries: binaries, serverUser: user, dataDirectory: dataDirectory)
        } catch {
            killPostmaster(dataDirectory: dataDirectory)
            try? FileManager.default.removeItem(atPath: base)
            throw error
        }
    }

    // MARK: life cycle

    /// Stops the server (fast shutdown by default) and waits until it is down.
    public func stop(mode: StopMode = .fast) async throws {
        try await Self.runServerTool(
            binaries.path("pg_ctl"), ["stop", "-D", dataDirectory, "-m", mode.rawValue, "-w", "-t", seconds(options.timeout)],
            user: serverUser, in: baseDirectory, step: "stop the server (\(mode.rawValue))", logFile: logFile)
    }

    /// Starts the stopped server again on the same port and waits until it accepts connections
    /// (for a standby: until it accepts read-only connections).
    public func startServer() async throws {
        try Self.removeStaleLockFiles(data: dataDirectory, socket: socketDirectory)
        try await Self.launch(data: dataDirectory, base: baseDirectory, binaries: binaries, user: serverUser, timeout: options.timeout)
    }

    /// Stops the server if it runs (fast) and starts it again.
    public func restart() async throws {
        if isRunning { try await stop(mode: .fast) }
        try await startServer()
    }

    /// Simulates a crash: SIGKILL to the postmaster and all its processes at once, so nothing is
    /// flushed or checkpointed on the way down; the next start runs crash recovery. Returns when
    /// all of them are gone.
    public func crash() async throws {
        guard let pid = postmasterPID(dataDirectory: dataDirectory), processIsAlive(pid) else {
            throw PostgresClusterError.setupFailed(step: "crash the server", reason: "it is not running", logTail: logTail())
        }
        killPostmaster(dataDirectory: dataDirectory)
        guard !processIsAlive(pid) else {
            throw PostgresClusterError.setupFailed(step: "crash the server", reason: "postmaster \(pid) survived SIGKILL", logTail: logTail())
        }
    }

    /// Promotes this standby (`pg_ctl promote`) and waits until it has left recovery.
    public func promote() async throws {
        try await Self.runServerTool(
            binaries.path("pg_ctl"), ["promote", "-D", dataDirectory, "-w", "-t", seconds(options.timeout)],
            user: serverUser, in: baseDirectory, step: "promote the standby", logFile: logFile)
        try await waitUntil("the promoted server to leave recovery") {
            try await self.sql("SELECT pg_is_in_recovery()") == "f"
        }
    }

    /// Whether the postmaster in `postmaster.pid` is alive.
    public var isRunning: Bool {
        guard let pid = postmasterPID(dataDirectory: dataDirectory) else { return false }
        return processIsAlive(pid)
    }

    /// Stops the server (immediate), destroys the standbys made from it, and removes the whole
    /// base directory. Idempotent, never throws, and runs to the end even when the calling task
    /// is cancelled.
    public func destroy() async {
        let standbys: [PostgresCluster]? = state.withLock { state in
            if state.destroyed { return nil }
            state.destroyed = true
            defer { state.standbys = [] }
            return state.standbys
        }
        guard let standbys else { return }
        await Task.detached { [self] in
            for standby in standbys { await standby.destroy() }
            if isRunning {
                let (executable, arguments) = serverUser.command(
                    binaries.path("pg_ctl"), ["stop", "-D", dataDirectory, "-m", "immediate", "-w", "-t", "30"])
                _ = try? await runProcess(
                    executable, arguments, environment: sanitizedEnvironment(), currentDirectory: baseDirectory,
                    timeout: .seconds(40))
                killPostmaster(dataDirectory: dataDirectory)  // in case pg_ctl could not
            }
            do {
                try FileManager.default.removeItem(atPath: baseDirectory)
            } catch {
                FileHandle.standardError.write(Data("pgbackup test harness: unable to remove \(baseDirectory): \(error)\n".utf8))
            }
        }.value
    }

    // MARK: talking to the server

    /// Creates a directory owned by the server's user, mode 0700, as CREATE TABLESPACE needs.
    public func makeServerOwnedDirectory(_ path: String) throws {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        guard chown(path, serverUser.uid, serverUser.gid) == 0 else {
            throw PostgresClusterError.setupFailed(step: "chown \(path)", reason: String(cString: strerror(errno)), logTail: "")
        }
    }

    /// Where `makeQuietTablespace` puts tablespace `ts`.
    public var quietTablespaceLocation: String { baseDirectory + "/tablespace-ts" }

    /// Creates tablespace `ts` in `quietTablespaceLocation` holding table `quiet` (50,000 frozen
    /// rows that nothing changes afterwards), then checkpoints. Returns the tablespace's oid and
    /// the table's path relative to the data directory (`pg_tblspc/<oid>/PG_15_…/<db>/<file>`).
    public func makeQuietTablespace() async throws -> (oid: UInt32, quietPath: String) {
        let location = quietTablespaceLocation
        try makeServerOwnedDirectory(location)
        try await sql(
            "CREATE TABLESPACE ts LOCATION '\(location)'",
            "CREATE TABLE quiet (id int, payload text) TABLESPACE ts",
            "INSERT INTO quiet SELECT g, md5(g::text) FROM generate_series(1, 50000) g",
            "VACUUM FREEZE quiet",
            "CHECKPOINT")
        let oidText = try await sql("SELECT oid FROM pg_tablespace WHERE spcname = 'ts'")
        guard let oid = UInt32(oidText) else {
            throw PostgresClusterError.setupFailed(step: "read the oid of tablespace ts", reason: "got '\(oidText)'", logTail: "")
        }
        return (oid, try await sql("SELECT pg_relation_filepath('quiet')"))
    }

    /// Runs each statement with its own `psql -c` (so each is its own transaction: several
    /// statements in one `-c` are one transaction, and CREATE DATABASE refuses that) as the
    /// superuser, stopping at the first error. Returns psql's unaligned, tuples-only output
    /// without the final newline: one line per row, columns separated by `|`.
    @discardableResult
    public func sql(_ statements: String..., database: String = "postgres") async throws -> String {
        try await sql(statements, database: database)
    }

    @discardableResult
    public func sql(_ statements: [String], database: String = "postgres") async throws -> String {
        let result = try await psql(statements, database: database, fieldSeparator: "|")
        var output = result.standardOutput
        if output.hasSuffix("\n") { output.removeLast() }
        return output
    }

    /// The rows of one query, each a list of column texts (NULL reads as "").
    /// Values that hold a newline or U+001F split wrongly: keep such values out of test queries.
    public func rows(_ query: String, database: String = "postgres") async throws -> [[String]] {
        let result = try await psql([query], database: database, fieldSeparator: "\u{1F}")
        return result.standardOutput.split(separator: "\n", omittingEmptySubsequences: true).map {
            $0.split(separator: "\u{1F}", omittingEmptySubsequences: false).map(String.init)
        }
    }

    private func psql(_ statements: [String], database: String, fieldSeparator: String) async throws -> ProcessResult {
        var arguments = [
            "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-F", fieldSeparator,
            "-h", socketDirectory, "-p", String(port), "-U", superuser, "-d", database,
        ]
        for statement in statements { arguments += ["-c", statement] }
        let result = try await runProcess(
            binaries.path("psql"), arguments, environment: sanitizedEnvironment(),
            currentDirectory: baseDirectory, timeout: options.timeout)
        guard result.succeeded else { throw PostgresClusterError.sqlFailed(statements: statements, result: result) }
        return result
    }

    /// Runs `pgbench` against this cluster as the superuser, with `arguments` (options only: the
    /// harness appends the database name). Throws when pgbench fails.
    @discardableResult
    public func pgbench(_ arguments: [String], database: String = "postgres", timeout: Duration? = nil) async throws -> ProcessResult {
        let result = try await runProcess(
            binaries.path("pgbench"),
            ["-h", socketDirectory, "-p", String(port), "-U", superuser] + arguments + [database],
            environment: sanitizedEnvironment(), currentDirectory: baseDirectory, timeout: timeout ?? options.timeout)
        guard result.succeeded else {
            throw PostgresClusterError.commandFailed(step: "run pgbench", result: result, logTail: logTail())
        }
        return result
    }

    /// A libpq connection string for this cluster over TCP.
    ///
    /// - Parameter replication: true gives the replication role with its password (what pgbackup
    ///   is configured with); false gives the trusted superuser. Neither holds a `replication`
    ///   keyword: the client adds the mode it needs.
    public func conninfo(replication: Bool = false, database: String = "postgres") -> String {
        replication
            ? conninfo(user: replicationUser, password: replicationPassword, database: database)
            : conninfo(user: superuser, password: nil, database: database)
    }

    /// A libpq connection string for this cluster over TCP, as any user.
    public func conninfo(user: String, password: String?, database: String = "postgres") -> String {
        var parts = [
            "host=\(conninfoValue(host))", "port=\(port)", "user=\(conninfoValue(user))",
            "dbname=\(conninfoValue(database))", "connect_timeout=10",
        ]
        if let password { parts.append("password=\(conninfoValue(password))") }
        return parts.joined(separator: " ")
    }

    /// `pg_current_wal_lsn()` on a primary.
    public func currentWALLSN() async throws -> LSN {
        try parseLSN(try await sql("SELECT pg_current_wal_lsn()"), what: "pg_current_wal_lsn()")
    }

    /// Waits until this standby has replayed everything `primary` had written when called.
    public func waitForReplay(of primary: PostgresCluster) async throws {
        let target = try await primary.currentWALLSN()
        try await waitUntil("the standby to replay up to \(target)") {
            let replayed = try await self.sql("SELECT pg_last_wal_replay_lsn()")
            return LSN(replayed).map { $0 >= target } ?? false
        }
    }

    /// The last `lines` lines of the server log.
    public func logTail(lines: Int = 40) -> String {
        Self.logTail(logFile, lines: lines)
    }

    /// Polls `condition` every 100 ms until it returns true; an error from it counts as "not yet".
    /// Throws `PostgresClusterError.timedOut` with the last error and the server log's tail.
    public func waitUntil(
        _ what: String, timeout: Duration? = nil, _ condition: @Sendable () async throws -> Bool
    ) async throws {
        let deadline = ContinuousClock.now + (timeout ?? options.timeout)
        var lastError: String?
        while true {
            do {
                if try await condition() { return }
            } catch {
                lastError = "\(error)"
            }
            if ContinuousClock.now >= deadline {
                throw PostgresClusterError.timedOut(
                    waitingFor: what, after: timeout ?? options.timeout, lastError: lastError, logTail: logTail())
            }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    // MARK: - plumbing

    private func parseLSN(_ text: String, what: String) throws -> LSN {
        guard let lsn = LSN(text) else {
            throw PostgresClusterError.setupFailed(step: "read \(what)", reason: "'\(text)' is not an LSN", logTail: nil)
        }
        return lsn
    }

    private static func logTail(_ logFile: String, lines: Int = 40) -> String {
        guard let data = FileManager.default.contents(atPath: logFile) else { return "(no server log at \(logFile))" }
        return tail(String(decoding: data.suffix(64 * 1024), as: UTF8.self), lines: lines)
    }

    /// Starts the server in `data` on a fresh free port, retrying with another port when the
    /// first was taken between our check and the server's bind. Returns the port.
    private static func startOnFreePort(
        data: String, base: String, binaries: PostgresBinaries, user: ServerUser, timeout: Duration
    ) async throws -> Int {
        var attempt = 0
        while true {
            attempt += 1
            let port = try freeTCPPort()
            try writeFile(data + "/pgbackup_test_local.conf", """
                # Written by the pgbackup test harness for this copy of the cluster.
                listen_addresses = '127.0.0.1'
                port = \(port)
                unix_socket_directories = '\(base)/socket'

                """, owner: user)
            do {
                try await launch(data: data, base: base, binaries: binaries, user: user, timeout: timeout)
                return port
            } catch {
                let log = logTail(base + "/server.log", lines: 15)
                let portTaken = log.contains("could not bind") || log.contains("Address already in use")
                    || log.contains("could not create any TCP/IP sockets")
                if portTaken && attempt < 5 {
                    try? removeStaleLockFiles(data: data, socket: base + "/socket")
                    continue
                }
                throw error
            }
        }
    }

    private static func launch(
        data: String, base: String, binaries: PostgresBinaries, user: ServerUser, timeout: Duration
    ) async throws {
        try await runServerTool(
            binaries.path("pg_ctl"), ["start", "-D", data, "-l", base + "/server.log", "-w", "-t", seconds(timeout)],
            user: user, in: base, step: "start PostgreSQL in \(data)", logFile: base + "/server.log",
            timeout: timeout + .seconds(10))
    }

    /// After a crash, `postmaster.pid` and the socket lock file still name the dead postmaster.
    /// PostgreSQL ignores them when that pid is gone, but not when it lingers as a zombie (a
    /// container's PID 1 that does not reap): then remove them, as a reboot would.
    private static func removeStaleLockFiles(data: String, socket: String) throws {
        guard let pid = postmasterPID(dataDirectory: data), !processIsAlive(pid) else { return }
        try? FileManager.default.removeItem(atPath: data + "/postmaster.pid")
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: socket)) ?? [] where entry.hasSuffix(".lock") {
            try? FileManager.default.removeItem(atPath: socket + "/" + entry)
        }
    }

    /// Runs a server-side tool (as `user` when we are root) from `directory`, which that user can
    /// read; throws `commandFailed` with the tool's output and the log's tail unless it succeeds.
    @discardableResult
    private static func runServerTool(
        _ tool: String, _ arguments: [String], user: ServerUser, in directory: String, step: String,
        logFile: String?, environment: [String: String] = [:], timeout: Duration = .seconds(120)
    ) async throws -> ProcessResult {
        let (executable, fullArguments) = user.command(tool, arguments)
        let result = try await runProcess(
            executable, fullArguments, environment: sanitizedEnvironment(adding: environment),
            currentDirectory: directory, timeout: timeout)
        guard result.succeeded else {
            throw PostgresClusterError.commandFailed(step: step, result: result, logTail: logFile.map { logTail($0) })
        }
        return result
    }

    /// A fresh `/tmp/pgbackup-<name>-XXXXXX`, 0755 and owned by the server's user, so that user
    /// can traverse to and write everything inside.
    private static func makeBaseDirectory(name: String, user: ServerUser) throws -> String {
        let safeName = String(name.map { $0.isLetter || $0.isNumber || $0 == "-" ? $0 : "-" }.prefix(24))
        var template = Array("/tmp/pgbackup-\(safeName)-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else {
            throw PostgresClusterError.setupFailed(step: "create a temporary directory under /tmp", reason: String(cString: strerror(errno)), logTail: nil)
        }
        let path = String(cString: made)
        guard chmod(path, 0o755) == 0 else {
            throw PostgresClusterError.setupFailed(step: "chmod \(path)", reason: String(cString: strerror(errno)), logTail: nil)
        }
        do {
            try user.takeOwnership(of: path)
        } catch {
            try? FileManager.default.removeItem(atPath: path)
            throw error
        }
        return path
    }

    private static func makeOwnedDirectory(_ path: String, user: ServerUser) throws {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o755])
        try user.takeOwnership(of: path)
    }

    private static func writeFile(_ path: String, _ text: String, owner: ServerUser) throws {
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        try owner.takeOwnership(of: path)
    }

    private static func appendToFile(_ path: String, _ text: String) throws {
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(text.utf8))
    }

    private static func hbaConf(replicationUser: String) -> String {
        let role = quoteIdentifier(replicationUser)
        return """
            # Written by the pgbackup test harness. First match wins.
            # TYPE  DATABASE     USER      ADDRESS        METHOD
            local   all          all                      trust
            local   replication  all                      trust
            host    all          postgres  127.0.0.1/32   trust
            host    replication  postgres  127.0.0.1/32   trust
            host    replication  \(role)   127.0.0.1/32   scram-sha-256
            host    all          all       127.0.0.1/32   scram-sha-256

            """
    }

    private static func baseConf(_ options: Options) -> String {
        var settings: [(String, String)] = [
            ("wal_level", "replica"),
            ("max_wal_senders", "10"),
            ("max_replication_slots", "10"),
            ("hot_standby", "on"),
            ("wal_keep_size", "'128MB'"),
            ("max_connections", "40"),
            ("shared_buffers", "'32MB'"),
            ("password_encryption", "'scram-sha-256'"),
            ("timezone", "'UTC'"),
            ("log_timezone", "'UTC'"),
            ("logging_collector", "off"),
            ("log_line_prefix", "'%m [%p] '"),
        ]
        for (key, value) in options.settings.sorted(by: { $0.key < $1.key }) {
            settings.removeAll { $0.0 == key }
            settings.append((key, value))
        }
        return "\n# Added by the pgbackup test harness.\n"
            + settings.map { "\($0.0) = \($0.1)\n" }.joined()
            // Port and socket directory differ between a primary and its standbys, which copy
            // this file: they live in their own file, rewritten for each copy of the cluster.
            + "include 'pgbackup_test_local.conf'\n"
    }
}

/// Runs `body` with a new cluster and destroys the cluster afterwards, whether `body` returns,
/// throws or is cancelled.
public func withPostgresCluster<Result>(
    _ options: PostgresCluster.Options = .init(),
    isolation: isolated (any Actor)? = #isolation,
    _ body: (PostgresCluster) async throws -> Result
) async throws -> Result {
    let cluster = try await PostgresCluster.start(options)
    do {
        let result = try await body(cluster)
        await cluster.destroy()
        return result
    } catch {
        await cluster.destroy()
        throw error
    }
}

// MARK: - quoting

func quoteIdentifier(_ name: String) -> String {
    "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
}

func quoteLiteral(_ text: String) -> String {
    "'" + text.replacingOccurrences(of: "'", with: "''") + "'"
}

/// A conninfo value, single-quoted with `\` and `'` escaped as libpq expects.
func conninfoValue(_ text: String) -> String {
    "'" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "\\'") + "'"
}

private func seconds(_ duration: Duration) -> String {
    String(max(1, duration.components.seconds))
}

func randomHex(_ bytes: Int) -> String {
    var generator = SystemRandomNumberGenerator()
    return (0..<bytes).map { _ in
        let byte = UInt8.random(in: 0...255, using: &generator)
        return String(byte, radix: 16).count == 1 ? "0" + String(byte, radix: 16) : String(byte, radix: 16)
    }.joined()
}
