import Foundation
import Testing
import PGBackupFoundations
import PGBackupRepository
import PGBackupTestSupport

#if canImport(Glibc)
import Glibc
#endif

/// `pgbackup restore` never destroys what it was not asked to: `--force` and `--delta` refuse
/// (a bad mapping, a bad manifest, a running server, another cluster's directory) before they
/// touch anything, nothing is written through a link of the backup, and one damaged
/// `backup.json` neither hides the other backups nor blocks a restore. file:// only: none of it
/// depends on the store.
@Suite("restore never destroys what it was not asked to, end to end", .serialized)
struct RestoreSafetyEndToEndTests {
    @Test func forceAndDeltaRefuseBeforeTouchingAnything() async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        try await withPostgresCluster(RestoreEndToEndTests.options) { cluster in
            let fixture = try await DaemonFixture(.file, cluster: cluster, scratch: scratch)
            let (oid, _) = try await cluster.makeQuietTablespace()
            let backup = try await backupSummary(fixture)
            func restore(_ arguments: [String]) async throws -> ProcessResult {
                try await PGBackupBinary.run(["restore"] + arguments, environment: fixture.environment)
            }

            // A directory the operator cares about.
            let target = scratch.path + "/target"
            try FileManager.default.createDirectory(atPath: target + "/sub", withIntermediateDirectories: true)
            try Data("keep".utf8).write(to: URL(fileURLWithPath: target + "/sub/precious"))
            func expectUntouched(_ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
                #expect(FileManager.default.contents(atPath: target + "/sub/precious") == Data("keep".utf8), "\(what)", sourceLocation: sourceLocation)
                #expect((try? FileManager.default.contentsOfDirectory(atPath: target)) == ["sub"], "\(what)", sourceLocation: sourceLocation)
            }

            // --force with a tablespace mapped inside the data directory: refused, nothing removed.
            let overlapping = try await restore(["--pgdata", target, "--force", "--tablespace-map", "\(oid)=\(target)/ts"])
            #expect(overlapping.status == 1 && overlapping.standardError.contains("overlaps the data directory"), "\(overlapping.standardError)")
            expectUntouched("--force with an overlapping tablespace directory")

            // --force of a backup whose manifest has an entry beneath one of its links (crafted
            // here: a link to a directory outside, and a file under it): refused, nothing removed,
            // nothing written outside.
            let outside = scratch.path + "/outside"
            try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
            let catalog = BackupCatalog(repository: try fixture.repository.mainServer)
            var crafted = try await catalog.manifest(backup.id)
            crafted.id = try await catalog.allocateID(at: Date().addingTimeInterval(2))
            crafted.files.append(.init(path: "evil", type: .symlink, mode: 0o777, mtime: Date(), size: 0, linkTarget: outside))
            crafted.files.append(.init(path: "evil/planted", type: .file, mode: 0o600, mtime: Date(), size: 0))
            try await catalog.commit(crafted)
            let beneath = try await restore([
                "--pgdata", target, "--force", "--backup-id", crafted.id.description, "--tablespace-map", "\(oid)=\(scratch.path)/ts-crafted",
            ])
            #expect(beneath.status == 1 && beneath.standardError.contains("beneath the symbolic link 'evil'"), "\(beneath.standardError)")
            expectUntouched("--force of a manifest with an entry beneath a link")
            #expect(try FileManager.default.contentsOfDirectory(atPath: outside).isEmpty)
            #expect(!FileManager.default.fileExists(atPath: scratch.path + "/ts-crafted"))
            try await fixture.repository.store.delete([catalog.layout.manifestKey(crafted.id)])

            // --force onto the data directory of the running server: refused, the server unharmed.
            let controlBefore = FileManager.default.contents(atPath: cluster.dataDirectory + "/global/pg_control")
            let namesBefore = try FileManager.default.contentsOfDirectory(atPath: cluster.dataDirectory).sorted()
            let live = try await restore(["--pgdata", cluster.dataDirectory, "--force"])
            #expect(live.status == 1 && live.standardError.contains("is running on it"), "\(live.standardError)")
            #expect(try FileManager.default.contentsOfDirectory(atPath: cluster.dataDirectory).sorted() == namesBefore)
            #expect(FileManager.default.contents(atPath: cluster.dataDirectory + "/global/pg_control") == controlBefore)
            #expect(try await cluster.sql("SELECT count(*) FROM quiet") == "50000")

            // --delta into the (stopped) data directory of another cluster: refused, untouched.
            try await withPostgresCluster(PostgresCluster.Options(name: "other")) { other in
                try await other.stop()
                let before = try tree(other.dataDirectory)
                let foreign = try await restore([
                    "--pgdata", other.dataDirectory, "--delta", "--tablespace-map", "\(oid)=\(scratch.path)/ts-other",
                ])
                #expect(foreign.status == 1 && foreign.standardError.contains("a data directory of another cluster"), "\(foreign.standardError)")
                #expect(try tree(other.dataDirectory) == before)
                #expect(!FileManager.default.fileExists(atPath: scratch.path + "/ts-other"))
            }
            // … nor into a directory that is no data directory at all.
            let notData = try await restore(["--pgdata", target, "--delta", "--tablespace-map", "\(oid)=\(scratch.path)/ts-new"])
            #expect(notData.status == 1 && notData.standardError.contains("it is not a data directory"), "\(notData.standardError)")
            expectUntouched("--delta into a directory without global/pg_control")
            #expect(!FileManager.default.fileExists(atPath: scratch.path + "/ts-new"))

            // What they are asked to do they still do: --force replaces, --delta updates that copy.
            let forced = try await restore(["--pgdata", target, "--force", "--tablespace-map", "\(oid)=\(scratch.path)/ts-new", "--json"])
            #expect(forced.status == 0, "\(forced.standardError)")
            #expect(!FileManager.default.fileExists(atPath: target + "/sub") && FileManager.default.fileExists(atPath: target + "/global/pg_control"))
            let delta = try await restore(["--pgdata", target, "--delta", "--tablespace-map", "\(oid)=\(scratch.path)/ts-new", "--json"])
            #expect(delta.status == 0, "\(delta.standardError)")
            #expect(!FileManager.default.fileExists(atPath: target + "/RESTORE_FAILED"))
            // … and into an absent directory, --delta is a plain restore.
            let absent = try await restore(["--pgdata", scratch.path + "/absent", "--delta", "--tablespace-map", "\(oid)=\(scratch.path)/ts-absent"])
            #expect(absent.status == 0, "\(absent.standardError)")
            #expect(FileManager.default.fileExists(atPath: scratch.path + "/absent/global/pg_control"))
        }
    }

    /// The recovery settings are written before `global/pg_control`, while `RESTORE_FAILED` is
    /// there: a restore whose settings cannot be written leaves a directory that says it is
    /// unfinished and that PostgreSQL cannot start — never one that looks complete but would
    /// start without its `restore_command`, target or signal file. Here the place of the
    /// settings file beside the data directory is taken by a directory, which no rename replaces.
    @Test func aRestoreWhoseRecoverySettingsCannotBeWrittenLeavesTheMarkerAndNoPgControl() async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        try await withPostgresCluster(RestoreEndToEndTests.options) { cluster in
            let fixture = try await DaemonFixture(.file, cluster: cluster, scratch: scratch)
            _ = try await backupSummary(fixture)
            func restore(_ arguments: [String]) async throws -> ProcessResult {
                try await PGBackupBinary.run(["restore", "--target-immediate"] + arguments, environment: fixture.environment)
            }
            let target = scratch.path + "/restored"
            let obstacle = target + ".pgbackup.yaml"
            try FileManager.default.createDirectory(atPath: obstacle + "/in-the-way", withIntermediateDirectories: true)

            let failed = try await restore(["--pgdata", target])
            let problem = "unable to rename into place '\(obstacle)': \(String(cString: strerror(EISDIR)))"
            #expect(failed.status == 1 && failed.standardError.contains(problem), "\(failed.standardError)")
            #expect(FileManager.default.fileExists(atPath: target + "/RESTORE_FAILED"), "the failed restore removed its marker")
            let marker = (try? String(contentsOfFile: target + "/RESTORE_FAILED", encoding: .utf8)) ?? ""
            #expect(marker.contains(problem) && marker.contains("no global/pg_control"), "\(marker)")
            #expect(!FileManager.default.fileExists(atPath: target + "/global/pg_control"))
            #expect(!FileManager.default.fileExists(atPath: target + "/recovery.signal"))
            #expect(try FileManager.default.contentsOfDirectory(atPath: obstacle) == ["in-the-way"])

            // As the marker says: a plain restore into what is left is refused, untouched; once
            // the cause is gone, --delta completes the directory with its settings.
            let again = try await restore(["--pgdata", target])
            #expect(again.status == 1 && again.standardError.contains("the target directory \(target) is not empty"), "\(again.standardError)")
            #expect(FileManager.default.fileExists(atPath: target + "/RESTORE_FAILED"))
            try FileManager.default.removeItem(atPath: obstacle)
            let completed = try await restore(["--pgdata", target, "--delta"])
            #expect(completed.status == 0, "\(completed.standardError)")
            #expect(!FileManager.default.fileExists(atPath: target + "/RESTORE_FAILED"))
            #expect(FileManager.default.fileExists(atPath: target + "/global/pg_control"))
            #expect(FileManager.default.fileExists(atPath: target + "/recovery.signal"))
            let autoConf = try String(contentsOfFile: target + "/postgresql.auto.conf", encoding: .utf8)
            #expect(autoConf.contains("restore_command = ") && autoConf.contains(obstacle), "\(autoConf)")
            #expect(try String(contentsOfFile: obstacle, encoding: .utf8).contains("repository"))
        }
    }

    @Test func aDamagedBackupJSONIsListedAsDamagedAndSkipped() async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        try await withPostgresCluster(RestoreEndToEndTests.options) { cluster in
            let fixture = try await DaemonFixture(.file, cluster: cluster, scratch: scratch)
            try await cluster.sql("CREATE TABLE rows (batch int, id int)")
            _ = try await RestoreEndToEndTests.commitBatch(1, on: cluster)
            let good = try await backupSummary(fixture)
            let damaged = try await backupSummary(fixture)
            let key = BackupCatalog(repository: try fixture.repository.mainServer).layout.manifestKey(damaged.id)
            try await fixture.repository.damage(key)
            func run(_ arguments: [String]) async throws -> ProcessResult {
                try await PGBackupBinary.run(arguments, environment: fixture.environment)
            }

            // list: both, the damaged one as such (text and JSON).
            let listed = try await run(["list"])
            #expect(listed.status == 0, "\(listed.standardError)")
            let lines = listed.standardOutput.split(separator: "\n")
            #expect(lines.contains { $0.hasPrefix(good.id.description) && $0.contains("complete") }, "\(listed.standardOutput)")
            #expect(lines.contains { $0.hasPrefix(damaged.id.description) && $0.contains("damaged") }, "\(listed.standardOutput)")
            #expect(listed.standardOutput.contains("backup \(damaged.id) is damaged: unable to verify '\(key)'"), "\(listed.standardOutput)")
            let json = try await run(["list", "--json"])
            #expect(json.status == 0, "\(json.standardError)")
            let entries = try #require(try JSONSerialization.jsonObject(with: Data(json.standardOutput.utf8)) as? [[String: Any]])
            #expect(entries.map { $0["id"] as? String } == [good.id.description, damaged.id.description])
            #expect(entries.map { $0["status"] as? String } == ["complete", "damaged"])
            #expect(entries[1]["key"] as? String == key)
            #expect((entries[1]["problem"] as? String)?.contains("SHA-256 mismatch") ?? false, "\(entries[1])")

            // show explains; the good one still shows.
            let shown = try await run(["show", damaged.id.description])
            #expect(shown.status == 1)
            #expect(shown.standardError.contains("unable to use backup '\(damaged.id)': its manifest '\(key)' is damaged"), "\(shown.standardError)")
            #expect(shown.standardError.contains("HINT: this backup cannot be restored, and the other backups are not affected"), "\(shown.standardError)")
            #expect(try await run(["show", good.id.description]).status == 0)

            // restore skips it with a warning; --backup-id reads only the backup it names.
            let skipped = try await run(["restore", "--pgdata", scratch.path + "/skipped", "--target-immediate", "--json"])
            #expect(skipped.status == 0, "\(skipped.standardError)")
            #expect(skipped.standardError.contains("skipping backup \(damaged.id): its manifest is damaged"), "\(skipped.standardError)")
            let result = try #require(try JSONSerialization.jsonObject(with: Data(skipped.standardOutput.utf8)) as? [String: Any])
            #expect(result["backupID"] as? String == good.id.description)
            let named = try await run(["restore", "--pgdata", scratch.path + "/named", "--target-immediate", "--backup-id", good.id.description])
            #expect(named.status == 0, "\(named.standardError)")
            #expect(FileManager.default.fileExists(atPath: scratch.path + "/named/global/pg_control"))
            let refused = try await run(["restore", "--pgdata", scratch.path + "/refused", "--backup-id", damaged.id.description])
            #expect(refused.status == 1 && refused.standardError.contains("is damaged"), "\(refused.standardError)")
            #expect(!FileManager.default.fileExists(atPath: scratch.path + "/refused"))
        }
    }
}

/// Every entry under `root` (links not followed) with its type, size and content digest.
private func tree(_ root: String) throws -> [String: String] {
    var entries: [String: String] = [:]
    guard let walker = FileManager.default.enumerator(atPath: root) else { throw FixtureError("cannot list \(root)") }
    while let relative = walker.nextObject() as? String {
        let path = root + "/" + relative
        var info = stat()
        guard lstat(path, &info) == 0 else { throw FixtureError("lstat \(path)") }
        let type = info.st_mode & S_IFMT
        let digest = type == S_IFREG ? SHA256Hasher.hash(try Data(contentsOf: URL(fileURLWithPath: path))).description : ""
        entries[relative] = "\(type) \(info.st_size) \(digest)"
    }
    return entries
}
