import Foundation
import PGBackupFoundations

#if canImport(Glibc)
import Glibc
#endif

/// What a finished child process left: its exit status and its output.
struct ChildResult: Sendable {
    var status: Int32
    var terminatedBySignal: Bool
    var output: String
    var error: String
    var succeeded: Bool { status == 0 && !terminatedBySignal }
    /// Standard error then standard output, trimmed to `lines` lines, for a check's detail.
    func excerpt(lines: Int = 12) -> String {
        let text = (error + "\n" + output).split(separator: "\n").filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
        return text.prefix(lines).joined(separator: "\n")
    }
}

/// `verify-restore` runs pg_ctl, psql and pg_amcheck: posix_spawn and waitpid rather than
/// Foundation's `Process`, which on Linux waits on a descriptor that `pg_ctl start`'s postmaster
/// inherits (the wait would never end). Output goes to files (a daemon cannot hold a pipe open).
enum ChildProcess {
    /// Runs `executable` (an absolute path) with `arguments` and `environment`. After `timeout`,
    /// or when the calling task is cancelled and `cancellable`, the child gets SIGTERM then
    /// SIGKILL; a cancelled run throws `CancellationError`.
    static func run(
        _ executable: String, _ arguments: [String], environment: [String: String], timeout: Duration, cancellable: Bool = true,
        directory: String? = nil
    ) async throws -> ChildResult {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("pgbackup-child-\(UUID().uuidString)").path
        try FileSystem.makeDirectories(scratch, mode: 0o700)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let pid = try spawn(executable, arguments, environment: environment, stdout: scratch + "/out", stderr: scratch + "/err", directory: directory)
        let deadline = ContinuousClock.now + timeout
        var waitStatus: Int32 = 0
        var cancelled = false
        var timedOut = false
        while true {
            let reaped = waitpid(pid, &waitStatus, WNOHANG)
            if reaped == pid || (reaped == -1 && errno != EINTR) { break }
            if (cancellable && Task.isCancelled) || ContinuousClock.now >= deadline {
                cancelled = cancellable && Task.isCancelled
                timedOut = !cancelled
                kill(pid, SIGTERM)
                let grace = ContinuousClock.now + .seconds(2)
                while waitpid(pid, &waitStatus, WNOHANG) == 0 {
                    if ContinuousClock.now >= grace {
                        kill(pid, SIGKILL)
                        _ = waitpid(pid, &waitStatus, 0)
                        break
                    }
                    usleep(10_000)
                }
                break
            }
            if cancellable {
                try? await Task.sleep(for: .milliseconds(10))
            } else {
                usleep(10_000)  // cleanup after a cancellation: Task.sleep would return at once
            }
        }
        if cancelled { throw CancellationError() }
        let output = String(decoding: FileManager.default.contents(atPath: scratch + "/out") ?? Data(), as: UTF8.self)
        var error = String(decoding: FileManager.default.contents(atPath: scratch + "/err") ?? Data(), as: UTF8.self)
        if timedOut { error += "\n(killed after \(timeout))" }
        let signal = waitStatus & 0x7F
        return ChildResult(
            status: timedOut ? -1 : signal == 0 ? (waitStatus >> 8) & 0xFF : signal, terminatedBySignal: signal != 0,
            output: output, error: error)
    }

    /// The absolute path of `name` in `$PATH`, if any.
    static func which(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        return path.split(separator: ":").map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    private static func spawn(_ executable: String, _ arguments: [String], environment: [String: String], stdout: String, stderr: String, directory: String?) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, stdout, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, stderr, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        if let closeFrom = closeFrom { _ = closeFrom(&actions, 3) }
        if let directory, let changeDirectory = changeDirectory { _ = changeDirectory(&actions, directory) }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var defaults = sigset_t()
        sigemptyset(&defaults)
        sigaddset(&defaults, SIGPIPE)
        sigaddset(&defaults, SIGTERM)
        sigaddset(&defaults, SIGINT)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        var mask = sigset_t()
        sigemptyset(&mask)
        posix_spawnattr_setsigmask(&attributes, &mask)
        // Its own process group: a Ctrl-C meant for pgbackup does not reach the server directly;
        // pgbackup stops it in order.
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETPGROUP))
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid: pid_t = 0
        let status = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
        guard status == 0 else {
            throw ServerToolError.launch(command: executable, reason: String(cString: strerror(status)))
        }
        return pid
    }

    private typealias ChangeDirectory = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32
    /// glibc's `posix_spawn_file_actions_addchdir_np` (2.29).
    private static let changeDirectory: ChangeDirectory? = dlsym(nil, "posix_spawn_file_actions_addchdir_np").map { unsafeBitCast($0, to: ChangeDirectory.self) }
    private typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
    /// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34), which Swift does not import.
    private static let closeFrom: CloseFrom? = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np").map { unsafeBitCast($0, to: CloseFrom.self) }
}
