import Foundation
import Testing
import PGBackupFoundations
import PGBackupServices
import PGBackupTestSupport

#if canImport(Glibc)
import Glibc
#endif

/// The sidecar of examples/compose.yaml with its IRSA variant (compose.irsa.yaml): configured
/// with IRSA's two variables and no key, against moto's STS handing out credentials that expire
/// every six seconds (moto refuses them afterwards). Under pgbench, for many lifetimes, it
/// streams, a slowed backup completes, `verify` passes, and the restore (the restored server
/// fetching WAL, process after process, with the same role) has every row.
@Suite("web identity (IRSA): the sidecar with expiring credentials", .serialized)
struct WebIdentityEndToEndTests {
    static let irsaFile = ComposeStackTests.examples + "/compose.irsa.yaml"

    @Test func theSidecarWithIRSAsTwoVariablesStreamsBacksUpVerifiesAndRestores() async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        try await withMotoServer(bucket: "pgbackup-irsa-unused", credentialLifetime: .seconds(6)) { moto in
            let role = try await moto.createRole(name: "pgbackup-sidecar")
            let replicationPassword = "repl-" + UUID().uuidString.prefix(12).lowercased()
            let envFile = scratch.path + "/stack.env"
            let variables = [
                "POSTGRES_PASSWORD=unused-here", "REPLICATION_PASSWORD=\(replicationPassword)",
                "MINIO_ROOT_USER=unused-here", "MINIO_ROOT_PASSWORD=unused-here",
                "PGBACKUP_S3_ACCESS_KEY=unused-by-the-sidecar", "PGBACKUP_S3_SECRET_KEY=unused-by-the-sidecar",
                "PGBACKUP_ROLE_ARN=\(role)", "PGBACKUP_STS_ENDPOINT=\(moto.endpoint)",
            ]
            try (variables.joined(separator: "\n") + "\n").write(toFile: envFile, atomically: true, encoding: .utf8)
            let services = try await ComposeStackTests.stack(envFile: envFile, files: [ComposeStackTests.composeFile, Self.irsaFile]).services
            let sidecar = try #require(services["pgbackup"])
            let initService = try #require(services["pgbackup-init"])
            let drill = try #require(services["restore-drill"])

            var options = DaemonFixture.options
            options.replicationPassword = replicationPassword
            try await withPostgresCluster(options) { primary in
                let replica = try await primary.makeStandby(name: "replica")
                let servers = ["primary": primary, "replica": replica]
                // The kubelet's projected token, as the sidecar's volume holds it.
                let tokenFile = scratch.path + "/irsa/token"
                try FileManager.default.createDirectory(atPath: scratch.path + "/irsa", withIntermediateDirectories: true)
                try WebIdentityToken.make(expiresAt: Date().addingTimeInterval(3600)).write(toFile: tokenFile, atomically: true, encoding: .utf8)
                func local(_ service: ComposeStackTests.Service) async throws -> [String: String] {
                    var environment = try await ComposeStackTests.localEnvironment(of: service, servers: servers, s3Endpoint: moto.endpoint, scratch: scratch)
                    #expect(environment["AWS_WEB_IDENTITY_TOKEN_FILE"]?.hasSuffix("/examples/irsa/token") == true, "on the irsa volume")
                    environment["AWS_WEB_IDENTITY_TOKEN_FILE"] = tokenFile
                    environment["AWS_EC2_METADATA_DISABLED"] = "true"  // nothing but the web identity may sign
                    environment["PGBACKUP_SPOOL"] = scratch.path + "/spool"
                    return environment
                }
                let environment = try await local(sidecar)
                let initEnvironment = try await local(initService)
                // Only IRSA's two variables (and the STS endpoint) say who signs: no key anywhere.
                #expect(environment["AWS_ACCESS_KEY_ID"] == "" && environment["AWS_SECRET_ACCESS_KEY"] == "")
                #expect(environment["AWS_ROLE_ARN"] == role && environment["AWS_ENDPOINT_URL_STS"] == moto.endpoint)
                #expect(environment["PGBACKUP_S3_CREDENTIALS"] == nil, "auto chooses the web identity")
                let repository = try #require(environment["PGBACKUP_REPO"].flatMap { URL(string: $0) })
                try await moto.createBucket(try #require(repository.host))

                let initialized = try await PGBackupBinary.run(try #require(initService.command), environment: initEnvironment)
                try #require(initialized.status == 0, "init: \(initialized.standardError)")
                var daemonEnvironment = environment
                daemonEnvironment["PATH"] = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
                daemonEnvironment["PGBACKUP_CONFIG"] = "/dev/null"
                let daemon = try BackgroundProcess(
                    PGBackupBinary.path, try #require(sidecar.command) + ["--partial-interval", "1", "--check-interval", "2"], environment: daemonEnvironment)
                defer { daemon.send(SIGKILL) }
                try await primary.waitUntil("the sidecar streams", timeout: .seconds(60)) {
                    try await DaemonFailoverEndToEndTests.slot(on: primary) == "true"
                }

                // Load for many lifetimes of the credentials, and a backup slowed to span several.
                _ = try await primary.sql("CREATE TABLE rows (batch int, id int)")
                let bench = try await primary.pgbench(["-i", "-s", "3", "-q"])
                try #require(bench.succeeded, "\(bench.standardError)")
                async let load = primary.pgbench(["-c", "2", "-T", "16", "-n"], timeout: .seconds(120))
                try await DaemonFailoverEndToEndTests.insertBatch(1, on: primary)
                let started = ContinuousClock.now
                let backup = try await PGBackupBinary.run(["backup", "--max-rate", "4096"], environment: environment, timeout: .seconds(300))
                try #require(backup.status == 0, "backup: \(backup.standardError)")
                let backupSeconds = (ContinuousClock.now - started).inSeconds
                try #require((try await load).succeeded)
                try await DaemonFailoverEndToEndTests.insertBatch(2, on: primary)
                let switched = try await primary.sql("SELECT pg_walfile_name(pg_switch_wal())").trimmingCharacters(in: .whitespacesAndNewlines)
                let last = try WALSegmentName(parsing: switched, segmentSize: DaemonFixture.segmentSize)
                let store = try StoreFactory.open(try SettingsLoader.settings(yaml: nil, path: "/dev/null", environment: environment, server: nil))
                let deadline = ContinuousClock.now + .seconds(90)
                while try await !TestRepository.archivedSegments(in: store, segmentSize: DaemonFixture.segmentSize).contains(last) {
                    try #require(daemon.isRunning, "the daemon exited: \(daemon.standardError.suffix(3000))")
                    try #require(ContinuousClock.now < deadline, "\(last.name) not archived; daemon log: \(daemon.standardError.suffix(3000))")
                    try await Task.sleep(for: .milliseconds(200))
                }

                // /health names the source and its expiry; the daemon refreshed, once per lifetime, not per request.
                let httpPort = try #require(daemonEnvironment["PGBACKUP_HTTP"].flatMap { $0.split(separator: ":").last }.flatMap { Int($0) })
                var detail = ""
                let healthDeadline = ContinuousClock.now + .seconds(30)
                while !(detail.hasPrefix("web-identity: role \(role)") && detail.contains("expire")) {
                    try #require(ContinuousClock.now < healthDeadline, "/health's s3_credentials: \(detail)")
                    try await Task.sleep(for: .milliseconds(500))
                    let answer = try await DaemonHTTPEndToEndTests.get(httpPort, "/health")
                    let report = try JSONSerialization.jsonObject(with: Data(answer.body.utf8)) as? [String: Any]
                    let checks = report?["checks"] as? [[String: Any]] ?? []
                    detail = checks.first { $0["name"] as? String == "s3_credentials" }?["detail"] as? String ?? ""
                }
                let refreshes = Int(detail.split(separator: "refreshed ").last?.split(separator: " ").first ?? "") ?? (detail.contains("refreshed once") ? 1 : 0)
                let streamed = (ContinuousClock.now - started).inSeconds
                #expect(refreshes >= Int(streamed / 6), "\(refreshes) refreshes in \(streamed) s of 6 s credentials: \(detail)")
                #expect(backupSeconds > 8, "the backup spanned several lifetimes: \(backupSeconds) s")
                let errors = daemon.standardError.split(separator: "\n").filter { $0.contains(" ERROR ") || $0.contains("\"level\":\"error\"") }
                #expect(errors.isEmpty, "nothing failed: \(errors.prefix(5))")

                let verify = try await PGBackupBinary.run(["verify", "--json"], environment: environment, timeout: .seconds(300))
                #expect(verify.status == 0, "verify: \(verify.standardOutput.suffix(2000)) \(verify.standardError.suffix(2000))")
                daemon.send(SIGTERM)
                let stopped = try await daemon.wait(timeout: .seconds(60))
                #expect(stopped.status == 0, "\(stopped.standardError.suffix(2000))")
                for secret in [moto.secretAccessKey, try String(contentsOfFile: tokenFile, encoding: .utf8)] {
                    #expect(!(stopped.standardError + backup.standardError + verify.standardOutput).contains(secret), "no secret in the output")
                }

                // restore-drill's environment: every row, the restored server fetching WAL as the same role.
                var drillEnvironment = try await local(drill)
                drillEnvironment["PGBACKUP_SPOOL"] = nil
                let restored = try await RestoreEndToEndTests.restoreAndCount(in: scratch, environment: drillEnvironment, [], name: "irsa")
                #expect(restored == DaemonFailoverEndToEndTests.expected([1, 2]), "\(restored)")
            }
        }
    }
}
