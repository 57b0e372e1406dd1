import Foundation
import Logging
import Synchronization
import Testing
import PGBackupFoundations
import PGBackupRepository
import PGBackupStorage
import PGBackupTestSupport
@testable import PGBackupServices

#if canImport(Glibc)
import Glibc
#endif

/// `RestoreWriter` on real backups taken by the `pgbackup` binary from real PostgreSQL 15
/// servers: the restored directory matches the server file by file and starts; a damaged chunk
/// stops it cleanly; a delta restore rewrites only what changed and ends equal to a fresh one.
@Suite("RestoreWriter on real backups", .serialized)
struct RestoreWriterEndToEndTests {
    /// A server with pgbench data and a quiet table in a tablespace, backed up by the binary.
    struct Backed {
        let cluster: PostgresCluster
        let fixture: DaemonFixture
        let repository: Repository
        let manifest: BackupManifest
        let oid: UInt32
        let quietPath: String

        var writer: RestoreWriter {
            RestoreWriter(chunkStore: ChunkStore(repository: repository, compression: .default), jobs: 4, logger: Logger(label: "restore-test"))
        }
    }

    static func backUp(_ kind: RepositoryKind, _ cluster: PostgresCluster, scratch: ScratchDirectory) async throws -> Backed {
        let fixture = try await DaemonFixture(kind, cluster: cluster, scratch: scratch)
        let (oid, quietPath) = try await BackupEndToEndTests.prepare(cluster)
        let summary = try await backupSummary(fixture, ["--jobs", "2"])
        let repository = try fixture.repository.mainServer
        let manifest = try await BackupCatalog(repository: repository).manifest(summary.id)
        return Backed(cluster: cluster, fixture: fixture, repository: repository, manifest: manifest, oid: oid, quietPath: quietPath)
    }

    @Test(arguments: RepositoryKind.tested)
    func aFreshRestoreMatchesTheServerFileByFileAndStarts(kind: RepositoryKind) async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        try await withPostgresCluster(BackupEndToEndTests.options) { cluster in
            let backed = try await Self.backUp(kind, cluster, scratch: scratch)
            let manifest = backed.manifest
            let pgdata = scratch.path + "/restored"
            let tablespace = scratch.path + "/restored-ts"
            let reports = Mutex<[(Int64, Int64)]>([])
            let stats = try await backed.writer.write(
                manifest, dataDirectory: pgdata, tablespaceDirectories: [backed.oid: tablespace], mode: .fresh
            ) { done, total in reports.withLock { $0.append((done, total)) } }

            let regular = manifest.files.filter { $0.type == .file }
            #expect(stats.filesWritten == regular.count && stats.filesUnchanged == 0 && stats.filesRemoved == 0)
            #expect(stats.bytesTotal == manifest.totals.databaseSize)
            let distinct = Set(regular.flatMap { ($0.chunks ?? []).map(\.sha256) + ($0.packed.map { [$0.pack] } ?? []) })
            // Every distinct object once, pg_control's pack once more.
            #expect(stats.chunksFetched == distinct.count + 1)
            print("restore: \(stats.bytesTotal) bytes, \(regular.count) files, \(stats.chunksFetched) objects in \(stats.seconds) s "
                + "(\(Double(stats.bytesTotal) / 1_048_576 / stats.seconds) MiB/s, debug build, jobs 4)")

            // Progress: rising, at most a few times per second, ending at the total.
            let progress = reports.withLock { $0 }
            #expect(progress.last.map { $0 == (stats.bytesTotal, stats.bytesTotal) } ?? false)
            #expect(zip(progress, progress.dropFirst()).allSatisfy { pair in pair.0.0 <= pair.1.0 })
            #expect(Double(progress.count) <= 2 + stats.seconds * 4 + 1)

            // Every file of the server's backup_manifest, at its size; each chunk and packed file
            // hashes as the manifest says.
            let serverFiles = try serverManifestFiles(try #require(try await BackupCatalog(repository: backed.repository).serverManifest(of: manifest)))
            for (path, size) in serverFiles where path != "tablespace_map" {
                #expect(try fileSize(pgdata + "/" + path) == size, "\(path)")
            }
            for file in regular where file.path != "tablespace_map" {
                let path = (file.tablespace == nil ? pgdata : tablespace) + "/" + file.path
                for chunk in file.chunks ?? [] {
                    #expect(try hash(path, offset: chunk.offset, length: chunk.size) == chunk.sha256, "\(file.path) @\(chunk.offset)")
                }
                if let sha256 = file.sha256 { #expect(try hash(path, offset: 0, length: file.size) == sha256, "\(file.path)") }
                #expect(try mode(path) == file.mode, "\(file.path)")
            }
            let accounts = try #require(regular.first { $0.size > 8 << 20 && $0.tablespace == nil })
            let mtime = try modificationTime(pgdata + "/" + accounts.path)
            #expect(abs(mtime.timeIntervalSince(accounts.mtime)) < 0.001)

            // The quiet table did not change since the backup: byte for byte the live server's.
            let live = try #require(FileManager.default.contents(atPath: cluster.dataDirectory + "/" + backed.quietPath))
            #expect(FileManager.default.contents(atPath: pgdata + "/" + backed.quietPath) == live)

            // Tablespace link and map name the new directory; directories 0700; pg_control there.
            #expect(try FileManager.default.destinationOfSymbolicLink(atPath: pgdata + "/pg_tblspc/\(backed.oid)") == tablespace)
            #expect(try String(contentsOfFile: pgdata + "/tablespace_map", encoding: .utf8) == "\(backed.oid) \(tablespace)\n")
            #expect(try mode(pgdata) == 0o700 && mode(tablespace) == 0o700)
            // pg_wal's own directories, as the server expects them: 17+ keep WAL summaries in one.
            let walDirectories = cluster.major >= 17 ? ["archive_status", "summaries"] : ["archive_status"]
            #expect(try FileManager.default.contentsOfDirectory(atPath: pgdata + "/pg_wal").sorted() == walDirectories)
            for directory in manifest.files where directory.type == .directory {
                let root = directory.tablespace == nil ? pgdata : tablespace
                #expect(try mode(root + "/" + directory.path) == 0o700, "\(directory.path)")
            }
            #expect(FileManager.default.fileExists(atPath: pgdata + "/global/pg_control"))
            #expect(!FileManager.default.fileExists(atPath: pgdata + "/RESTORE_FAILED"))

            // It starts: recovery to the end of the backup from `pgbackup wal-fetch`, then promotion.
            let expectedAccounts = try await cluster.sql("SELECT count(*) FROM pgbench_accounts")
            let expectedQuiet = try await cluster.sql("SELECT md5(string_agg(payload, ',' ORDER BY id)) FROM quiet")
            try await Self.configureRecovery(pgdata, backed: backed)
            let restored = try await PostgresCluster.start(
                existingDataDirectory: pgdata, ownedTrees: [tablespace, pgdata + ".pgbackup.yaml"], PostgresCluster.Options(name: "restored"))
            do {
                try await restored.waitUntil("the restored server to finish recovery") {
                    try await restored.sql("SELECT pg_is_in_recovery()") == "f"
                }
                #expect(try await restored.sql("SELECT count(*) FROM pgbench_accounts") == expectedAccounts)
                #expect(try await restored.sql("SELECT md5(string_agg(payload, ',' ORDER BY id)) FROM quiet") == expectedQuiet)
                #expect(try await restored.sql("SELECT pg_tablespace_location(\(backed.oid))") == tablespace)
                await restored.destroy()
            } catch {
                print(restored.logTail())
                await restored.destroy()
                throw error
            }
        }
    }

    @Test(arguments: RepositoryKind.tested)
    func aDamagedChunkStopsTheRestoreNamingItAndLeavesNoPgControl(kind: RepositoryKind) async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        try await withPostgresCluster(BackupEndToEndTests.options) { cluster in
            let backed = try await Self.backUp(kind, cluster, scratch: scratch)
            // The second chunk of the biggest file (pgbench_accounts), one byte flipped.
            let big = try #require(backed.manifest.files.max { $0.size < $1.size })
            let chunk = try #require(big.chunks?.dropFirst().first)
            let key = ChunkStore(repository: backed.repository, compression: .default).layout.chunkKey(chunk.sha256, .zstd)
            let original = try await backed.fixture.repository.damage(key, mask: 0x20)

            let pgdata = scratch.path + "/restored"
            let error = await #expect(throws: RestoreError.self) {
                _ = try await backed.writer.write(
                    backed.manifest, dataDirectory: pgdata, tablespaceDirectories: [backed.oid: scratch.path + "/restored-ts"],
                    mode: .fresh, onProgress: nil)
            }
            guard case let .chunkFailed(named, files, _) = try #require(error) else {
                Issue.record("not a chunk failure: \(String(describing: error))")
                return
            }
            #expect(named == key)
            #expect(files.contains(big.path))
            let message = "\(try #require(error))"
            #expect(message.contains("unable to restore '\(big.path)'") && message.contains(key), "\(message)")
            let marker = try String(contentsOfFile: pgdata + "/RESTORE_FAILED", encoding: .utf8)
            #expect(marker.contains(key) && marker.contains("global/pg_control"), "\(marker)")
            #expect(!FileManager.default.fileExists(atPath: pgdata + "/global/pg_control"))

            // A delta over what is left fails the same way, and leaves no pg_control either; once
            // the object is repaired, a delta completes the directory.
            let tablespaces = [backed.oid: scratch.path + "/restored-ts"]
            await #expect(throws: RestoreError.self) {
                _ = try await backed.writer.write(backed.manifest, dataDirectory: pgdata, tablespaceDirectories: tablespaces, mode: .delta, onProgress: nil)
            }
            #expect(FileManager.default.fileExists(atPath: pgdata + "/RESTORE_FAILED"))
            #expect(!FileManager.default.fileExists(atPath: pgdata + "/global/pg_control"))
            try await backed.fixture.repository.store.put(key, bytes: original)
            let repaired = try await backed.writer.write(
                backed.manifest, dataDirectory: pgdata, tablespaceDirectories: tablespaces, mode: .delta, onProgress: nil)
            #expect(repaired.chunksFetched < backed.manifest.files.count)
            #expect(!FileManager.default.fileExists(atPath: pgdata + "/RESTORE_FAILED"))
            #expect(FileManager.default.fileExists(atPath: pgdata + "/global/pg_control"))

            // A fresh restore into what is left is refused; a missing mapping is refused before
            // anything is written; so is a delta under a running server.
            await #expect(throws: RestoreError.directoryNotEmpty(path: pgdata)) {
                _ = try await backed.writer.write(
                    backed.manifest, dataDirectory: pgdata, tablespaceDirectories: [backed.oid: scratch.path + "/other-ts"],
                    mode: .fresh, onProgress: nil)
            }
            await #expect(throws: RestoreError.tablespaceNotMapped(oid: backed.oid, location: backed.manifest.tablespaces[0].location)) {
                _ = try await backed.writer.write(
                    backed.manifest, dataDirectory: scratch.path + "/never", tablespaceDirectories: [:], mode: .fresh, onProgress: nil)
            }
            #expect(!FileManager.default.fileExists(atPath: scratch.path + "/never"))
            try Data("\(getpid())\n\(pgdata)\n".utf8).write(to: URL(fileURLWithPath: pgdata + "/postmaster.pid"))
            await #expect(throws: RestoreError.serverRunning(dataDirectory: pgdata, pid: getpid())) {
                _ = try await backed.writer.write(backed.manifest, dataDirectory: pgdata, tablespaceDirectories: tablespaces, mode: .delta, onProgress: nil)
            }
            #expect(FileManager.default.fileExists(atPath: pgdata + "/global/pg_control"))
            #expect(!FileManager.default.fileExists(atPath: pgdata + "/RESTORE_FAILED"))
        }
    }

    @Test(arguments: RepositoryKind.tested)
    func aDeltaRestoreRewritesOnlyWhatChangedAndEqualsAFreshOne(kind: RepositoryKind) async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        try await withPostgresCluster(BackupEndToEndTests.options) { cluster in
            let backed = try await Self.backUp(kind, cluster, scratch: scratch)
            let manifest = backed.manifest
            let pgdata = scratch.path + "/restored"
            let tablespace = scratch.path + "/restored-ts"
            let regular = manifest.files.filter { $0.type == .file }
            _ = try await backed.writer.write(manifest, dataDirectory: pgdata, tablespaceDirectories: [backed.oid: tablespace], mode: .fresh, onProgress: nil)

            // Unchanged: only pg_control (always written last) and the regenerated tablespace_map.
            let again = try await backed.writer.write(
                manifest, dataDirectory: pgdata, tablespaceDirectories: [backed.oid: tablespace], mode: .delta, onProgress: nil)
            #expect(again.filesWritten == 2 && again.filesUnchanged == regular.count - 2 && again.filesRemoved == 0)
            #expect(again.chunksFetched == 1 && again.bytesUnchanged > 0)

            // A page changed inside the biggest file, a packed file gone, the quiet table cut
            // short, a mode changed, and things the backup does not have.
            let big = try #require(regular.max { $0.size < $1.size })
            let secondChunk = try #require(big.chunks?.dropFirst().first)
            try patch(pgdata + "/" + big.path, at: secondChunk.offset + 100, Array("changed".utf8))
            let small = try #require(regular.first { $0.packed != nil && $0.tablespace == nil && $0.path.hasPrefix("base/") })
            try FileManager.default.removeItem(atPath: pgdata + "/" + small.path)
            #expect(truncate(pgdata + "/" + backed.quietPath, 8192) == 0)
            #expect(chmod(pgdata + "/PG_VERSION", 0o644) == 0)
            try Data("junk".utf8).write(to: URL(fileURLWithPath: pgdata + "/base/extra_file"))
            try FileManager.default.createDirectory(atPath: pgdata + "/junk/sub", withIntermediateDirectories: true)
            try Data("junk".utf8).write(to: URL(fileURLWithPath: pgdata + "/junk/sub/file"))
            try Data("999999\n\(pgdata)\n".utf8).write(to: URL(fileURLWithPath: pgdata + "/postmaster.pid"))
            try Data(count: 1 << 20).write(to: URL(fileURLWithPath: pgdata + "/pg_wal/000000010000000000000099"))
            // pg_control changed past its system identifier (a delta needs that to know the cluster).
            try patch(pgdata + "/global/pg_control", at: 16, Array("changed".utf8))

            let delta = try await backed.writer.write(
                manifest, dataDirectory: pgdata, tablespaceDirectories: [backed.oid: tablespace], mode: .delta, onProgress: nil)
            let quiet = try #require(regular.first { "pg_tblspc/\(backed.oid)/" + $0.path == backed.quietPath })
            // big, small, quiet, pg_control, tablespace_map.
            #expect(delta.filesWritten == 5, "\(delta)")
            #expect(delta.filesUnchanged == regular.count - 5)
            #expect(delta.filesRemoved == 3 && delta.directoriesRemoved == 1, "\(delta)")
            // One chunk of big, small's pack, every chunk of quiet (zeros after its first page), pg_control's pack.
            #expect(delta.chunksFetched == 1 + 1 + (quiet.chunks?.count ?? 1) + 1, "\(delta)")
            #expect(!FileManager.default.fileExists(atPath: pgdata + "/RESTORE_FAILED"))

            // Equal, entry by entry and byte by byte, to a fresh restore (but for the mapping).
            let fresh = scratch.path + "/fresh"
            let freshTablespace = scratch.path + "/fresh-ts"
            _ = try await backed.writer.write(manifest, dataDirectory: fresh, tablespaceDirectories: [backed.oid: freshTablespace], mode: .fresh, onProgress: nil)
            let skip: Set<String> = ["tablespace_map", "pg_tblspc/\(backed.oid)"]
            let deltaTree = try snapshot(pgdata).filter { !skip.contains($0.key) }
            let freshTree = try snapshot(fresh).filter { !skip.contains($0.key) }
            #expect(deltaTree.count == freshTree.count)
            for (path, entry) in freshTree { #expect(deltaTree[path] == entry, "\(path)") }
            #expect(try snapshot(tablespace) == snapshot(freshTablespace))
        }
    }

    /// recovery.signal and, in postgresql.auto.conf, recovery from the repository through the
    /// binary's wal-fetch to the end of the backup, with the repository's settings (and S3
    /// credentials) in `<pgdata>.pgbackup.yaml`, never on the command line. The server's user
    /// must read the repository and that file.
    static func configureRecovery(_ pgdata: String, backed: Backed) async throws {
        let user = backed.cluster.serverUser
        try backed.fixture.repository.letTheServerUse(user)
        let config = pgdata + ".pgbackup.yaml"
        try backed.fixture.repository.writeConfiguration(to: config, for: user)
        let command = "\(PGBackupBinary.path) wal-fetch --config \(config) %f %p"
        let settings = """

            restore_command = '\(command)'
            recovery_target = 'immediate'
            recovery_target_action = 'promote'

            """
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: pgdata + "/postgresql.auto.conf"))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(settings.utf8))
        try handle.close()
        try Data().write(to: URL(fileURLWithPath: pgdata + "/recovery.signal"))
    }
}

// MARK: file helpers

private func fileSize(_ path: String) throws -> Int64 {
    var info = stat()
    guard stat(path, &info) == 0 else { throw FixtureError("stat \(path): \(String(cString: strerror(errno)))") }
    return Int64(info.st_size)
}

private func mode(_ path: String) throws -> UInt32 {
    var info = stat()
    guard lstat(path, &info) == 0 else { throw FixtureError("stat \(path): \(String(cString: strerror(errno)))") }
    return UInt32(info.st_mode & 0o7777)
}

private func modificationTime(_ path: String) throws -> Date {
    var info = stat()
    guard lstat(path, &info) == 0 else { throw FixtureError("stat \(path): \(String(cString: strerror(errno)))") }
    return FileSystem.modificationDate(info)
}

private func hash(_ path: String, offset: Int64, length: Int64) throws -> SHA256Digest {
    let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: path))
    defer { try? handle.close() }
    try handle.seek(toOffset: UInt64(offset))
    return SHA256Hasher.hash(try handle.read(upToCount: Int(length)) ?? Data())
}

private func patch(_ path: String, at offset: Int64, _ bytes: [UInt8]) throws {
    let handle = try FileHandle(forUpdating: URL(fileURLWithPath: path))
    defer { try? handle.close() }
    try handle.seek(toOffset: UInt64(offset))
    try handle.write(contentsOf: Data(bytes))
}

/// Every entry under `root` (links not followed): type, mode, size, and content digest, link
/// target, or for a regular file also its mtime.
private func snapshot(_ root: String) throws -> [String: String] {
    var entries: [String: String] = [:]
    func visit(_ relative: String) throws {
        let path = relative.isEmpty ? root : root + "/" + relative
        for name in try FileManager.default.contentsOfDirectory(atPath: path) {
            let child = relative.isEmpty ? name : relative + "/" + name
            let full = root + "/" + child
            var info = stat()
            guard lstat(full, &info) == 0 else { throw FixtureError("lstat \(full)") }
            let mode = String(info.st_mode & 0o7777, radix: 8)
            switch info.st_mode & S_IFMT {
            case S_IFDIR:
                entries[child] = "directory \(mode)"
                try visit(child)
            case S_IFLNK:
                entries[child] = "symlink -> \(try FileManager.default.destinationOfSymbolicLink(atPath: full))"
            default:
                let content = try Data(contentsOf: URL(fileURLWithPath: full))
                entries[child] = "file \(mode) \(info.st_size) \(SHA256Hasher.hash(content)) \(info.st_mtim.tv_sec).\(info.st_mtim.tv_nsec)"
            }
        }
    }
    try visit("")
    return entries
}
