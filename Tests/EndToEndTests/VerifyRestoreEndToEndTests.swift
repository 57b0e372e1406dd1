import Foundation
import Testing
import PGBackupFoundations
import PGBackupRepository
import PGBackupTestSupport

#if canImport(Glibc)
import Glibc
#endif

/// `pgbackup verify-restore` against real PostgreSQL 15 (the tests run as root, hence
/// `--run-as postgres`): it restores into a throwaway instance, starts it, runs the checks,
/// stores a verification record whatever happened, and never leaves a server or a directory behind.
@Suite("pgbackup verify-restore, end to end")
struct VerifyRestoreEndToEndTests {
    static let rows = 50

    /// What `--json` prints: the record's fields plus where the instance was.
    struct Printed: Decodable {
        var ok: Bool
        var backupID: BackupID?
        var checks: [VerificationRecord.Check]
        var directory: String
        var kept: Bool
        var restoreSeconds: Double?
        var recoverySeconds: Double?
    }

    /// A repository holding one backup of a table of `rows` rows, readable by the server's user.
    static func fixture(_ kind: RepositoryKind, cluster: PostgresCluster, scratch: ScratchDirectory) async throws -> (DaemonFixture, BackupSummary) {
        let fixture = try await DaemonFixture(kind, cluster: cluster, scratch: scratch)
        try await cluster.sql("CREATE TABLE t (id int PRIMARY KEY)", "INSERT INTO t SELECT generate_series(1, \(rows))")
        let backup = try await backupSummary(fixture)
        try fixture.repository.letTheServerUse(cluster.serverUser)
        return (fixture, backup)
    }

    static func sqlFile(_ scratch: ScratchDirectory, _ name: String, _ text: String) throws -> String {
        let path = scratch.path + "/" + name
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// Runs verify-restore with `arguments` (plus `--run-as postgres --json`), and checks that
    /// nothing is left: no directory (unless kept) and no process started on it.
    static func verify(_ fixture: DaemonFixture, _ arguments: [String], environment: [String: String]? = nil) async throws -> (ProcessResult, Printed?) {
        let result = try await PGBackupBinary.run(
            ["verify-restore", "--run-as", "postgres", "--json", "--jobs", "2"] + arguments, environment: environment ?? fixture.environment,
            timeout: .seconds(300))
        guard let printed = try? decode(Printed.self, result.standardOutput) else { return (result, nil) }
        #expect(printed.directory.hasPrefix("/"), "\(printed.directory)")
        let left = try await runProcess("/usr/bin/pgrep", ["-f", printed.directory + "/"])
        #expect(left.status == 1, "processes of \(printed.directory) left running: \(left.standardOutput)")
        #expect(FileManager.default.fileExists(atPath: printed.directory) == printed.kept, "\(printed.directory)")
        return (result, printed)
    }

    static func lastRecord(_ fixture: DaemonFixture) async throws -> VerificationRecord {
        try #require(try await VerificationLog(repository: try fixture.repository.mainServer).records().last)
    }

    @Test(arguments: RepositoryKind.tested)
    func aHealthyBackupVerifiesAndFailingChecksAndDamageFailWithTheReasonStored(kind: RepositoryKind) async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        try await withPostgresCluster(RestoreEndToEndTests.options) { cluster in
            let (fixture, backup) = try await Self.fixture(kind, cluster: cluster, scratch: scratch)

            // Healthy: the check SQL is true, pg_amcheck finds nothing; the record is stored and listed.
            // The server binaries of 16 the tests run (a Python wheel) carry no contrib modules:
            // there `--amcheck` must fail naming the missing extension, and the healthy run goes
            // without it.
            let amcheckAvailable = try await cluster.sql("SELECT count(*) FROM pg_available_extensions WHERE name = 'amcheck'")
                .trimmingCharacters(in: .whitespacesAndNewlines) == "1"
            let good = try Self.sqlFile(scratch, "good.sql", "SELECT count(*) = \(Self.rows) FROM t;\nSELECT true, 'second row';\n")
            if !amcheckAvailable {
                let (noAmcheck, noAmcheckPrinted) = try await Self.verify(fixture, ["--check-sql", good, "--amcheck"])
                #expect(noAmcheck.status == 1 && noAmcheckPrinted?.ok == false, "\(noAmcheck.standardError)")
                #expect(noAmcheckPrinted?.checks.contains { $0.name == "amcheck" && !$0.ok && $0.detail.contains("extension \"amcheck\" is not available") } == true,
                        "\(String(describing: noAmcheckPrinted?.checks))")
            }
            let (healthy, printed) = try await Self.verify(fixture, ["--check-sql", good] + (amcheckAvailable ? ["--amcheck"] : []))
            #expect(healthy.status == 0, "\(healthy.standardOutput)\n\(healthy.standardError)")
            let record = try #require(printed)
            #expect(record.ok && record.backupID == backup.id)
            let checks = amcheckAvailable ? ["restore", "start", "amcheck", "check_sql"] : ["restore", "start", "check_sql"]
            #expect(record.checks.map(\.name) == checks, "\(record.checks)")
            #expect((record.restoreSeconds ?? -1) > 0 && (record.recoverySeconds ?? -1) > 0)
            let stored = try await Self.lastRecord(fixture)
            #expect(stored.ok && stored.backupID == backup.id && stored.checks.count == checks.count)
            let listed = try await PGBackupBinary.run(["list"], environment: fixture.environment)
            #expect(listed.standardOutput.contains("VERIFIED") && listed.standardOutput.contains("ok \(String(describing: stored.startedAt).prefix(10))"), "\(listed.standardOutput)")
            let listedJSON = try await PGBackupBinary.run(["list", "--json"], environment: fixture.environment)
            #expect(listedJSON.standardOutput.contains("\"lastVerification\""), "\(listedJSON.standardOutput)")
            #expect(!listedJSON.standardOutput.contains("\"lastVerification\" : null"), "\(listedJSON.standardOutput)")

            // A check that returns false, and one that does not parse: exit 1, the reason stored.
            let falseSQL = try Self.sqlFile(scratch, "false.sql", "SELECT count(*) = \(Self.rows + 1) FROM t;\n")
            let (wrong, _) = try await Self.verify(fixture, ["--check-sql", falseSQL])
            #expect(wrong.status == 1, "\(wrong.standardError)")
            let wrongRecord = try await Self.lastRecord(fixture)
            #expect(!wrongRecord.ok && wrongRecord.checks.contains { $0.name == "check_sql" && !$0.ok && $0.detail.contains("returned false") }, "\(wrongRecord)")
            let broken = try Self.sqlFile(scratch, "broken.sql", "SELEC count(*) FROM t;\n")
            let (syntax, _) = try await Self.verify(fixture, ["--check-sql", broken])
            #expect(syntax.status == 1, "\(syntax.standardError)")
            let syntaxRecord = try await Self.lastRecord(fixture)
            #expect(!syntaxRecord.ok && syntaxRecord.checks.contains { $0.name == "check_sql" && $0.detail.contains("syntax error") }, "\(syntaxRecord)")

            // A damaged chunk: the restore fails, a failed record names the backup, nothing is left.
            let victim = try #require(try await fixture.repository.keys(under: "main/chunks/").first { $0.hasSuffix(".zst") })
            try await fixture.repository.damage(victim)
            let (damaged, damagedPrinted) = try await Self.verify(fixture, [])
            #expect(damaged.status == 1, "\(damaged.standardError)")
            #expect(damagedPrinted?.ok == false)
            let damagedRecord = try await Self.lastRecord(fixture)
            #expect(!damagedRecord.ok && damagedRecord.backupID == backup.id)
            #expect(damagedRecord.checks.first { $0.name == "restore" }?.ok == false, "\(damagedRecord)")
            let listedAfter = try await PGBackupBinary.run(["show", backup.id.description], environment: fixture.environment)
            #expect(listedAfter.standardOutput.contains("failed "), "\(listedAfter.standardOutput)")
        }
    }

    @Test
    func badInputIsRefusedAndKeepLeavesTheStoppedInstance() async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        try await withPostgresCluster(RestoreEndToEndTests.options) { cluster in
            let (fixture, backup) = try await Self.fixture(.file, cluster: cluster, scratch: scratch)
            let before = try await VerificationLog(repository: try fixture.repository.mainServer).records().count

            // As root without --run-as: refused before anything happens.
            let asRoot = try await PGBackupBinary.run(["verify-restore"], environment: fixture.environment)
            #expect(asRoot.status == 2 && asRoot.standardError.contains("--run-as"), "\(asRoot.standardError)")
            // A missing check SQL file: a usage error, nothing restored.
            let missing = try await PGBackupBinary.run(
                ["verify-restore", "--run-as", "postgres", "--check-sql", scratch.path + "/nope.sql"], environment: fixture.environment)
            #expect(missing.status == 2 && missing.standardError.contains("nope.sql"), "\(missing.standardError)")
            // No server binaries of the backup's major version.
            let empty = scratch.path + "/no-binaries"
            try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
            var noBinaries = fixture.environment
            noBinaries["PGBACKUP_POSTGRES_BINDIR"] = empty
            let unbuildable = try await PGBackupBinary.run(["verify-restore", "--run-as", "postgres"], environment: noBinaries)
            #expect(unbuildable.status == 1, "\(unbuildable.standardError)")
            #expect(unbuildable.standardError.contains("unable to find the PostgreSQL \(cluster.major) server binaries") && unbuildable.standardError.contains(empty), "\(unbuildable.standardError)")
            #expect(try await VerificationLog(repository: try fixture.repository.mainServer).records().count == before)

            // Another major's binaries: refused naming the setting and both majors, nothing recorded.
            let otherMajor = try #require(await PostgresBinaries.everyMajor().first { $0.major != cluster.major })
            var wrongMajor = fixture.environment
            wrongMajor["PGBACKUP_POSTGRES_BINDIR"] = otherMajor.directory
            let wrong = try await PGBackupBinary.run(["verify-restore", "--run-as", "postgres"], environment: wrongMajor)
            #expect(wrong.status == 1, "\(wrong.standardError)")
            #expect(wrong.standardError.contains("holds PostgreSQL \(otherMajor.major)'s server binaries, and this needs PostgreSQL \(cluster.major)'s")
                && wrong.standardError.contains("postgres_bindir"), "\(wrong.standardError)")
            #expect(try await VerificationLog(repository: try fixture.repository.mainServer).records().count == before)

            // Server binaries of the right major that do not start: a failed `start` check,
            // recorded; nothing left.
            let fake = scratch.path + "/fake-binaries"
            try FileManager.default.createDirectory(atPath: fake, withIntermediateDirectories: true)
            let failing = "#!/bin/sh\n[ \"$1\" = --version ] && { echo 'postgres (PostgreSQL) \(cluster.major).0'; exit 0; }\n"
                + "echo 'simulated start failure' >&2\nexit 1\n"
            for tool in ["pg_ctl", "postgres"] {
                _ = FileManager.default.createFile(atPath: fake + "/" + tool, contents: Data(failing.utf8), attributes: [.posixPermissions: 0o755])
            }
            var failingStart = fixture.environment
            failingStart["PGBACKUP_POSTGRES_BINDIR"] = fake
            let (noStart, noStartPrinted) = try await Self.verify(fixture, [], environment: failingStart)
            #expect(noStart.status == 1 && noStartPrinted?.ok == false, "\(noStart.standardError)")
            let noStartRecord = try await Self.lastRecord(fixture)
            #expect(noStartRecord.backupID == backup.id && noStartRecord.checks.map(\.name) == ["restore", "start"], "\(noStartRecord)")
            #expect(noStartRecord.checks.last.map { !$0.ok && $0.detail.contains("simulated start failure") } == true, "\(noStartRecord)")

            // An unknown backup id: a failed restore, recorded; nothing left.
            let (unknown, unknownPrinted) = try await Self.verify(fixture, ["--backup-id", "20200101T000000Z"])
            #expect(unknown.status == 1 && unknownPrinted?.ok == false, "\(unknown.standardError)")
            #expect(try await Self.lastRecord(fixture).checks.first?.detail.contains("20200101T000000Z") == true)

            // --keep: the stopped instance stays, with the command that starts it.
            let (kept, keptPrinted) = try await Self.verify(fixture, ["--keep", "--backup-id", backup.id.description])
            #expect(kept.status == 0, "\(kept.standardError)")
            let directory = try #require(keptPrinted?.directory)
            defer { try? FileManager.default.removeItem(atPath: directory) }
            #expect(FileManager.default.fileExists(atPath: directory + "/data/PG_VERSION"))
            #expect(!FileManager.default.fileExists(atPath: directory + "/data/postmaster.pid"))
            #expect(kept.standardOutput.contains("pg_ctl") && kept.standardOutput.contains(directory + "/data"), "\(kept.standardOutput)")
        }
    }

    @Test
    func sigtermStopsTheInstanceAndRemovesItsDirectory() async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        try await withPostgresCluster(RestoreEndToEndTests.options) { cluster in
            let (fixture, _) = try await Self.fixture(.file, cluster: cluster, scratch: scratch)
            let temporary = scratch.path + "/tmp"
            try FileManager.default.createDirectory(atPath: temporary, withIntermediateDirectories: true)
            // If the signal misses the start, it lands while the check SQL sleeps: the server runs either way.
            let slow = try Self.sqlFile(scratch, "slow.sql", "SELECT pg_sleep(30) IS NULL;\n")
            var environment = fixture.environment
            environment["TMPDIR"] = temporary
            environment["PATH"] = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
            environment["PGBACKUP_CONFIG"] = "/dev/null"
            let process = try BackgroundProcess(PGBackupBinary.path, ["verify-restore", "--run-as", "postgres", "--check-sql", slow], environment: environment)
            var directory: String?
            let deadline = ContinuousClock.now + .seconds(60)
            while directory == nil && ContinuousClock.now < deadline && process.isRunning {
                directory = (try? FileManager.default.contentsOfDirectory(atPath: temporary))?
                    .filter { $0.hasPrefix("pgbackup-verify-") }
                    .map { temporary + "/" + $0 }
                    .first { FileManager.default.fileExists(atPath: $0 + "/data/postmaster.pid") }
                try await Task.sleep(for: .milliseconds(20))
            }
            let started = try #require(directory, "no server started: \(process.standardError)")
            process.send(SIGTERM)
            let result = try await process.wait(timeout: .seconds(120))
            #expect(result.status == 1, "\(result.standardError)")
            #expect(result.standardError.contains("interrupted"), "\(result.standardError)")
            #expect(!FileManager.default.fileExists(atPath: started))
            let left = try await runProcess("/usr/bin/pgrep", ["-f", started + "/"])
            #expect(left.status == 1, "processes of \(started) left running: \(left.standardOutput)")
        }
    }
}
