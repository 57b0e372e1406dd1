import Foundation
import PGBackupTestSupport

/// The built `pgbackup` executable, run the way an operator runs it.
enum PGBackupBinary {
    /// `$PGBACKUP_BIN`, else `pgbackup` next to the test bundle (SwiftPM builds both into one folder).
    static var path: String {
        if let explicit = ProcessInfo.processInfo.environment["PGBACKUP_BIN"] { return explicit }
        let testBinary = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: testBinary).deletingLastPathComponent().appendingPathComponent("pgbackup").path
    }

    /// Runs `pgbackup` with `arguments` and exactly `environment` (plus PATH and HOME), so no
    /// PGBACKUP_* variable of the machine running the tests leaks in.
    static func run(_ arguments: [String], environment: [String: String] = [:], timeout: Duration = .seconds(120)) async throws -> ProcessResult {
        var env = environment
        let inherited = ProcessInfo.processInfo.environment
        env["PATH"] = env["PATH"] ?? inherited["PATH"] ?? "/usr/bin:/bin"
        env["HOME"] = env["HOME"] ?? inherited["HOME"] ?? "/tmp"
        // No system-wide configuration file either, unless a test names one.
        env["PGBACKUP_CONFIG"] = env["PGBACKUP_CONFIG"] ?? "/dev/null"
        // The server binaries of every major the tests reach, for verify-restore and follow of a
        // backup of any major (as an image that carries them all is set up).
        if env["PGBACKUP_POSTGRES_BINDIR"] == nil { env["PGBACKUP_POSTGRES_BINDIR"] = await PostgresBinaries.bindirSetting() }
        return try await runProcess(path, arguments, environment: env, timeout: timeout)
    }
}

/// A fresh directory under /tmp, removed by `remove()`.
struct ScratchDirectory {
    let path: String

    init() throws {
        path = "/tmp/pgbackup-e2e-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func remove() { try? FileManager.default.removeItem(atPath: path) }
}
