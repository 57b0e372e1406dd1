import Foundation
import Testing
import PGBackupFoundations
import PGBackupRepository
import PGBackupTestSupport

#if canImport(Glibc)
import Glibc
#endif

/// `pgbackup check` against a real cluster and daemon: healthy, then each failure turning its
/// named check unhealthy, exit codes, and no password in anything it prints.
@Suite("pgbackup check, end to end", .serialized)
struct CheckEndToEndTests {
    static let names = ["configuration", "repository", "primary", "slot", "wal", "continuity", "backup_age", "backup_checksums", "redundancy", "verification", "diverged"]

    struct Outcome {
        var status: Int32
        var healthy: Bool
        var checks: [String: (ok: Bool, detail: String)]
        var output: String
    }

    /// Runs `check --json`, asserts the JSON's exact shape and that the password never appears.
    static func check(_ fixture: DaemonFixture, extra: [String: String] = [:], password: String) async throws -> Outcome {
        let result = try await PGBackupBinary.run(["check", "--json"], environment: fixture.environment.merging(extra) { $1 }, timeout: .seconds(60))
        let output = result.standardOutput + result.standardError
        #expect(!output.contains(password), "the password appeared: \(output)")
        #expect(!output.contains("Fatal error") && !output.contains("Stack dump"), "\(output)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8)) as? [String: Any], "\(output)")
        #expect(Set(object.keys) == ["healthy", "checks"])
        let healthy = try #require(object["healthy"] as? Bool)
        let list = try #require(object["checks"] as? [[String: Any]])
        var checks: [String: (ok: Bool, detail: String)] = [:]
        for entry in list {
            #expect(Set(entry.keys) == ["name", "ok", "detail"])
            let name = try #require(entry["name"] as? String)
            checks[name] = (try #require(entry["ok"] as? Bool), try #require(entry["detail"] as? String))
        }
        // An S3 repository adds the credentials that signed (static keys here: long-lived).
        let expected = fixture.repository.kind == .s3 ? Array(names.prefix(2)) + ["s3_credentials"] + names.dropFirst(2) : names
        #expect(list.compactMap { $0["name"] as? String } == expected)
        if fixture.repository.kind == .s3 {
            #expect(checks["s3_credentials"]?.ok == true && checks["s3_credentials"]?.detail.hasPrefix("env: access key") == true, "\(output)")
        }
        #expect(healthy == checks.values.allSatisfy(\.ok))
        #expect(result.status == (healthy ? 0 : 1), "\(output)")
        if ProcessInfo.processInfo.environment["CHECK_E2E_PRINT"] != nil { print(result.standardOutput + result.standardError) }
        return Outcome(status: result.status, healthy: healthy, checks: checks, output: output)
    }

    /// A TCP port on 127.0.0.1 nothing listens on (bound, read, released).
    static func unusedPort() async throws -> Int {
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(socket) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socket, $0, length) } }
        #expect(bound == 0)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(socket, $0, &length) } }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    static func unhealthy(_ outcome: Outcome) -> [String] {
        names.filter { outcome.checks[$0]?.ok == false }
    }

    static func startStreaming(_ fixture: DaemonFixture) async throws -> BackgroundProcess {
        let daemon = try fixture.startDaemon()
        try await fixture.cluster.waitUntil("the daemon streams", timeout: .seconds(60)) {
            try await fixture.cluster.sql("SELECT count(*) FROM pg_stat_replication WHERE application_name = 'pgbackup'").contains("1")
        }
        return daemon
    }

    @Test(arguments: RepositoryKind.tested)
    func noBackupThenHealthy(kind: RepositoryKind) async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        try await withPostgresCluster(DaemonFixture.options) { cluster in
            let fixture = try await DaemonFixture(kind, cluster: cluster, scratch: scratch)
            let password = cluster.replicationPassword
            let daemon = try await Self.startStreaming(fixture)
            defer { daemon.send(SIGKILL) }

            try await fixture.waitForArchive(of: try await fixture.switchSegment(), daemon: daemon)
            let empty = try await Self.check(fixture, password: password)
            #expect(Self.unhealthy(empty) == ["backup_age", "redundancy"], "\(empty.output)")
            #expect(empty.checks["backup_age"]?.detail.contains("no complete backup") == true)

            let backup = try await PGBackupBinary.run(["backup"], environment: fixture.environment)
            #expect(backup.status == 0, "\(backup.standardError)")
            let last = try await fixture.switchSegment()
            try await fixture.waitForArchive(of: last, daemon: daemon)

            let healthy = try await Self.check(fixture, password: password)
            #expect(healthy.status == 0 && healthy.healthy, "\(healthy.output)")
            #expect(healthy.checks["primary"]?.detail.contains("\(cluster.host):\(cluster.port)") == true, "\(healthy.output)")
            #expect(healthy.checks["verification"]?.detail.contains("never") == true)
            #expect(healthy.checks["slot"]?.detail.contains("active") == true)
        }
    }

    @Test func eachFailureTurnsItsNamedCheckUnhealthy() async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        try await withPostgresCluster(DaemonFixture.options) { cluster in
            let fixture = try await DaemonFixture(.file, cluster: cluster, scratch: scratch)
            let password = cluster.replicationPassword
            let daemon = try await Self.startStreaming(fixture)
            defer { daemon.send(SIGKILL) }
            let backup = try await PGBackupBinary.run(["backup"], environment: fixture.environment)
            #expect(backup.status == 0, "\(backup.standardError)")
            try await fixture.waitForArchive(of: try await fixture.switchSegment(), daemon: daemon)
            #expect(try await Self.check(fixture, password: password).healthy)

            // Several hosts, the first one dead: the one that answered is named.
            let dead = try await Self.unusedPort()
            let multiHost = "host=127.0.0.1,127.0.0.1 port=\(dead),\(cluster.port) user=\(cluster.replicationUser) password=\(password) dbname=postgres"
            let several = try await Self.check(fixture, extra: ["PGBACKUP_CONNINFO": multiHost], password: password)
            #expect(several.healthy, "\(several.output)")
            #expect(several.checks["primary"]?.detail.hasPrefix("127.0.0.1:\(cluster.port) is a primary") == true, "\(several.output)")

            // A standby listed first is passed over for the primary; a standby alone is no primary.
            let standby = try await cluster.makeStandby()
            func hosts(_ ports: [Int]) -> String {
                "host=\(ports.map { _ in "127.0.0.1" }.joined(separator: ",")) port=\(ports.map(String.init).joined(separator: ",")) user=\(cluster.replicationUser) password=\(password) dbname=postgres"
            }
            let past = try await Self.check(fixture, extra: ["PGBACKUP_CONNINFO": hosts([standby.port, cluster.port])], password: password)
            #expect(past.checks["primary"]?.detail.hasPrefix("127.0.0.1:\(cluster.port) is a primary") == true, "\(past.output)")
            let onlyStandby = try await Self.check(fixture, extra: ["PGBACKUP_CONNINFO": hosts([standby.port])], password: password)
            #expect(onlyStandby.checks["primary"]?.ok == false && onlyStandby.status == 1, "\(onlyStandby.output)")
            #expect(onlyStandby.checks["primary"]?.detail.contains("\(standby.port)") == true, "\(onlyStandby.output)")
            #expect(onlyStandby.checks["primary"]?.detail.contains("standby") == true, "\(onlyStandby.output)")
            await standby.destroy()

            // A failed verification record: `verification` unhealthy; a newer passing one: healthy again.
            let log = VerificationLog(repository: try fixture.repository.mainServer)
            try await log.store(VerificationRecord(
                startedAt: Date(), backupID: nil, target: "latest", restoreSeconds: 1, recoverySeconds: nil, bytes: nil,
                checks: [.init(name: "check-sql", ok: false, detail: "the check SQL returned false")]))
            let failedVerification = try await Self.check(fixture, password: password)
            #expect(Self.unhealthy(failedVerification) == ["verification"], "\(failedVerification.output)")
            #expect(failedVerification.checks["verification"]?.detail.contains("the check SQL returned false") == true)
            try await log.store(VerificationRecord(
                startedAt: Date() + 1, backupID: nil, target: "latest", restoreSeconds: 1, recoverySeconds: 1, bytes: 1,
                checks: [.init(name: "restore", ok: true, detail: "")]))
            #expect(try await Self.check(fixture, password: password).healthy)

            // The daemon stopped while the server writes: `wal` unhealthy once the age passes wal_max_age.
            let policy = scratch.path + "/alerts.yaml"
            try "alerts:\n  wal_max_age: 2s\n".write(toFile: policy, atomically: true, encoding: .utf8)
            daemon.send(SIGTERM)
            _ = try await daemon.wait(timeout: .seconds(60))
            _ = try await cluster.sql("CREATE TABLE written AS SELECT generate_series(1, 20000) AS n")
            try await Task.sleep(for: .seconds(3))
            let behind = try await Self.check(fixture, extra: ["PGBACKUP_POLICY": policy], password: password)
            #expect(Self.unhealthy(behind) == ["wal"], "\(behind.output)")
            #expect(behind.checks["wal"]?.detail.contains("behind") == true && behind.checks["slot"]?.detail.contains("inactive") == true, "\(behind.output)")

            // The inactive slot holds that WAL: past a policy's slot_retained_max, `slot` unhealthy.
            let small = scratch.path + "/slot.yaml"
            try "alerts:\n  slot_retained_max: 64kB\n".write(toFile: small, atomically: true, encoding: .utf8)
            let retained = try await Self.check(fixture, extra: ["PGBACKUP_POLICY": small], password: password)
            #expect(Self.unhealthy(retained) == ["slot"], "\(retained.output)")
            #expect(retained.checks["slot"]?.detail.contains("nothing consumes the slot") == true, "\(retained.output)")

            // The slot dropped: `slot` unhealthy.
            _ = try await cluster.sql("SELECT pg_drop_replication_slot('pgbackup')")
            let dropped = try await Self.check(fixture, password: password)
            #expect(Self.unhealthy(dropped).contains("slot"), "\(dropped.output)")
            #expect(dropped.checks["slot"]?.detail.contains("does not exist") == true)

            // The primary stopped: `primary` unhealthy, a clear detail, no crash, no password.
            try await cluster.stop()
            // Gave up rather than hung: Self.check's 60 s timeout is the hang guard; the answer is
            // exit 1 with the primary's check failed and saying why.
            let down = try await Self.check(fixture, password: password)
            #expect(down.status == 1)
            #expect(down.checks["primary"]?.ok == false)
            #expect(down.checks["primary"]?.detail.contains("no primary reachable") == true, "\(down.output)")
            #expect(down.checks["repository"]?.ok == true && down.checks["backup_age"]?.ok == true, "\(down.output)")
            try await cluster.startServer()
        }
    }

    @Test func anotherClustersPrimaryIsNotThisRepositorysPrimary() async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        try await withPostgresCluster(DaemonFixture.options) { cluster in
            let fixture = try await DaemonFixture(.file, cluster: cluster, scratch: scratch)
            try await withPostgresCluster(DaemonFixture.options) { other in
                let outcome = try await Self.check(fixture, extra: ["PGBACKUP_CONNINFO": other.conninfo(replication: true)], password: other.replicationPassword)
                #expect(outcome.status == 1)
                #expect(outcome.checks["primary"]?.ok == false && outcome.checks["repository"]?.ok == false, "\(outcome.output)")
                #expect(outcome.checks["primary"]?.detail.contains("not the repository's") == true, "\(outcome.output)")
                #expect(outcome.checks["repository"]?.detail.contains("belongs to system identifier") == true, "\(outcome.output)")
            }
        }
    }

    @Test func aBadConfigurationExits2() async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let badPolicy = scratch.path + "/bad.yaml"
        try "alerts:\n  wal_max_age: soon\n".write(toFile: badPolicy, atomically: true, encoding: .utf8)
        for (environment, message) in [
            (["PGBACKUP_REPO": "file://" + scratch.path + "/repo", "PGBACKUP_POLICY": badPolicy], "alerts.wal_max_age"),
            (["PGBACKUP_REPO": "file://" + scratch.path + "/repo", "PGBACKUP_COMPRESSION": "brotli"], "PGBACKUP_COMPRESSION"),
            (["PGBACKUP_CONNINFO": "host=127.0.0.1"], "no repository configured"),
        ] {
            let result = try await PGBackupBinary.run(["check", "--json"], environment: environment.merging(["PGBACKUP_CONFIG": "/dev/null"]) { $1 })
            #expect(result.status == 2, "\(environment): \(result.standardOutput) \(result.standardError)")
            #expect(result.standardError.contains(message), "\(result.standardError)")
            #expect(result.standardOutput.isEmpty, "no report on a configuration error: \(result.standardOutput)")
        }
    }
}
