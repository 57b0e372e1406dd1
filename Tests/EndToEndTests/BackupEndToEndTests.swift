import Foundation
import Testing
import PGBackupFoundations
import PGBackupRepository
import PGBackupStorage
import PGBackupTestSupport

#if canImport(Glibc)
import Glibc
#endif

/// `pgbackup backup`, `list` and `show` against real PostgreSQL 15 servers, through the binary;
/// what it stored is read back object by object with the repository library.
@Suite("pgbackup backup, list and show, end to end", .serialized)
struct BackupEndToEndTests {
    /// A cluster with a pgbench database and a tablespace holding a table that does not change.
    static func prepare(_ cluster: PostgresCluster, scale: Int = 2) async throws -> (oid: UInt32, quietPath: String) {
        try await cluster.pgbench(["-i", "-s", "\(scale)", "-q"])
        return try await cluster.makeQuietTablespace()
    }

    static let options = PostgresCluster.Options(settings: ["autovacuum": "off"], walSegmentSizeMB: 1)

    @Test(arguments: RepositoryKind.tested)
    func aBackupWithATablespaceIsCompleteListedAndEveryObjectVerifies(kind: RepositoryKind) async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        try await withPostgresCluster(Self.options) { cluster in
            let fixture = try await DaemonFixture(kind, cluster: cluster, scratch: scratch)
            let (oid, quietPath) = try await Self.prepare(cluster)
            let before = try await cluster.currentWALLSN()
            let startedAt = Date()
            let backup = try await PGBackupBinary.run(["backup", "--json", "--jobs", "2"], environment: fixture.environment)
            let endedAt = Date()
            let after = try await cluster.currentWALLSN()
            try #require(backup.status == 0, "backup failed: \(backup.standardError)")
            #expect(backup.standardError.contains("complete:"), "no summary line: \(backup.standardError)")

            // list and show agree with what backup printed.
            let summary = try decode(BackupSummary.self, backup.standardOutput)
            let listed = try await PGBackupBinary.run(["list", "--json"], environment: fixture.environment)
            #expect(listed.status == 0)
            let list = try decode([BackupSummary].self, listed.standardOutput)
            #expect(list == [summary])
            let shown = try await PGBackupBinary.run(["show", summary.id.description, "--json"], environment: fixture.environment)
            #expect(shown.status == 0)
            let manifest = try decode(BackupManifest.self, shown.standardOutput)
            #expect(manifest.id == summary.id)
            let text = try await PGBackupBinary.run(["list"], environment: fixture.environment)
            #expect(text.standardOutput.contains(summary.id.description) && text.standardOutput.contains("complete"))

            // Positions and times lie between what was read before and after.
            #expect(before <= manifest.startLSN && manifest.startLSN < manifest.stopLSN && manifest.stopLSN <= after)
            #expect(manifest.timeline == TimelineID(1))
            #expect(startedAt.addingTimeInterval(-1) <= manifest.startTime && manifest.startTime <= manifest.stopTime)
            #expect(manifest.stopTime <= endedAt.addingTimeInterval(1))
            #expect(manifest.durationSeconds > 0 && manifest.durationSeconds < endedAt.timeIntervalSince(startedAt) + 1)
            #expect(manifest.tablespaces.map(\.oid) == [oid])

            // Every file of the server's own backup_manifest is in backup.json with its size, and
            // every chunk and pack verifies (seal and SHA-256); the files reassemble to their size.
            let repository = try fixture.repository.mainServer
            let catalog = BackupCatalog(repository: repository)
            let stored = try await catalog.manifest(manifest.id)
            // (`--json` prints times to the second; the rest is the stored document.)
            #expect(stored.files == manifest.files && stored.totals == manifest.totals && stored.wal == manifest.wal)
            let serverManifest = try #require(try await catalog.serverManifest(of: stored))
            let serverFiles = try serverManifestFiles(serverManifest)
            var ours: [String: Int64] = [:]
            for file in stored.files where file.type == .file {
                ours[file.tablespace.map { "pg_tblspc/\($0)/\(file.path)" } ?? file.path] = file.size
            }
            #expect(ours == serverFiles, "files differ from the server's backup_manifest")
            #expect(stored.totals.databaseSize == serverFiles.values.reduce(0, +))

            let chunks = ChunkStore(repository: repository, compression: .default)
            var packs: [SHA256Digest: [UInt8]] = [:]
            var checked = 0
            for file in stored.files where file.type == .file {
                let content = try await reassemble(file, chunks: chunks, packs: &packs)
                #expect(Int64(content.count) == file.size, "\(file.path)")
                if let sha256 = file.sha256 { #expect(SHA256Hasher.hash(content) == sha256, "\(file.path)") }
                checked += 1
            }
            #expect(checked == serverFiles.count)
            // One stored (or found) chunk per chunk reference and per pack; identical content within
            // the backup (the template databases' catalogs) is stored once already.
            let references = stored.files.reduce(0) { $0 + ($1.chunks?.count ?? 0) } + Set(stored.files.compactMap(\.packed?.pack)).count
            #expect(stored.totals.newChunks > 0)
            #expect(stored.totals.newChunks + stored.totals.deduplicatedChunks == references)

            // The table in the tablespace did not change: its backed-up file equals the disk's.
            let prefix = "pg_tblspc/\(oid)/"
            let quiet = try #require(stored.files.first { $0.tablespace == oid && prefix + $0.path == quietPath })
            let onDisk = try #require(FileManager.default.contents(atPath: cluster.dataDirectory + "/" + quietPath))
            #expect(try await reassemble(quiet, chunks: chunks, packs: &packs) == Array(onDisk))

            // The WAL from start to stop is archived, and the WAL connection's temporary slot is gone.
            let segments = try await fixture.archivedSegments().map(\.name)
            #expect(segments.contains(stored.wal.start) && segments.contains(stored.wal.stop), "WAL \(stored.wal) not in \(segments)")
            #expect(try await cluster.sql("SELECT count(*) FROM pg_replication_slots") == "0")
            #expect(try await !fixture.repository.exists("main/backups/\(manifest.id)/in-progress.json"))
        }
    }

    @Test(arguments: RepositoryKind.tested)
    func aSecondBackupWithFewChangesStoresFarFewerNewBytes(kind: RepositoryKind) async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        try await withPostgresCluster(Self.options) { cluster in
            let fixture = try await DaemonFixture(kind, cluster: cluster, scratch: scratch)
            _ = try await Self.prepare(cluster, scale: 5)
            // --progress stays quiet when standard error is not a terminal.
            let firstRun = try await PGBackupBinary.run(["backup", "--json", "--progress"], environment: fixture.environment)
            try #require(firstRun.status == 0, "\(firstRun.standardError)")
            #expect(!firstRun.standardError.contains("\u{1B}[K") && !firstRun.standardError.contains("\r"))
            let first = try decode(BackupSummary.self, firstRun.standardOutput)
            try await cluster.sql("UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid <= 20", "CHECKPOINT")

            // On a terminal (script(1) gives it one) it shows bytes done of the total and the rate.
            var environment = fixture.environment
            environment["PGBACKUP_CONFIG"] = "/dev/null"
            let onTerminal = try await runProcess(
                "/usr/bin/script", ["-qec", "'\(PGBackupBinary.path)' backup --progress --log-level warning", "/dev/null"],
                environment: environment.merging(["PATH": "/usr/bin:/bin"]) { $1 })
            try #require(onTerminal.status == 0, "\(onTerminal.standardOutput)")
            #expect(onTerminal.standardOutput.contains("\u{1B}[K"), "\(onTerminal.standardOutput)")
            #expect(onTerminal.standardOutput.contains(" of ") && onTerminal.standardOutput.contains("%)") && onTerminal.standardOutput.contains("/s"))
            #expect(onTerminal.standardOutput.contains("complete:"))
            let listed = try decode([BackupSummary].self, try await PGBackupBinary.run(["list", "--json"], environment: fixture.environment).standardOutput)
            let second = try #require(listed.last)
            #expect(listed.count == 2)

            let ratio = Double(second.storedNew) / Double(first.storedNew)
            print("dedup: first backup stored \(first.storedNew) new bytes, second \(second.storedNew) (ratio \(ratio)); second shares \(second.deduplicatedChunks) chunks")
            #expect(first.databaseSize > 70 << 20)
            #expect(ratio < 0.25, "second backup stored \(second.storedNew) new bytes vs \(first.storedNew)")
            #expect(second.deduplicatedChunks > second.newChunks)
            #expect(second.storedNew + second.storedDeduplicated >= first.storedNew / 2)
            #expect(second.id > first.id)
        }
    }

    @Test(arguments: RepositoryKind.tested)
    func aKilledBackupIsNeverListedAndTheNextOneCleansUp(kind: RepositoryKind) async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        try await withPostgresCluster(Self.options) { cluster in
            let fixture = try await DaemonFixture(kind, cluster: cluster, scratch: scratch)
            _ = try await Self.prepare(cluster)
            let slow = try startBackup(fixture, ["--max-rate", "2048", "--jobs", "1"])
            let marker = try await waitForInProgressMarker(fixture, backup: slow)
            try await Task.sleep(for: .seconds(1))
            slow.send(SIGKILL)
            #expect(try await slow.wait().terminatedBySignal)

            let listed = try await PGBackupBinary.run(["list", "--json"], environment: fixture.environment)
            #expect(listed.status == 0)
            #expect(try decode([BackupSummary].self, listed.standardOutput).isEmpty)
            #expect(try await fixture.repository.exists(marker), "the killed backup left no trace to clean up")
            // The server dropped the killed backup's temporary slot with its connection.
            try await cluster.waitUntil("the temporary slot is gone") {
                try await cluster.sql("SELECT count(*) FROM pg_replication_slots") == "0"
            }

            let next = try await backupSummary(fixture)
            #expect(try await !fixture.repository.exists(marker), "the next backup left the killed one's leftovers")
            let after = try decode([BackupSummary].self, try await PGBackupBinary.run(["list", "--json"], environment: fixture.environment).standardOutput)
            #expect(after.map(\.id) == [next.id])
            #expect(try await fixture.repository.backupEntries() == [next.id.description])
        }
    }

    @Test(arguments: RepositoryKind.tested)
    func aSecondConcurrentBackupIsRefusedAndTheFirstCompletes(kind: RepositoryKind) async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        try await withPostgresCluster(Self.options) { cluster in
            let fixture = try await DaemonFixture(kind, cluster: cluster, scratch: scratch)
            _ = try await Self.prepare(cluster)
            let slow = try startBackup(fixture, ["--max-rate", "8192"])
            _ = try await waitForInProgressMarker(fixture, backup: slow)
            let second = try await PGBackupBinary.run(["backup"], environment: fixture.environment)
            #expect(second.status == 1)
            #expect(second.standardError.contains("another backup of server 'main' is running"), "\(second.standardError)")
            let first = try await slow.wait()
            #expect(first.status == 0, "\(first.standardError)")
            let list = try decode([BackupSummary].self, try await PGBackupBinary.run(["list", "--json"], environment: fixture.environment).standardOutput)
            #expect(list.count == 1)
        }
    }

    @Test(arguments: RepositoryKind.tested)
    func badInputGetsClearErrorsAndNonZeroExits(kind: RepositoryKind) async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        try await withPostgresCluster(Self.options) { cluster in
            let fixture = try await DaemonFixture(kind, cluster: cluster, scratch: scratch)
            var environment = fixture.environment

            // A server nobody listens on.
            environment["PGBACKUP_CONNINFO"] = "host=127.0.0.1 port=1 user=x connect_timeout=5"
            let unreachable = try await PGBackupBinary.run(["backup"], environment: environment)
            #expect(unreachable.status == 1)
            #expect(unreachable.standardError.contains("127.0.0.1") && unreachable.standardError.contains("connect"), "\(unreachable.standardError)")

            // A wrong password, never shown.
            environment["PGBACKUP_CONNINFO"] = cluster.conninfo(user: cluster.replicationUser, password: "wrong-secret-0815")
            let refused = try await PGBackupBinary.run(["backup", "--log-level", "trace"], environment: environment)
            #expect(refused.status == 1)
            #expect(refused.standardError.contains("authentication"), "\(refused.standardError)")
            #expect(!(refused.standardError + refused.standardOutput).contains("wrong-secret-0815"))

            // A repository that was never initialized.
            let elsewhere = try await TestRepository.make(kind, in: scratch, name: "elsewhere")
            environment = fixture.environment.merging(elsewhere.environment) { $1 }
            if let directory = elsewhere.directory {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            }
            for command in [["backup"], ["list"], ["show", "20261122T101500Z"]] {
                let missing = try await PGBackupBinary.run(command, environment: environment)
                #expect(missing.status == 1, "\(command)")
                #expect(missing.standardError.contains("pgbackup init"), "\(command): \(missing.standardError)")
            }

            // An unknown or malformed backup id.
            for id in ["20200101T000000Z", "yesterday"] {
                let unknown = try await PGBackupBinary.run(["show", id], environment: fixture.environment)
                #expect(unknown.status == 1)
                #expect(unknown.standardError.contains(id), "\(unknown.standardError)")
            }

            // Options out of range are usage errors.
            for arguments in [["backup", "--jobs", "0"], ["backup", "--max-rate", "1"]] {
                let usage = try await PGBackupBinary.run(arguments, environment: fixture.environment)
                #expect(usage.status == 2, "\(arguments): \(usage.standardError)")
            }
            // Nothing of all that left a backup behind.
            let list = try decode([BackupSummary].self, try await PGBackupBinary.run(["list", "--json"], environment: fixture.environment).standardOutput)
            #expect(list.isEmpty)
        }
    }
}

// MARK: helpers

func decode<T: Decodable>(_ type: T.Type, _ text: String) throws -> T {
    let decoder = JSONDecoder()
    decoder.dateDecodingStrategy = .iso8601
    return try decoder.decode(type, from: Data(text.utf8))
}

/// Runs `pgbackup backup --json` to completion and returns its summary.
func backupSummary(_ fixture: DaemonFixture, _ arguments: [String] = []) async throws -> BackupSummary {
    let result = try await PGBackupBinary.run(["backup", "--json"] + arguments, environment: fixture.environment, timeout: .seconds(300))
    guard result.status == 0 else { throw FixtureError("backup failed: \(result.standardError)") }
    return try decode(BackupSummary.self, result.standardOutput)
}

/// Starts `pgbackup backup` in the background.
func startBackup(_ fixture: DaemonFixture, _ arguments: [String]) throws -> BackgroundProcess {
    var environment = fixture.environment
    environment["PATH"] = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
    environment["PGBACKUP_CONFIG"] = "/dev/null"
    return try BackgroundProcess(PGBackupBinary.path, ["backup", "--log-level", "debug"] + arguments, environment: environment)
}

/// Waits until a backup marks itself in progress; returns the marker's key.
func waitForInProgressMarker(_ fixture: DaemonFixture, backup: BackgroundProcess) async throws -> String {
    let deadline = ContinuousClock.now + .seconds(60)
    while ContinuousClock.now < deadline {
        guard backup.isRunning else { throw FixtureError("the backup exited early: \(backup.standardError.suffix(3000))") }
        if let marker = try await fixture.repository.keys(under: "main/backups/").first(where: { $0.hasSuffix("/in-progress.json") }) {
            return marker
        }
        try await Task.sleep(for: .milliseconds(100))
    }
    throw FixtureError("no backup in progress after 60 s: \(backup.standardError.suffix(3000))")
}

/// Path → size of every file in PostgreSQL's `backup_manifest`.
func serverManifestFiles(_ content: [UInt8]) throws -> [String: Int64] {
    let json = try #require(try JSONSerialization.jsonObject(with: Data(content)) as? [String: Any])
    let files = try #require(json["Files"] as? [[String: Any]])
    var sizes: [String: Int64] = [:]
    for file in files {
        let path = try #require(file["Path"] as? String)
        let size = try #require(file["Size"] as? NSNumber)
        sizes[path] = size.int64Value
    }
    return sizes
}

/// A file's content from its chunks or its pack, every object verified by the chunk store.
func reassemble(_ file: BackupManifest.File, chunks: ChunkStore, packs: inout [SHA256Digest: [UInt8]]) async throws -> [UInt8] {
    if let packed = file.packed {
        if packs[packed.pack] == nil { packs[packed.pack] = try await chunks.fetch(sha256: packed.pack, size: packed.packSize) }
        let pack = packs[packed.pack]!
        return Array(pack[Int(packed.offset)..<Int(packed.offset + file.size)])
    }
    var content: [UInt8] = []
    for chunk in file.chunks ?? [] {
        #expect(chunk.offset == Int64(content.count))
        content += try await chunks.fetch(sha256: chunk.sha256, size: chunk.size)
    }
    return content
}
