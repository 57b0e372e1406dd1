import Foundation

/// The server binaries (`pg_ctl`, `psql`, `pg_amcheck`) of one PostgreSQL major version.
struct ServerBinaries: Sendable {
    let directory: String

    func path(_ tool: String) -> String { directory + "/" + tool }

    /// `postgres_bindir` when set, else `pg_config --bindir` when its major version is `major`,
    /// else `/usr/lib/postgresql/<major>/bin`: the first holding `pg_ctl` and `postgres`.
    static func find(major: Int, configured: String?) async throws -> ServerBinaries {
        var tried: [String] = []
        func usable(_ directory: String) -> Bool {
            FileManager.default.isExecutableFile(atPath: directory + "/pg_ctl") && FileManager.default.isExecutableFile(atPath: directory + "/postgres")
        }
        if let configured {
            if usable(configured) { return ServerBinaries(directory: configured) }
            tried.append("postgres_bindir \(configured) (no pg_ctl and postgres there)")
            throw VerifyRestoreError.noServerBinaries(major: major, tried: tried)
        }
        if let pgConfig = ChildProcess.which("pg_config") {
            let environment = ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"]
            let version = try await ChildProcess.run(pgConfig, ["--version"], environment: environment, timeout: .seconds(30))
            let bindir = try await ChildProcess.run(pgConfig, ["--bindir"], environment: environment, timeout: .seconds(30))
            let found = version.output.split(separator: " ").dropFirst().first.flatMap { Int($0.split(separator: ".").first ?? "") }
            let directory = bindir.output.trimmingCharacters(in: .whitespacesAndNewlines)
            if found == major, usable(directory) { return ServerBinaries(directory: directory) }
            tried.append("\(pgConfig) --bindir (\(directory.isEmpty ? "none" : directory), version \(found.map(String.init) ?? "unknown"))")
        } else {
            tried.append("pg_config (not in PATH)")
        }
        let packaged = "/usr/lib/postgresql/\(major)/bin"
        if usable(packaged) { return ServerBinaries(directory: packaged) }
        tried.append(packaged)
        throw VerifyRestoreError.noServerBinaries(major: major, tried: tried)
    }
}
