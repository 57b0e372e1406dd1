import Foundation
import PGBackupFoundations

/// The server binaries (`pg_ctl`, `postgres`, `psql`, `pg_amcheck`) of one PostgreSQL major version.
struct ServerBinaries: Sendable {
    let directory: String

    func path(_ tool: String) -> String { directory + "/" + tool }

    /// The binaries of `major`, checked before anything is written:
    /// - `postgres_bindir`'s entry for `major`, when it names one per major;
    /// - `postgres_bindir`'s one directory, when its `postgres` is of `major` (another major's
    ///   is an error naming both: a 16 backup is never started with 18's binaries);
    /// - else `pg_config --bindir` when its major version is `major`, else
    ///   `/usr/lib/postgresql/<major>/bin`: the first holding `pg_ctl` and `postgres`.
    static func find(major: Int, configured: PostgresBindirs?) async throws -> ServerBinaries {
        var tried: [String] = []
        func usable(_ directory: String) -> Bool {
            FileManager.default.isExecutableFile(atPath: directory + "/pg_ctl") && FileManager.default.isExecutableFile(atPath: directory + "/postgres")
        }
        if let named = configured?.byMajor[major] {
            if usable(named) { return ServerBinaries(directory: named) }
            throw ServerToolError.noServerBinaries(major: major, tried: ["postgres_bindir \(major)=\(named) (no pg_ctl and postgres there)"])
        }
        if let directory = configured?.directory {
            guard usable(directory) else {
                throw ServerToolError.noServerBinaries(major: major, tried: ["postgres_bindir \(directory) (no pg_ctl and postgres there)"])
            }
            let found = try await majorVersion(ofServerIn: directory)
            guard found == major else {
                throw ServerToolError.wrongServerBinaries(major: major, directory: directory, found: found)
            }
            return ServerBinaries(directory: directory)
        }
        if let configured, !configured.byMajor.isEmpty {
            tried.append("postgres_bindir (names \(configured.byMajor.keys.sorted().map(String.init).joined(separator: ", ")), not \(major))")
        }
        if let pgConfig = ChildProcess.which("pg_config") {
            let environment = ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"]
            let version = try await ChildProcess.run(pgConfig, ["--version"], environment: environment, timeout: .seconds(30))
            let bindir = try await ChildProcess.run(pgConfig, ["--bindir"], environment: environment, timeout: .seconds(30))
            let found = PostgresVersion.major(fromVersionOutput: version.output)
            let directory = bindir.output.trimmingCharacters(in: .whitespacesAndNewlines)
            if found == major, usable(directory) { return ServerBinaries(directory: directory) }
            tried.append("\(pgConfig) --bindir (\(directory.isEmpty ? "none" : directory), version \(found.map(String.init) ?? "unknown"))")
        } else {
            tried.append("pg_config (not in PATH)")
        }
        let packaged = "/usr/lib/postgresql/\(major)/bin"
        if usable(packaged) { return ServerBinaries(directory: packaged) }
        tried.append(packaged)
        throw ServerToolError.noServerBinaries(major: major, tried: tried)
    }

    /// The major version of `directory/postgres` (`postgres --version`).
    static func majorVersion(ofServerIn directory: String) async throws -> Int? {
        let environment = ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"]
        let version = try await ChildProcess.run(directory + "/postgres", ["--version"], environment: environment, timeout: .seconds(30))
        return PostgresVersion.major(fromVersionOutput: version.output)
    }
}
