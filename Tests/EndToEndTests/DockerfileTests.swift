import Foundation
import Testing
import PGBackupServices
import PGBackupTestSupport

#if canImport(Glibc)
import Glibc
#endif

/// No Docker engine runs here, so the Dockerfile is checked with BuildKit's own parser (PyPI
/// `dockerfile`) and against the scripts CI runs, which its build steps call.
@Suite("Dockerfile")
struct DockerfileTests {
    static let projectRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    struct Instruction: Decodable {
        var cmd: String
        var value: [String]
        var flags: [String]
    }

    func parse() async throws -> [Instruction] {
        let script = """
            import dockerfile, json, sys
            print(json.dumps([{"cmd": c.cmd.upper(), "value": list(c.value), "flags": list(c.flags)} for c in dockerfile.parse_file(sys.argv[1])]))
            """
        let result = try await runProcess("/usr/bin/env", ["python3", "-c", script, Self.projectRoot + "/Dockerfile"]).checked()
        return try JSONDecoder().decode([Instruction].self, from: result.standardOutputData)
    }

    @Test func itParsesAndBuildsWithTheScriptsCIRuns() async throws {
        let instructions = try await parse()
        let froms = instructions.filter { $0.cmd == "FROM" }
        #expect(froms.count == 2, "a build stage and a slim runtime stage")
        #expect(froms.first?.value.contains("build") == true)
        #expect(froms.last?.value.first?.contains("slim") == true)

        let runs = instructions.filter { $0.cmd == "RUN" }.map { $0.value.joined(separator: " ") }
        #expect(runs.contains { $0.contains("scripts/install-deps build") })
        #expect(runs.contains { $0.contains("scripts/build") })
        #expect(runs.contains { $0.contains("install-deps runtime") })
        #expect(!runs.contains { $0.contains("apt-get install") }, "packages come from scripts/install-deps only")
    }

    @Test func everyCopiedPathExistsAndTheModesExist() async throws {
        let instructions = try await parse()
        for copy in instructions where copy.cmd == "COPY" && !copy.flags.contains(where: { $0.hasPrefix("--from") }) {
            for source in copy.value.dropLast() {
                #expect(FileManager.default.fileExists(atPath: Self.projectRoot + "/" + source), "COPY source '\(source)' is missing")
            }
        }
        let installer = try String(contentsOfFile: Self.projectRoot + "/scripts/install-deps", encoding: .utf8)
        for mode in ["build)", "runtime)", "test)"] { #expect(installer.contains(mode)) }
    }

    @Test func theImageShipsThePoliciesWherePgbackupFindsThem() async throws {
        let instructions = try await parse()
        let copies = instructions.filter { $0.cmd == "COPY" && !$0.flags.contains { $0.hasPrefix("--from") } }
        // The runtime stage (after the last FROM) copies the checkout's policies/ to a directory
        // pgbackup searches by name (PolicyLocator).
        let runtime = instructions.suffix(from: try #require(instructions.lastIndex { $0.cmd == "FROM" }))
        #expect(runtime.contains { $0.cmd == "COPY" && $0.value == ["policies", "/usr/share/pgbackup/policies"] }, "\(copies.map(\.value))")
        #expect(PolicyLocator(policyDirectory: nil, executable: "/usr/local/bin/pgbackup").searchDirectories.contains("/usr/share/pgbackup/policies"))
        let shipped = try FileManager.default.contentsOfDirectory(atPath: Self.projectRoot + "/policies").filter { $0.hasSuffix(".yaml") }
        #expect(Set(["default.yaml", "gfs.yaml", "dev.yaml"]).isSubset(of: shipped))
    }

    /// The instructions of the runtime stage (from the last FROM on).
    func runtimeStage() async throws -> [Instruction] {
        let instructions = try await parse()
        return Array(instructions.suffix(from: try #require(instructions.lastIndex { $0.cmd == "FROM" })))
    }

    /// The packages `scripts/install-deps <mode>` installs, as bash expands its list.
    static func packages(_ mode: String) async throws -> [String] {
        let script = #"eval "$(grep -E '^(build|runtime|server|test|bench)_packages=' "$1")"; name="$2_packages[@]"; printf '%s\n' "${!name}""#
        let result = try await runProcess("/bin/bash", ["-c", script, "bash", projectRoot + "/scripts/install-deps", mode]).checked()
        return result.standardOutput.split(separator: "\n").map(String.init)
    }

    /// The files the Debian packages installed on this machine ship (`dpkg -L`).
    static func files(of packages: [String]) async throws -> Set<String> {
        let result = try await runProcess("/usr/bin/dpkg", ["-L"] + packages).checked()
        return Set(result.standardOutput.split(separator: "\n").map(String.init))
    }

    /// `ENV` of the runtime stage, as name → value.
    static func environment(_ runtime: [Instruction]) -> [String: String] {
        var environment: [String: String] = [:]
        for env in runtime where env.cmd == "ENV" {
            for index in stride(from: 0, to: env.value.count - 1, by: 2) { environment[env.value[index]] = env.value[index + 1] }
        }
        return environment
    }

    @Test func theImageRunsAsAnUnprivilegedUserUnderTiniAndKeepsTheSpoolOnAVolume() async throws {
        let runtime = try await runtimeStage()
        let user = try #require(runtime.last { $0.cmd == "USER" }?.value.first)
        #expect(user != "root" && user != "0")
        let runs = runtime.filter { $0.cmd == "RUN" }.map { $0.value.joined(separator: " ") }
        #expect(runs.contains { $0.range(of: "useradd [^&]* \(user)( |$)", options: .regularExpression) != nil }, "the user is created: \(runs)")
        let environment = Self.environment(runtime)
        let spool = try #require(environment["PGBACKUP_SPOOL"])
        let volume = try #require(runtime.last { $0.cmd == "VOLUME" }?.value.first)
        #expect(spool.hasPrefix(volume + "/"), "the spool \(spool) is on the volume \(volume)")
        #expect(runs.contains { $0.contains("install -d -o \(user) -g \(user)") && $0.contains(spool) }, "\(user) owns the spool: \(runs)")

        // tini is PID 1: it reaps verify-restore's postgres and forwards SIGTERM to pgbackup.
        let entrypoint = try #require(runtime.last { $0.cmd == "ENTRYPOINT" }?.value)
        #expect(entrypoint == ["/usr/bin/tini", "--", "/usr/local/bin/pgbackup"])
        #expect(runtime.last { $0.cmd == "CMD" }?.value == ["daemon"])
        let runtimePackages = try await Self.packages("runtime")
        #expect(runtimePackages.contains("tini"))
        #expect(runtime.contains { $0.cmd == "COPY" && $0.value.last == entrypoint[2] && $0.flags == ["--from=build"] })
    }

    /// The server binaries of every supported major (15–18) for verify-restore and follow, CA
    /// certificates and the libraries the binary links, all from `install-deps runtime`; the image
    /// names each major's bindir in the per-major `PGBACKUP_POSTGRES_BINDIR`, where the packages
    /// put it (checked against the files Debian's postgresql-15 ships, installed here by
    /// `install-deps test`; PGDG's 16–18 use the same layout).
    @Test func theRuntimeStageCarriesWhatTheSidecarNeeds() async throws {
        let runtime = try await runtimeStage()
        let packages = try await Self.packages("runtime")
        for needed in ["postgresql-common", "ca-certificates", "libpq5", "libcurl4", "libzstd1", "zlib1g", "tini", "curl"] {
            #expect(packages.contains(needed), "install-deps runtime lacks \(needed): \(packages)")
        }
        let servers = try await Self.packages("server")
        #expect(servers == (15...18).map { "postgresql-\($0)" }, "every supported major: \(servers)")
        let installer = try String(contentsOfFile: Self.projectRoot + "/scripts/install-deps", encoding: .utf8)
        #expect(installer.contains("/usr/share/postgresql-common/pgdg/apt.postgresql.org.sh"), "PGDG is added with postgresql-common's own script")
        #expect(installer.contains("create_main_cluster = false"))
        let setting = try PostgresBindirs(parsing: try #require(Self.environment(runtime)["PGBACKUP_POSTGRES_BINDIR"]))
        #expect(setting.byMajor == Dictionary(uniqueKeysWithValues: (15...18).map { ($0, "/usr/lib/postgresql/\($0)/bin") }))
        let bindir = try #require(setting.byMajor[15])
        let shipped = try await Self.files(of: ["postgresql-15", "postgresql-client-15"])
        for binary in ["initdb", "pg_ctl", "postgres", "pg_controldata", "pg_amcheck"] {
            #expect(shipped.contains(bindir + "/" + binary), "\(bindir)/\(binary) is not shipped by postgresql-15")
        }
        #expect(try await Self.packages("test").contains("postgresql-15"), "the tests run the same server")
        let runs = runtime.filter { $0.cmd == "RUN" }.map { $0.value.joined(separator: " ") }
        #expect(runs.contains { $0.contains("install-deps runtime") && $0.contains("pg_dropcluster") }, "no unused cluster in the image: \(runs)")
    }

    /// The build stage calls the scripts CI runs (.ci/run → scripts/test → install-deps, scripts/build).
    @Test func theBuildStepsAreTheScriptsCIRuns() async throws {
        let ci = try String(contentsOfFile: Self.projectRoot + "/.ci/run", encoding: .utf8)
        #expect(ci.contains("scripts/test"))
        let test = try String(contentsOfFile: Self.projectRoot + "/scripts/test", encoding: .utf8)
        #expect(test.contains("scripts/install-deps test") && test.contains("scripts/build "))
        let instructions = try await parse()
        let build = instructions.prefix(upTo: try #require(instructions.lastIndex { $0.cmd == "FROM" }))
        let runs = build.filter { $0.cmd == "RUN" }.map { $0.value.joined(separator: " ") }
        #expect(runs == ["scripts/install-deps build", "scripts/build /out"], "\(runs)")
    }

    /// EXPOSE, PGBACKUP_HTTP and the HEALTHCHECK name one port; the HEALTHCHECK, run by /bin/sh
    /// with curl as Docker runs it, passes on a 200 from /health and fails on a 503 and on no answer.
    @Test func theHealthcheckAsksHealthOnTheExposedPort() async throws {
        let runtime = try await runtimeStage()
        let listen = try #require(Self.environment(runtime)["PGBACKUP_HTTP"])
        let port = try #require(listen.split(separator: ":").last.map(String.init))
        #expect(runtime.filter { $0.cmd == "EXPOSE" }.flatMap(\.value) == [port])
        let healthcheck = try #require(runtime.last { $0.cmd == "HEALTHCHECK" })
        #expect(healthcheck.value.first == "CMD" && healthcheck.value.count == 2, "\(healthcheck.value)")
        #expect(healthcheck.flags.contains { $0.hasPrefix("--interval=") } && healthcheck.flags.contains { $0.hasPrefix("--timeout=") })
        let command = healthcheck.value[1]
        #expect(command.contains("/health"))
        #expect(try await Self.packages("runtime").contains("curl") && command.hasPrefix("curl "))

        func runHealthcheck(answering status: Int?) async throws -> Int32 {
            let local = try await CheckEndToEndTests.unusedPort()
            var server: BackgroundProcess?
            if let status {
                let script = """
                    import http.server, sys
                    class Handler(http.server.BaseHTTPRequestHandler):
                        def do_GET(self):
                            self.send_response(\(status) if self.path == "/health" else 404)
                            self.end_headers()
                            self.wfile.write(b'{"healthy": \(status == 200 ? "true" : "false"), "checks": []}')
                        def log_message(self, *args): pass
                    http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
                    """
                server = try BackgroundProcess("/usr/bin/env", ["python3", "-c", script, String(local)], environment: ["PATH": "/usr/bin:/bin"])
                let deadline = ContinuousClock.now + .seconds(10)
                while !canConnect(port: local), ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
            }
            defer { server?.send(SIGKILL) }
            // Only the port differs from the image: PGBACKUP_HTTP as a user would set it.
            let result = try await runProcess("/bin/sh", ["-c", command], environment: ["PATH": "/usr/bin:/bin", "PGBACKUP_HTTP": "127.0.0.1:\(local)"], timeout: .seconds(30))
            return result.status
        }
        #expect(try await runHealthcheck(answering: 200) == 0)
        #expect(try await runHealthcheck(answering: 503) != 0)
        #expect(try await runHealthcheck(answering: nil) != 0)
    }
}
