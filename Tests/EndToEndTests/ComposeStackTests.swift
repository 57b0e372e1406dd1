import Foundation
import Testing
import PGBackupFoundations
import PGBackupServices
import PGBackupStorage
import PGBackupTestSupport

#if canImport(Glibc)
import Glibc
#endif

/// examples/compose.yaml without a Docker engine: Debian's `docker-compose` validates and
/// resolves it (`config`), and the sidecar's exact environment from it runs against local servers,
/// so the example cannot rot.
@Suite("examples/: the compose stack", .serialized)
struct ComposeStackTests {
    static let examples = DockerfileTests.projectRoot + "/examples"
    static let composeFile = examples + "/compose.yaml"
    static let exampleEnvironmentFile = examples + "/example.env"

    /// What `docker-compose config` resolves of a service (anchors merged, `${…}` interpolated,
    /// bind-mount sources made absolute).
    struct Service: Decodable {
        struct Healthcheck: Decodable { var test: [String] }
        struct Build: Decodable { var context: String; var dockerfile: String }
        struct Dependency: Decodable { var condition: String }
        var image: String?
        var build: Build?
        var command: [String]?
        var entrypoint: [String]?
        var environment: [String: String]?
        var volumes: [String]?
        var ports: [String]?
        var healthcheck: Healthcheck?
        var profiles: [String]?
        var dependsOn: [String: Dependency]?
        enum CodingKeys: String, CodingKey {
            case image, build, command, entrypoint, environment, volumes, ports, healthcheck, profiles
            case dependsOn = "depends_on"
        }
    }

    struct Stack: Decodable { var services: [String: Service] }

    /// `docker-compose [--env-file FILE] -f examples/compose.yaml --profile drill config [extra]`
    /// with no variable of this machine's environment but PATH.
    /// (`files`: compose.yaml and its variants, merged in order.)
    static func compose(envFile: String?, _ extra: [String] = [], files: [String] = [composeFile]) async throws -> ProcessResult {
        var arguments = ["docker-compose"]
        if let envFile { arguments += ["--env-file", envFile] }
        arguments += files.flatMap { ["-f", $0] } + ["--profile", "drill", "config"] + extra
        return try await runProcess("/usr/bin/env", arguments, environment: ["PATH": "/usr/bin:/bin"], currentDirectory: examples, timeout: .seconds(60))
    }

    /// The resolved stack, as `docker-compose config` prints it (YAML, read by PyYAML, which
    /// docker-compose itself depends on).
    static func stack(envFile: String, files: [String] = [composeFile]) async throws -> Stack {
        let resolved = try await compose(envFile: envFile, files: files).checked()
        let json = try await runProcess(
            "/usr/bin/env", ["python3", "-c", "import sys, yaml, json; print(json.dumps(yaml.safe_load(sys.stdin)))"],
            standardInput: resolved.standardOutputData).checked()
        return try JSONDecoder().decode(Stack.self, from: json.standardOutputData)
    }

    /// `KEY=value` lines of an env file.
    static func variables(in path: String) throws -> [String: String] {
        var variables: [String: String] = [:]
        for line in try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n") where !line.hasPrefix("#") {
            guard let equals = line.firstIndex(of: "=") else { continue }
            variables[String(line[..<equals])] = String(line[line.index(after: equals)...])
        }
        return variables
    }

    @Test func theStackIsValidAndEveryCredentialComesFromTheEnvironment() async throws {
        let valid = try await Self.compose(envFile: Self.exampleEnvironmentFile, ["-q"])
        #expect(valid.status == 0, "\(valid.standardError)")

        // No credential has a default: without .env, config names what is missing.
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        try #require(FileManager.default.createFile(atPath: scratch.path + "/empty.env", contents: Data()))
        let withoutCredentials = try await Self.compose(envFile: scratch.path + "/empty.env", ["-q"])
        #expect(withoutCredentials.status != 0)
        #expect(withoutCredentials.standardError.contains("set it in .env"), "\(withoutCredentials.standardError)")
        let composeText = try String(contentsOfFile: Self.composeFile, encoding: .utf8)
        let credentials = try Self.variables(in: Self.exampleEnvironmentFile)
        #expect(credentials.count >= 6)
        for (name, value) in credentials {
            if name.hasSuffix("PASSWORD") || name.hasSuffix("SECRET_KEY") {
                #expect(!composeText.contains(value), "\(name)'s value is written in compose.yaml")
            }
            #expect(composeText.contains("${\(name):?"), "\(name) is required, without a default")
        }

        let services = try await Self.stack(envFile: Self.exampleEnvironmentFile).services
        #expect(Set(["primary", "replica", "minio", "pgbackup"]).isSubset(of: services.keys))
        // Health checks: every service that keeps running has one; a one-shot is waited for until it succeeded.
        let oneShots = Set(services.values.flatMap { $0.dependsOn ?? [:] }.filter { $0.value.condition == "service_completed_successfully" }.map(\.key))
        for (name, service) in services where service.profiles == nil && !oneShots.contains(name) {
            #expect(service.healthcheck != nil, "\(name) has no healthcheck")
        }
        #expect(oneShots == ["minio-setup", "pgbackup-init"])

        // The sidecar: the image of ../Dockerfile, the daemon, /health on the port PGBACKUP_HTTP names.
        let sidecar = try #require(services["pgbackup"])
        #expect(sidecar.build?.context == DockerfileTests.projectRoot && sidecar.build?.dockerfile == "Dockerfile")
        #expect(sidecar.command == ["daemon"])
        let environment = try #require(sidecar.environment)
        let port = try #require(environment["PGBACKUP_HTTP"]?.split(separator: ":").last.map(String.init))
        let healthcheck = try #require(sidecar.healthcheck?.test.joined(separator: " "))
        #expect(healthcheck.contains("127.0.0.1:\(port)/health"), "\(healthcheck)")
        #expect(sidecar.ports?.contains { $0.hasSuffix(":\(port)/tcp") } == true, "\(sidecar.ports ?? [])")
        // init binds the repository with exactly the sidecar's settings.
        let initService = try #require(services["pgbackup-init"])
        #expect(initService.command == ["init"])
        #expect(initService.environment == environment.filter { $0.key != "PGBACKUP_HTTP" })
        #expect(sidecar.dependsOn?["pgbackup-init"]?.condition == "service_completed_successfully")
        // Both PostgreSQL services are in the conninfo; the replica clones the primary.
        let conninfo = try #require(environment["PGBACKUP_CONNINFO"])
        #expect(conninfo.contains("host=primary,replica"), "\(conninfo)")
        #expect(services["replica"]?.environment?["PRIMARY_HOST"] == "primary")
        #expect(services["replica"]?.entrypoint == services["primary"]?.entrypoint)
        // The drill's services run the image's pgbackup: restore into a fresh instance, follow.
        #expect(services["restore-drill"]?.image == sidecar.image && services["rejoin-primary"]?.image == sidecar.image)
        #expect(services["rejoin-primary"]?.command?.first == "follow")

        // The policy the sidecar mounts loads as pgbackup loads it; its backup schedule fits
        // within its backup_max_age alert (else /health would fail between two on-time backups).
        let policyMount = try #require(sidecar.volumes?.first { $0.contains(":" + environment["PGBACKUP_POLICY", default: "?"] + ":") })
        let policySource = String(try #require(policyMount.split(separator: ":").first))
        let policy = try #require(try SettingsLoader.settings(
            yaml: nil, path: "/dev/null", environment: ["PGBACKUP_POLICY": policySource], server: nil).loadPolicy())
        let backups = try #require(policy.schedule?.backup)
        #expect(policy.schedule?.verifyRestore != nil)
        let first = backups.next(after: Date())
        let second = backups.next(after: first)
        let maxAge = try #require(policy.alerts?.backupMaxAge)
        #expect(second.timeIntervalSince(first) < maxAge, "backups every \(second.timeIntervalSince(first)) s, alert after \(maxAge) s")

        // Every script the stack mounts parses.
        let scripts = try FileManager.default.subpathsOfDirectory(atPath: Self.examples).filter { $0.hasSuffix(".sh") }
        #expect(scripts.count >= 3, "\(scripts)")
        for script in scripts {
            let parsed = try await runProcess("/bin/bash", ["-n", Self.examples + "/" + script])
            #expect(parsed.status == 0, "\(script): \(parsed.standardError)")
        }
    }

    // MARK: the sidecar's environment, run here


    /// Where a container path of `service` is here: on a bind mount, under its source; on a named
    /// volume, under `namedVolumes[name]`, else `<scratch>/volumes/<name>`; elsewhere, nil.
    static func localPath(_ path: String, of service: Service, namedVolumes: [String: String], scratch: ScratchDirectory) -> String? {
        for volume in service.volumes ?? [] {
            let parts = volume.split(separator: ":").map(String.init)
            guard parts.count >= 2, path == parts[1] || path.hasPrefix(parts[1] + "/") else { continue }
            let source = parts[0].hasPrefix("/") ? parts[0] : namedVolumes[parts[0]] ?? scratch.path + "/volumes/" + parts[0]
            return source + path.dropFirst(parts[1].count)
        }
        return nil
    }

    /// The service's command with its container paths made local (`localPath`).
    static func localCommand(of service: Service, namedVolumes: [String: String] = [:], scratch: ScratchDirectory) throws -> [String] {
        try #require(service.command).map { localPath($0, of: service, namedVolumes: namedVolumes, scratch: scratch) ?? $0 }
    }

    /// The container's environment (the image's ENV, then the service's `environment:`) with only
    /// what names the stack's machines replaced: PostgreSQL service hosts and ports by local
    /// servers', the S3 endpoint by moto's, and paths on the service's volumes (`localPath`).
    static func localEnvironment(
        of service: Service, servers: [String: PostgresCluster], s3Endpoint: String, scratch: ScratchDirectory
    ) async throws -> [String: String] {
        var environment = DockerfileTests.environment(try await DockerfileTests().runtimeStage())
        environment.merge(try #require(service.environment)) { $1 }
        // The endpoint's port: a free one of 127.0.0.1 (tests run side by side).
        if environment["PGBACKUP_HTTP"] != nil { environment["PGBACKUP_HTTP"] = "127.0.0.1:\(try await CheckEndToEndTests.unusedPort())" }

        let conninfo = try #require(environment["PGBACKUP_CONNINFO"])
        var hosts: [String] = []
        environment["PGBACKUP_CONNINFO"] = try conninfo.split(separator: " ").map { token -> String in
            if token.hasPrefix("host=") {
                hosts = token.dropFirst(5).split(separator: ",").map(String.init)
                for host in hosts where servers[host] == nil { throw FixtureError("conninfo host \(host) is not a PostgreSQL service") }
                return "host=" + hosts.map { servers[$0]!.host }.joined(separator: ",")
            }
            if token.hasPrefix("port=") { return "port=" + hosts.map { String(servers[$0]!.port) }.joined(separator: ",") }
            return String(token)
        }.joined(separator: " ")
        #expect(!hosts.isEmpty, "\(conninfo)")

        let endpoint = try #require(environment["PGBACKUP_S3_ENDPOINT"].flatMap { URL(string: $0) })
        #expect(endpoint.host == "minio", "the endpoint is the stack's MinIO: \(endpoint)")
        environment["PGBACKUP_S3_ENDPOINT"] = s3Endpoint

        for (name, value) in environment where value.hasPrefix("/") {
            if let local = localPath(value, of: service, namedVolumes: [:], scratch: scratch) { environment[name] = local }
        }
        // The image names every supported major's server binaries where the packages put them;
        // here each major is where the tests find it.
        if let image = environment["PGBACKUP_POSTGRES_BINDIR"] {
            let named = try PostgresBindirs(parsing: image).byMajor.keys
            let local = await PostgresBinaries.everyMajor().map(\.major)
            #expect(Set(named).isSuperset(of: local), "the image names \(named.sorted()), the tests run \(local)")
            environment["PGBACKUP_POSTGRES_BINDIR"] = await PostgresBinaries.bindirSetting()
        }
        return environment
    }

    /// The stack's sidecar, its environment read from compose.yaml as `docker-compose config`
    /// resolves it (with an env file of this machine's credentials) and localized as above, runs
    /// against a primary and its streaming standby: init (the init service's environment) binds
    /// the repository, the daemon streams from the primary (never the standby) into the stack's
    /// bucket, two backups satisfy the policy's redundancy, `check` is healthy. Then the README's
    /// drill: the primary crashes for good, the replica is promoted, the daemon follows it; SIGTERM
    /// exits 0; restore-drill's environment restores every row; rejoin-primary's `follow` makes
    /// the old primary a standby.
    @Test func theSidecarsEnvironmentFromTheStackStreamsChecksHealthyAndRestores() async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let moto = try await MotoServer.shared()
        let replicationPassword = "repl-" + UUID().uuidString.prefix(12).lowercased()
        let envFile = scratch.path + "/stack.env"
        let credentials = [
            "POSTGRES_PASSWORD=unused-here", "REPLICATION_PASSWORD=\(replicationPassword)",
            "MINIO_ROOT_USER=unused-here", "MINIO_ROOT_PASSWORD=unused-here",
            "PGBACKUP_S3_ACCESS_KEY=\(moto.clientEnvironment["AWS_ACCESS_KEY_ID"]!)",
            "PGBACKUP_S3_SECRET_KEY=\(moto.clientEnvironment["AWS_SECRET_ACCESS_KEY"]!)",
        ]
        try (credentials.joined(separator: "\n") + "\n").write(toFile: envFile, atomically: true, encoding: .utf8)
        let services = try await Self.stack(envFile: envFile).services
        let sidecar = try #require(services["pgbackup"])
        let initService = try #require(services["pgbackup-init"])

        var options = DaemonFixture.options
        options.replicationPassword = replicationPassword
        try await withPostgresCluster(options) { primary in
            let replica = try await primary.makeStandby(name: "replica")
            let servers = ["primary": primary, "replica": replica]
            let environment = try await Self.localEnvironment(of: sidecar, servers: servers, s3Endpoint: moto.endpoint, scratch: scratch)
            let initEnvironment = try await Self.localEnvironment(of: initService, servers: servers, s3Endpoint: moto.endpoint, scratch: scratch)
            // init has the sidecar's settings (not its spool volume nor its endpoint).
            let daemonOnly: Set<String> = ["PGBACKUP_SPOOL", "PGBACKUP_HTTP"]
            #expect(environment.filter { !daemonOnly.contains($0.key) } == initEnvironment.filter { !daemonOnly.contains($0.key) })
            // The stack's bucket (minio-setup makes it there).
            let repository = try #require(environment["PGBACKUP_REPO"].flatMap { URL(string: $0) })
            try await moto.createBucket(try #require(repository.host))
            let store = try StoreFactory.open(try SettingsLoader.settings(yaml: nil, path: "/dev/null", environment: environment, server: nil))

            let initialized = try await PGBackupBinary.run(try #require(initService.command), environment: initEnvironment)
            try #require(initialized.status == 0, "init: \(initialized.standardError)")

            var daemonEnvironment = environment
            daemonEnvironment["PATH"] = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
            daemonEnvironment["PGBACKUP_CONFIG"] = "/dev/null"
            let daemon = try BackgroundProcess(PGBackupBinary.path, try #require(sidecar.command), environment: daemonEnvironment)
            defer { daemon.send(SIGKILL) }
            try await primary.waitUntil("the sidecar streams from the primary", timeout: .seconds(60)) {
                try await DaemonFailoverEndToEndTests.slot(on: primary) == "true"
            }
            #expect(try await DaemonFailoverEndToEndTests.slot(on: replica) == "none", "never from the standby")

            _ = try await primary.sql("CREATE TABLE rows (batch int, id int)")
            try await DaemonFailoverEndToEndTests.insertBatch(1, on: primary)
            for number in 1...2 {
                let backup = try await PGBackupBinary.run(["backup"], environment: environment)
                try #require(backup.status == 0, "backup \(number): \(backup.standardError)")
            }
            try await DaemonFailoverEndToEndTests.insertBatch(2, on: primary)
            let switched = try await primary.sql("SELECT pg_walfile_name(pg_switch_wal())").trimmingCharacters(in: .whitespacesAndNewlines)
            let segment = try WALSegmentName(parsing: switched, segmentSize: DaemonFixture.segmentSize)
            let deadline = ContinuousClock.now + .seconds(90)
            while try await !TestRepository.archivedSegments(in: store, segmentSize: DaemonFixture.segmentSize).contains(segment) {
                try #require(daemon.isRunning, "the daemon exited: \(daemon.standardError.suffix(3000))")
                try #require(ContinuousClock.now < deadline, "\(segment.name) not archived; daemon log: \(daemon.standardError.suffix(3000))")
                try await Task.sleep(for: .milliseconds(200))
            }
            #expect(daemon.standardError.contains("server=127.0.0.1:\(primary.port)"), "\(daemon.standardError.suffix(3000))")

            let check = try await PGBackupBinary.run(["check", "--json"], environment: environment, timeout: .seconds(60))
            #expect(check.status == 0, "check: \(check.standardOutput)\(check.standardError)")
            #expect(!(check.standardOutput + check.standardError + daemon.standardError).contains(replicationPassword))
            // The image's HEALTHCHECK asks /health on PGBACKUP_HTTP: healthy once a round of checks
            // has seen the backups (the stack's --check-interval, else 15 s).
            let httpPort = try #require(daemonEnvironment["PGBACKUP_HTTP"].flatMap { $0.split(separator: ":").last }.flatMap { Int($0) })
            try await primary.waitUntil("/health answers 200", timeout: .seconds(60)) {
                try await DaemonHTTPEndToEndTests.get(httpPort, "/health").status == 200
            }

            // The drill: the primary is lost for good, the replica promoted; the sidecar follows it.
            try await primary.crash()
            try await replica.promote()
            try await DaemonFailoverEndToEndTests.insertBatch(3, on: replica)
            let onReplica = try await replica.sql("SELECT pg_walfile_name(pg_switch_wal())").trimmingCharacters(in: .whitespacesAndNewlines)
            let timeline2 = try WALSegmentName(parsing: onReplica, segmentSize: DaemonFixture.segmentSize)
            #expect(timeline2.timeline == TimelineID(2))
            let followDeadline = ContinuousClock.now + .seconds(90)
            while try await !TestRepository.archivedSegments(in: store, segmentSize: DaemonFixture.segmentSize).contains(timeline2) {
                try #require(daemon.isRunning, "the daemon exited: \(daemon.standardError.suffix(3000))")
                try #require(ContinuousClock.now < followDeadline, "\(timeline2.name) not archived; daemon log: \(daemon.standardError.suffix(3000))")
                try await Task.sleep(for: .milliseconds(200))
            }
            daemon.send(SIGTERM)
            let stopped = try await daemon.wait(timeout: .seconds(60))
            #expect(stopped.status == 0, "\(stopped.standardError.suffix(2000))")

            // restore-drill's environment restores a fresh instance with every row, both timelines.
            let drill = try #require(services["restore-drill"])
            let drillEnvironment = try await Self.localEnvironment(of: drill, servers: servers, s3Endpoint: moto.endpoint, scratch: scratch)
            let restored = try await RestoreEndToEndTests.restoreAndCount(in: scratch, environment: drillEnvironment, [], name: "stack")
            #expect(restored == DaemonFailoverEndToEndTests.expected([1, 2, 3]), "\(restored)")

            // rejoin-primary's command and environment (its volume: the old primary's data directory)
            // make the old primary a standby of the promoted replica. (Streaming from it needs the
            // password the stack's .pgpass holds, which this machine's shared postgres user lacks.)
            let rejoin = try #require(services["rejoin-primary"])
            let rejoinEnvironment = try await Self.localEnvironment(of: rejoin, servers: servers, s3Endpoint: moto.endpoint, scratch: scratch)
            let rejoinCommand = try Self.localCommand(of: rejoin, namedVolumes: ["primary-data": primary.dataDirectory], scratch: scratch)
            #expect(rejoinCommand == ["follow", "--pgdata", primary.dataDirectory])
            let rejoined = try await PGBackupBinary.run(rejoinCommand, environment: rejoinEnvironment)
            try #require(rejoined.status == 0, "follow: \(rejoined.standardError)")
            #expect(rejoined.standardOutput.contains("rejoined former primary \(primary.dataDirectory) as a standby of 127.0.0.1:\(replica.port)"), "\(rejoined.standardOutput)")
            try await primary.startServer()
            #expect(try await primary.sql("SELECT pg_is_in_recovery()") == "t")
        }
    }
}
