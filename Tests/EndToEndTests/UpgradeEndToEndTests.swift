import Foundation
import Testing
import PGBackupFoundations
import PGBackupRepository
import PGBackupServices
import PGBackupStorage
import PGBackupTestSupport

#if canImport(Glibc)
import Glibc
#endif

/// A major upgrade of the backed-up cluster (issue 21): real `pg_upgrade` from 16 to 18, then
/// `pgbackup init --upgrade`. The upgraded cluster's WAL names continue on timeline 1 and can
/// collide with the old cluster's, so each history keeps its own root; the old backups stay
/// listed and restorable with 16's binaries, and retention counts backups across both.
@Suite("pgbackup init --upgrade after pg_upgrade, end to end", .serialized)
struct UpgradeEndToEndTests {
    static let options = PostgresCluster.Options(
        name: "pg16", settings: ["wal_keep_size": "'256MB'"], walSegmentSizeMB: 1, major: 16)

    @Test(arguments: RepositoryKind.tested)
    func anUpgradedClusterGetsItsOwnHistoryAndTheOldBackupsStayRestorable(kind: RepositoryKind) async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        try await withPostgresCluster(Self.options) { old in
            // 1. PostgreSQL 16: a repository, a backup, archived WAL after it.
            let fixture = try await DaemonFixture(kind, cluster: old, scratch: scratch)
            try await old.sql("CREATE TABLE rows (batch int, id int)")
            try await Self.insertBatch(1, on: old)
            let daemon = try fixture.startDaemon()
            defer { daemon.send(SIGKILL) }
            let oldBackup = try await backupSummary(fixture)
            // A moment between batch 1 and batch 2, for a time target inside the old history.
            try await Task.sleep(for: .milliseconds(1100))
            let beforeBatch2 = Date()
            try await Task.sleep(for: .milliseconds(1100))
            try await Self.insertBatch(2, on: old)
            try await fixture.waitForArchive(of: try await fixture.switchSegment(), daemon: daemon)
            daemon.send(SIGTERM)
            _ = try await daemon.wait()
            let oldSystem = try await old.sql("SELECT system_identifier FROM pg_control_system()").trimmingCharacters(in: .whitespacesAndNewlines)
            try await old.stop()

            // 2. pg_upgrade to 18 (both clusters stopped), then start 18 with the old settings.
            let newData = try await Self.upgrade(old, into: scratch.path + "/pg18")
            let new = try await PostgresCluster.start(
                existingDataDirectory: newData, .init(name: "pg18", replicationPassword: old.replicationPassword))
            do {
                try await Self.afterUpgrade(
                    old: old, new: new, fixture: fixture, scratch: scratch, oldBackup: oldBackup, oldSystem: oldSystem, beforeBatch2: beforeBatch2)
            } catch {
                await new.destroy()
                throw error
            }
            await new.destroy()
        }
    }

    /// Steps 3 to 7, against the started 18 cluster `new`.
    static func afterUpgrade(
        old: PostgresCluster, new: PostgresCluster, fixture: DaemonFixture, scratch: ScratchDirectory, oldBackup: BackupSummary,
        oldSystem: String, beforeBatch2: Date
    ) async throws {
        #expect(new.major == 18)
        let newSystem = try await new.sql("SELECT system_identifier FROM pg_control_system()").trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(newSystem != oldSystem)
        var environment = fixture.environment
        environment["PGBACKUP_CONNINFO"] = new.conninfo(replication: true)

        // 3. The repository refuses the upgraded cluster and says what to run.
        let check = try await PGBackupBinary.run(["check"], environment: environment)
        #expect(check.status == 1)
        #expect(check.standardOutput.contains("PostgreSQL 18"), "\(check.standardOutput)")
        #expect(check.standardOutput.contains("system \(oldSystem) on PostgreSQL 16"), "\(check.standardOutput)")
        #expect(check.standardOutput.contains("pgbackup init --upgrade"), "\(check.standardOutput)")
        let plainInit = try await PGBackupBinary.run(["init"], environment: environment)
        #expect(plainInit.status == 1)
        #expect(plainInit.standardError.contains("pgbackup init --upgrade"), "\(plainInit.standardError)")
        let refusedBackup = try await PGBackupBinary.run(["backup"], environment: environment)
        #expect(refusedBackup.status == 1)
        #expect(refusedBackup.standardError.contains("pgbackup init --upgrade"), "\(refusedBackup.standardError)")

        // The daemon says the same, and does not stream the upgraded cluster into the old history.
        var daemonEnvironment = environment
        daemonEnvironment["PATH"] = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        daemonEnvironment["PGBACKUP_CONFIG"] = "/dev/null"
        let daemon = try BackgroundProcess(PGBackupBinary.path, ["daemon"], environment: daemonEnvironment)
        let deadline = ContinuousClock.now + .seconds(60)
        while daemon.isRunning, !daemon.standardError.contains("init --upgrade"), ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(200))
        }
        daemon.send(SIGKILL)
        _ = try await daemon.wait()
        #expect(daemon.standardError.contains("is database system \(newSystem) on PostgreSQL 18"), "\(daemon.standardError.suffix(2000))")
        #expect(daemon.standardError.contains("run `pgbackup init --upgrade`"), "\(daemon.standardError.suffix(2000))")

        // 4. init --upgrade begins the new history; once only.
        let upgraded = try await PGBackupBinary.run(["init", "--upgrade", "--json"], environment: environment)
        try #require(upgraded.status == 0, "init --upgrade: \(upgraded.standardError)")
        let record = try JSONSerialization.jsonObject(with: upgraded.standardOutputData) as! [String: Any]
        let upgrade = try #require(record["upgrade"] as? [String: Any])
        #expect(upgrade["root"] as? String == "main@\(newSystem)")
        #expect(upgrade["previousSystemIdentifier"] as? String == oldSystem)
        let again = try await PGBackupBinary.run(["init", "--upgrade"], environment: environment)
        #expect(again.status == 1)
        #expect(again.standardError.contains("nothing to upgrade"), "\(again.standardError)")
        let confirmed = try await PGBackupBinary.run(["init"], environment: environment)
        #expect(confirmed.status == 0, "\(confirmed.standardError)")
        #expect(confirmed.standardOutput.contains("already initialized"))

        // A spool the old cluster's daemon left a tail in (killed, not stopped): the old cluster's
        // newest WAL file, under a name the upgraded cluster reuses. The upgraded cluster's daemon
        // sets it aside (never stored into the new history, never deleted), then streams.
        let spool = scratch.path + "/spool/main"
        let oldPgWAL = try FileManager.default.contentsOfDirectory(atPath: old.dataDirectory + "/pg_wal").filter { $0.count == 24 }.sorted()
        let lastOld = try #require(oldPgWAL.last)
        let leftTail = lastOld + ".partial"
        try FileManager.default.createDirectory(atPath: spool, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: old.dataDirectory + "/pg_wal/" + lastOld, toPath: spool + "/" + leftTail)
        let newDaemon = try BackgroundProcess(
            PGBackupBinary.path, ["daemon", "--status-interval", "1", "--partial-interval", "1"], environment: daemonEnvironment)
        defer { newDaemon.send(SIGKILL) }
        let streaming = ContinuousClock.now + .seconds(90)
        while newDaemon.isRunning, !newDaemon.standardError.contains("streaming WAL"), ContinuousClock.now < streaming {
            try await Task.sleep(for: .milliseconds(200))
        }
        #expect(newDaemon.standardError.contains("the spool held WAL of database system \(oldSystem)"), "\(newDaemon.standardError.suffix(3000))")
        #expect(newDaemon.standardError.contains("streaming WAL"), "\(newDaemon.standardError.suffix(3000))")
        #expect(FileManager.default.contentsEqual(
            atPath: spool + "/foreign-\(oldSystem)/" + leftTail, andPath: old.dataDirectory + "/pg_wal/" + lastOld))
        newDaemon.send(SIGTERM)
        let stopped = try await newDaemon.wait(timeout: .seconds(60))
        #expect(stopped.status == 0, "\(newDaemon.standardError.suffix(2000))")

        // 5. A backup of the upgraded cluster; both listed with their clusters and majors.
        try await insertBatch(3, on: new)
        let newBackup = try await backup(environment)
        #expect(newBackup.postgresMajor == 18)
        let listed = try await PGBackupBinary.run(["list", "--json"], environment: environment)
        try #require(listed.status == 0, "\(listed.standardError)")
        let entries = try JSONSerialization.jsonObject(with: listed.standardOutputData) as! [[String: Any]]
        #expect(entries.map { $0["id"] as? String } == [oldBackup.id.description, newBackup.id.description])
        #expect(entries.map { $0["postgresMajor"] as? Int } == [16, 18])
        #expect(entries.map { $0["systemIdentifier"] as? String } == [oldSystem, newSystem])
        let shown = try await PGBackupBinary.run(["show", oldBackup.id.description], environment: environment)
        #expect(shown.status == 0, "\(shown.standardError)")
        #expect(shown.standardOutput.contains("system \(oldSystem), PostgreSQL 16."), "\(shown.standardOutput)")
        let verified = try await PGBackupBinary.run(["verify"], environment: environment)
        #expect(verified.status == 0, "verify: \(verified.standardOutput) \(verified.standardError)")

        // The two histories' WAL never share a namespace.
        let store = try fixture.repository.store
        let oldWAL = try await segments(in: store, root: "main")
        let newWAL = try await segments(in: store, root: "main@\(newSystem)")
        #expect(!oldWAL.isEmpty)
        #expect(!newWAL.isEmpty)

        // 6. The old backup restores and starts with 16's binaries (from PG_VERSION); the new one with 18's.
        try fixture.repository.letTheServerUse(old.serverUser)
        let restoredOld = try await RestoreEndToEndTests.restoreAndCount(
            in: scratch, environment: environment, ["--backup-id", oldBackup.id.description], name: "old")
        #expect(restoredOld == [1: 100, 2: 100])
        let restoredNew = try await RestoreEndToEndTests.restoreAndCount(
            in: scratch, environment: environment, ["--backup-id", newBackup.id.description], name: "new")
        #expect(restoredNew == [1: 100, 2: 100, 3: 100])
        // A time inside the old history finds the old history by itself.
        let restoredAtTime = try await RestoreEndToEndTests.restoreAndCount(
            in: scratch, environment: environment, ["--target-time", RestoreTime.format(beforeBatch2)], name: "old-time")
        #expect(restoredAtTime == [1: 100])
        // verify-restore of the old backup, with 16's server binaries.
        var sixteen = environment
        sixteen["PGBACKUP_POSTGRES_BINDIR"] = old.binaries.directory
        let verifiedOld = try await PGBackupBinary.run(
            ["verify-restore", "--run-as", "postgres", "--json", "--backup-id", oldBackup.id.description], environment: sixteen,
            timeout: .seconds(300))
        #expect(verifiedOld.status == 0, "verify-restore: \(verifiedOld.standardOutput) \(verifiedOld.standardError)")

        // 7. Retention spans both: redundancy 1 removes the old backup and the old history's WAL.
        let policy = scratch.path + "/policy.yaml"
        try "retention:\n  redundancy: 1\n".write(toFile: policy, atomically: true, encoding: .utf8)
        var retained = environment
        retained["PGBACKUP_POLICY"] = policy
        let retention = try await PGBackupBinary.run(["retention", "--json"], environment: retained, timeout: .seconds(300))
        try #require(retention.status == 0, "retention: \(retention.standardError)")
        let report = try JSONSerialization.jsonObject(with: retention.standardOutputData) as! [String: Any]
        #expect((report["removed"] as? [[String: Any]])?.map { $0["id"] as? String } == [oldBackup.id.description])
        #expect((report["kept"] as? [[String: Any]])?.map { $0["id"] as? String } == [newBackup.id.description])
        #expect(try await segments(in: store, root: "main").isEmpty)
        #expect(try await segments(in: store, root: "main@\(newSystem)").isEmpty == false)
        let chunksLeft = try await store.list(prefix: "main/chunks/")
        #expect(chunksLeft.isEmpty)
        let afterList = try await PGBackupBinary.run(["list", "--json"], environment: environment)
        let remaining = try JSONSerialization.jsonObject(with: afterList.standardOutputData) as! [[String: Any]]
        #expect(remaining.map { $0["id"] as? String } == [newBackup.id.description])
    }

    static func insertBatch(_ number: Int, on cluster: PostgresCluster) async throws {
        try await cluster.sql("INSERT INTO rows SELECT \(number), g FROM generate_series(1, 100) g")
    }

    /// The completed WAL segment objects under `<root>/wal/`.
    static func segments(in store: any ObjectStore, root: String) async throws -> [String] {
        try await store.list(prefix: root + "/wal/").map(\.key).filter {
            let name = $0.split(separator: "/").last ?? ""
            return name.count > 24 && name.prefix(24).allSatisfy(\.isHexDigit) && !name.contains("partial") && !name.hasSuffix(".times")
        }
    }

    static func backup(_ environment: [String: String]) async throws -> BackupSummary {
        let result = try await PGBackupBinary.run(["backup", "--json"], environment: environment, timeout: .seconds(300))
        guard result.status == 0 else { throw FixtureError("backup failed: \(result.standardError)") }
        return try decode(BackupSummary.self, result.standardOutput)
    }

    /// initdb of an 18 cluster (the harness's options: checksums, 1 MiB segments, the same
    /// superuser) in `directory`, then 18's `pg_upgrade` from `old` (stopped), as the server's
    /// user, in a directory it owns; the old configuration files are carried over. Returns the new
    /// data directory.
    static func upgrade(_ old: PostgresCluster, into directory: String) async throws -> String {
        let user = old.serverUser
        let binaries = try await PostgresBinaries.locate(major: 18)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try user.takeOwnership(ofTree: directory)
        let data = directory + "/data"
        func run(_ tool: String, _ arguments: [String], _ step: String) async throws {
            let (executable, wrapped) = user.command(binaries.path(tool), arguments)
            let result = try await runProcess(executable, wrapped, currentDirectory: directory, timeout: .seconds(300))
            guard result.status == 0 else {
                let logs = (try? FileManager.default.subpathsOfDirectory(atPath: data + "/pg_upgrade_output.d")) ?? []
                throw FixtureError("\(step) failed (\(result.status)): \(result.standardOutput)\n\(result.standardError)\nlogs: \(logs)")
            }
        }
        try await run("initdb", [
            "-D", data, "-U", "postgres", "--auth-local=trust", "--auth-host=scram-sha-256", "--no-locale",
            "--encoding=UTF8", "--no-sync", "--no-instructions", "--data-checksums", "--wal-segsize=1",
        ], "initdb 18")
        let port = String(Int.random(in: 52000..<60000))
        try await run("pg_upgrade", [
            "-b", old.binaries.directory, "-B", binaries.directory, "-d", old.dataDirectory, "-D", data,
            "-U", "postgres", "-p", port, "-P", port, "--no-sync", "-s", directory,
        ], "pg_upgrade 16 → 18")
        for file in ["pg_hba.conf", "postgresql.conf"] {
            try? FileManager.default.removeItem(atPath: data + "/" + file)
            try FileManager.default.copyItem(atPath: old.dataDirectory + "/" + file, toPath: data + "/" + file)
        }
        try user.takeOwnership(ofTree: data)
        return data
    }
}
