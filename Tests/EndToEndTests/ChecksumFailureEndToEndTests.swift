import Foundation
import Testing
import PGBackupFoundations
import PGBackupRepository
import PGBackupTestSupport

#if canImport(Glibc)
import Glibc
#endif

/// A cluster with data checksums (the harness's default) and one damaged page on disk:
/// `pgbackup backup` keeps a complete backup and says which file is damaged (exit 1), `list`,
/// `show` and `check` never present it as clean, and it restores: the other tables row by row,
/// the damaged file as the server read it.
///
/// Uses the default server binaries, so `PGBACKUP_TEST_PGBIN` runs it on each major.
@Suite("checksum failures during a backup, end to end")
struct ChecksumFailureEndToEndTests {
    static let options = PostgresCluster.Options(name: "checksums", settings: ["autovacuum": "off"], walSegmentSizeMB: 1)

    /// The rows of the intact tables: `(id, payload)` as psql prints them.
    static func expectedRows(_ table: String, count: Int) -> [[String]] {
        (1...count).map { ["\($0)", "\(table)-\($0)"] }
    }

    /// `pgbackup <arguments> --json`'s standard output as a JSON value.
    static func json(_ arguments: [String], _ fixture: DaemonFixture) async throws -> (status: Int32, value: Any, stderr: String) {
        let result = try await PGBackupBinary.run(arguments + ["--json"], environment: fixture.environment)
        let value = try JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8))
        return (result.status, value, result.standardError)
    }

    @Test(arguments: RepositoryKind.tested)
    func aDamagedPageKeepsTheBackupNamesTheFileAndTheRestoreHoldsEveryOtherRow(kind: RepositoryKind) async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        try await withPostgresCluster(Self.options) { cluster in
            try #require(try await cluster.sql("SHOW data_checksums") == "on")
            let fixture = try await DaemonFixture(kind, cluster: cluster, scratch: scratch)
            try await cluster.sql(
                "CREATE TABLE intact_a (id int PRIMARY KEY, payload text)",
                "INSERT INTO intact_a SELECT g, 'intact_a-' || g FROM generate_series(1, 3000) g",
                "CREATE TABLE intact_b (id int PRIMARY KEY, payload text)",
                "INSERT INTO intact_b SELECT g, 'intact_b-' || g FROM generate_series(1, 500) g",
                "CREATE TABLE damaged (id int, payload text)",
                "INSERT INTO damaged SELECT g, repeat('d', 300) FROM generate_series(1, 1000) g")
            let damagedPath = try await cluster.damagePages(of: "damaged", blocks: [2, 5])
            let damagedFile = cluster.dataDirectory + "/" + damagedPath
            let damagedContent = try #require(FileManager.default.contents(atPath: damagedFile))

            // The backup is stored, its id printed, the file named; exit 1.
            let backup = try await PGBackupBinary.run(["backup"], environment: fixture.environment)
            #expect(backup.status == 1, "\(backup.standardError)")
            let id = backup.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
            #expect((try? BackupID(parsing: id)) != nil, "no backup id printed: '\(backup.standardOutput)' \(backup.standardError)")
            #expect(backup.standardError.contains("backup \(id) is stored, but the server found pages whose checksum failed: "
                + "2 pages in 1 file: \(damagedPath) (2 pages: blocks 2, 5)"), "\(backup.standardError)")
            #expect(backup.standardError.contains("the backup is kept"), "\(backup.standardError)")
            #expect(backup.standardError.contains("HINT: run pg_amcheck"), "\(backup.standardError)")
            #expect(!backup.standardError.contains("XX001") && !backup.standardError.contains("Fatal error"), "\(backup.standardError)")

            // list and show: never clean.
            let listed = try await Self.json(["list"], fixture)
            #expect(listed.status == 0, "\(listed.stderr)")
            let entries = try #require(listed.value as? [[String: Any]])
            #expect(entries.count == 1)
            #expect(entries.first?["id"] as? String == id)
            #expect(entries.first?["status"] as? String == "checksum-failures")
            let listedFailures = try #require(entries.first?["checksumFailures"] as? [String: Any], "\(entries)")
            #expect(listedFailures["total"] as? Int == 2)
            let listedFiles = try #require(listedFailures["files"] as? [[String: Any]])
            #expect(listedFiles.count == 1)
            #expect(listedFiles.first?["path"] as? String == damagedPath)
            #expect(listedFiles.first?["pages"] as? Int == 2)
            #expect(listedFiles.first?["blocks"] as? [Int] == [2, 5])
            let text = try await PGBackupBinary.run(["list"], environment: fixture.environment)
            #expect(text.standardOutput.contains("checksum-failures"), "\(text.standardOutput)")
            #expect(text.standardOutput.contains("backup \(id) has checksum failures: 2 pages in 1 file: \(damagedPath)"), "\(text.standardOutput)")

            let shown = try await Self.json(["show", id], fixture)
            #expect(shown.status == 0, "\(shown.stderr)")
            let manifest = try #require(shown.value as? [String: Any])
            // (The major the harness ran: PGBACKUP_TEST_PGBIN picks it.)
            #expect((manifest["postgresVersionNumber"] as? Int).map { $0 / 10000 } == cluster.major)
            let shownFailures = try #require(manifest["checksumFailures"] as? [String: Any])
            #expect(shownFailures["total"] as? Int == 2)
            #expect((shownFailures["files"] as? [[String: Any]])?.first?["path"] as? String == damagedPath)
            let shownText = try await PGBackupBinary.run(["show", id], environment: fixture.environment)
            #expect(shownText.standardOutput.contains("checksum-failures") && shownText.standardOutput.contains(damagedPath), "\(shownText.standardOutput)")

            // check: unhealthy, the newest backup's failures named.
            let checked = try await Self.json(["check"], fixture)
            #expect(checked.status == 1)
            let report = try #require(checked.value as? [String: Any])
            #expect(report["healthy"] as? Bool == false)
            let checks = try #require(report["checks"] as? [[String: Any]])
            let checksums = try #require(checks.first { $0["name"] as? String == "backup_checksums" }, "\(checks)")
            #expect(checksums["ok"] as? Bool == false)
            let detail = checksums["detail"] as? String ?? ""
            #expect(detail.contains("newest backup \(id) has checksum failures: 2 pages in 1 file: \(damagedPath) (2 pages"), "\(detail)")

            // The backup restores: every other row intact, the damaged file there as the server read it.
            try fixture.repository.letTheServerUse(cluster.serverUser)
            let directory = scratch.path + "/restored"
            let restored = try await PGBackupBinary.run(
                ["restore", "--pgdata", directory, "--target-immediate", "--backup-id", id], environment: fixture.environment)
            try #require(restored.status == 0, "restore: \(restored.standardError)")
            #expect(restored.standardError.contains("warning: backup \(id) has checksum failures: 2 pages in 1 file: \(damagedPath)"),
                    "\(restored.standardError)")
            #expect(FileManager.default.contents(atPath: directory + "/" + damagedPath) == damagedContent)
            let server = try await PostgresCluster.start(
                existingDataDirectory: directory, ownedTrees: [directory + ".pgbackup.yaml"], .init(name: "restored-checksums"))
            do {
                try await server.waitUntil("recovery ends", timeout: .seconds(120)) {
                    try await server.sql("SELECT pg_is_in_recovery()") == "f"
                }
                #expect(try await server.rows("SELECT id, payload FROM intact_a ORDER BY id") == Self.expectedRows("intact_a", count: 3000))
                #expect(try await server.rows("SELECT id, payload FROM intact_b ORDER BY id") == Self.expectedRows("intact_b", count: 500))
                #expect(try await server.sql("SELECT pg_relation_filepath('damaged')") == damagedPath)
                await server.destroy()
            } catch {
                let log = server.logTail(lines: 30)
                await server.destroy()
                throw FixtureError("\(error)\nrestored server's log:\n\(log)")
            }
        }
    }

    /// The daemon's scheduled backups of the damaged cluster: each is kept, and each is a failed
    /// job (an error in the log naming the file, `pgbackup_errors_total{operation="backup"}`);
    /// no retention runs after them, so none removes another backup; `/health` fails
    /// `backup_checksums` and `/metrics` has the newest backup's count.
    @Test func scheduledBackupsOfDamagedPagesAreKeptCountedAndLoggedAsErrors() async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        try await withPostgresCluster(Self.options) { cluster in
            let fixture = try await DaemonFixture(.file, cluster: cluster, scratch: scratch)
            try await cluster.sql(
                "CREATE TABLE damaged (id int, payload text)",
                "INSERT INTO damaged SELECT g, repeat('d', 300) FROM generate_series(1, 1000) g")
            let damagedPath = try await cluster.damagePages(of: "damaged", blocks: [3])
            try fixture.repository.letTheServerUse(cluster.serverUser)
            try FileManager.default.createDirectory(atPath: scratch.path + "/spool", withIntermediateDirectories: true)
            try cluster.serverUser.takeOwnership(ofTree: scratch.path + "/spool")
            let policy = scratch.path + "/policy.yaml"
            try DaemonScheduleEndToEndTests.write("schedule:\n  backup: every 3s\nretention:\n  redundancy: 1\n", to: policy)
            let port = try await CheckEndToEndTests.unusedPort()
            let daemon = try DaemonScheduleEndToEndTests.startDaemon(fixture, policy: policy, ["--check-interval", "1"], httpPort: port)
            defer { daemon.send(SIGKILL) }

            let log = try await DaemonScheduleEndToEndTests.waitForLog(daemon, "two scheduled backups that failed", timeout: .seconds(120)) { log in
                log.events("job_end", job: "backup", outcome: "failure").count >= 2
            }
            let failed = log.events("job_end", job: "backup", outcome: "failure")
            for end in failed {
                #expect(end["level"] == "error", "\(end)")
                #expect(end["error"]?.contains("the server found pages whose checksum failed: 1 page in 1 file: \(damagedPath) (1 page: block 3)") == true, "\(end)")
            }
            #expect(log.events("job_end", job: "backup", outcome: "success").isEmpty)
            #expect(log.events("job_start", job: "retention").isEmpty, "no retention after a backup with checksum failures")

            // Every one of them kept, none clean.
            let listed = try await DaemonScheduleEndToEndTests.listed(fixture)
            #expect(listed.count >= failed.count, "\(listed)")
            #expect(listed.allSatisfy { $0.status == "checksum-failures" }, "\(listed)")

            // /health names the newest backup's failures; /metrics counts them.
            /// The `backup_checksums` check of a /health answer.
            func checksumsCheck(_ body: String) -> [String: Any]? {
                let report = try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any]
                return (report?["checks"] as? [[String: Any]])?.first { $0["name"] as? String == "backup_checksums" }
            }
            let health = try await DaemonHTTPEndToEndTests.waitFor(port, "/health", "backup_checksums fails", daemon: daemon) { answer in
                answer.status == 503 && checksumsCheck(answer.body)?["ok"] as? Bool == false
            }
            let detail = checksumsCheck(health.body)?["detail"] as? String ?? ""
            #expect(detail.contains("has checksum failures: 1 page in 1 file: \(damagedPath) (1 page: block 3)"), "\(health.body)")
            let metrics = try await DaemonHTTPEndToEndTests.scrape(port)
            #expect(DaemonHTTPEndToEndTests.value(metrics, "pgbackup_backup_last_checksum_failures") == 1)
            let errors = metrics.values.flatMap(\.samples).first { $0.name == "pgbackup_errors_total" && $0.labels["operation"] == "backup" }
            #expect((errors?.value ?? 0) >= 2, "\(String(describing: errors))")
        }
    }
}
