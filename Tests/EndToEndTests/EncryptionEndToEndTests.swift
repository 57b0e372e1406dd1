import Foundation
import Testing
import PGBackupFoundations
import PGBackupRepository
import PGBackupStorage
import PGBackupTestSupport

#if canImport(Glibc)
import Glibc
#endif

/// Client-side encryption (issue 15) through the binary, on file:// and s3:// against real
/// PostgreSQL 15: an encrypted repository serves the daemon, backup, PITR restore, wal-fetch,
/// verify and verify-restore with exactly the right rows; nothing readable is stored; rotation
/// rewraps the data key; and key problems and damaged objects fail closed.
@Suite("client-side encryption, end to end")
struct EncryptionEndToEndTests {
    /// In every row (the `note` column's default): in the heap files a backup stores and in the
    /// WAL the daemon archives. Short enough that PostgreSQL never compresses it.
    static let marker = "pgbackup-cleartext-marker-5c1e07b9"
    static let options = PostgresCluster.Options(
        settings: ["autovacuum": "off", "track_commit_timestamp": "on", "wal_keep_size": "'256MB'"], walSegmentSizeMB: 1)
    static let createRows = "CREATE TABLE rows (batch int, id int, note text DEFAULT '\(marker)')"

    /// Writes `key` as a key file (64 hex digits and a newline) with `mode`.
    static func writeKeyFile(_ key: EncryptionKey, _ scratch: ScratchDirectory, _ name: String, mode: mode_t = 0o600) throws -> String {
        try writeFile(Data(key.fileContents), scratch, name, mode: mode)
    }

    static func writeFile(_ contents: Data, _ scratch: ScratchDirectory, _ name: String, mode: mode_t = 0o600) throws -> String {
        let path = scratch.path + "/" + name
        guard FileManager.default.createFile(atPath: path, contents: contents), chmod(path, mode) == 0 else {
            throw FixtureError("unable to write \(path)")
        }
        return path
    }

    /// Whether `marker` occurs in `bytes`.
    static func holdsMarker(_ bytes: [UInt8]) -> Bool {
        Data(bytes).range(of: Data(marker.utf8)) != nil
    }

    /// What `algorithm`'s decompressor makes of `bytes`, as far as it gets before it gives up.
    static func decompressed(_ bytes: [UInt8], _ algorithm: CompressionAlgorithm) -> [UInt8] {
        var output: [UInt8] = []
        guard let stream = try? algorithm.makeDecompressor() else { return output }
        do {
            try stream.update(bytes) { output.append(contentsOf: $0) }
            try stream.finish { output.append(contentsOf: $0) }
        } catch {}
        return output
    }

    /// `bytes` as stored, and what zstd and gzip make of them: where an attacker would look.
    static func readableViews(_ bytes: [UInt8]) -> [[UInt8]] {
        [bytes, decompressed(bytes, .zstd), decompressed(bytes, .gzip)]
    }

    /// An object's content after decryption: decompressed by its name's extension.
    static func content(ofDecrypted bytes: [UInt8], key: String) -> [UInt8] {
        let ext = key.split(separator: ".").last.map(String.init) ?? ""
        guard let algorithm = try? CompressionAlgorithm(fileExtension: ext), algorithm != .none else { return bytes }
        return decompressed(bytes, algorithm)
    }

    /// The repository as the binary opens it with `key`.
    static func open(_ repository: TestRepository, key: EncryptionKey) async throws -> Repository {
        try await Repository.open(store: try repository.store, server: "main", key: key)
    }

    /// `repository.json` as stored: plaintext JSON.
    static func storedInfo(_ repository: TestRepository) async throws -> [String: Any] {
        let bytes = try await repository.store.get(RepositoryLayout(server: "main").info)
        return try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
    }

    static func storedKeyID(_ repository: TestRepository) async throws -> String? {
        (try await storedInfo(repository)["encryptionKey"] as? [String: Any])?["keyID"] as? String
    }

    /// Every key the repository stores, and its stored bytes.
    static func storedObjects(_ repository: TestRepository) async throws -> [(key: String, bytes: [UInt8])] {
        let store = try repository.store
        var objects: [(key: String, bytes: [UInt8])] = []
        for info in try await store.list(prefix: "") { objects.append((info.key, try await store.get(info.key))) }
        return objects
    }

    /// The keys whose stored bytes differ between two listings (added, removed or rewritten).
    static func changedKeys(_ before: [(key: String, bytes: [UInt8])], _ after: [(key: String, bytes: [UInt8])]) -> Set<String> {
        let old = Dictionary(before, uniquingKeysWith: { $1 })
        let new = Dictionary(after, uniquingKeysWith: { $1 })
        return Set(old.keys).union(new.keys).filter { old[$0] != new[$0] }
    }

    // MARK: the whole path

    @Test(arguments: RepositoryKind.tested)
    func anEncryptedRepositoryServesEveryCommandWithNothingReadableAtRestAndRotates(kind: RepositoryKind) async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let key = EncryptionKey.random()
        let keyFile = try Self.writeKeyFile(key, scratch, "pgbackup.key")
        try await withPostgresCluster(Self.options) { cluster in
            let fixture = try await DaemonFixture(kind, cluster: cluster, scratch: scratch, extraEnvironment: ["PGBACKUP_ENCRYPTION_KEY_FILE": keyFile])
            let repository = fixture.repository

            // init said so, and repository.json (plaintext) names the algorithm and the key's id, never the key.
            let again = try await PGBackupBinary.run(["init"], environment: fixture.environment)
            #expect(again.status == 0, "\(again.standardError)")
            #expect(again.standardOutput.contains("aes-256-gcm") && again.standardOutput.contains(key.id), "\(again.standardOutput)")
            let info = try await Self.storedInfo(repository)
            #expect(info["encryption"] as? String == "aes-256-gcm" && info["formatVersion"] as? Int == 2, "\(info)")
            #expect(try await Self.storedKeyID(repository) == key.id)

            // The daemon streams, a backup, more rows, everything archived.
            let daemon = try fixture.startDaemon()
            defer { daemon.send(SIGKILL) }
            try await cluster.sql(Self.createRows)
            _ = try await RestoreEndToEndTests.commitBatch(1, on: cluster)
            let backup = try await backupSummary(fixture)
            let b2 = try await RestoreEndToEndTests.commitBatch(2, on: cluster)
            let b3 = try await RestoreEndToEndTests.commitBatch(3, on: cluster)
            _ = try await RestoreEndToEndTests.commitBatch(4, on: cluster)
            let last = try await fixture.switchSegment()
            try await fixture.waitForArchive(of: last, daemon: daemon)
            daemon.send(SIGTERM)
            _ = try await daemon.wait()
            try repository.letTheServerUse(cluster.serverUser)

            // show says the backup is encrypted.
            let shown = try await PGBackupBinary.run(["show", backup.id.description, "--json"], environment: fixture.environment)
            #expect(shown.status == 0 && shown.standardOutput.contains("aes-256-gcm"), "\(shown.standardOutput) \(shown.standardError)")

            // wal-fetch gives back exactly the server's segment.
            #expect(try await fixture.fetchedMatchesServer(last))

            // PITR (a time between batches 2 and 3) and the end of the archive: exactly the rows.
            let between = b2.committed.addingTimeInterval(b3.committed.timeIntervalSince(b2.committed) / 2)
            #expect(try await RestoreEndToEndTests.restoreAndCount(fixture, ["--target-time", RestoreTimeText.of(between)], name: "pitr")
                == RestoreEndToEndTests.expected(1...2))
            #expect(try await RestoreEndToEndTests.restoreAndCount(fixture, [], name: "latest") == RestoreEndToEndTests.expected(1...4))
            // The restored server's wal-fetch got the key as a file of its own (0600), never the key in the YAML.
            let copied = scratch.path + "/restored-latest.pgbackup.key"
            let mode = try #require(try FileManager.default.attributesOfItem(atPath: copied)[.posixPermissions] as? Int)
            #expect(mode & 0o077 == 0, "\(copied) has mode \(String(mode, radix: 8))")
            let yaml = try String(contentsOfFile: scratch.path + "/restored-latest.pgbackup.yaml", encoding: .utf8)
            #expect(yaml.contains(copied), "\(yaml)")
            #expect(!yaml.contains(String(decoding: key.fileContents, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)))

            // verify reads and checks every object; verify-restore restores and starts the backup.
            let (report, verifyRun) = try await VerifyEndToEndTests.verify(fixture)
            #expect(verifyRun.status == 0 && report?.ok == true, "\(verifyRun.standardOutput) \(verifyRun.standardError)")
            #expect((report?.chunks ?? 0) > 0 && (report?.walObjects ?? 0) > 0)
            let rowsSQL = try VerifyRestoreEndToEndTests.sqlFile(
                scratch, "rows.sql", "SELECT count(*) = \(4 * RestoreEndToEndTests.rowsPerBatch) AND bool_and(note = '\(Self.marker)') FROM rows;\n")
            let (verified, printed) = try await VerifyRestoreEndToEndTests.verify(fixture, ["--check-sql", rowsSQL])
            #expect(verified.status == 0 && printed?.ok == true, "\(verified.standardOutput) \(verified.standardError)")
            #expect(printed?.checks.map(\.name) == ["restore", "start", "check_sql"], "\(String(describing: printed?.checks))")

            try await Self.expectNothingReadableAtRest(repository, key: key)

            // Rotation: one object rewritten; the new key restores everything, the old one is refused.
            let newKey = EncryptionKey.random()
            let newKeyFile = try Self.writeKeyFile(newKey, scratch, "new.key")
            let readable = try Self.writeKeyFile(newKey, scratch, "readable-new.key", mode: 0o604)
            let refusedRotation = try await PGBackupBinary.run(["key", "rotate", "--new-key-file", readable], environment: fixture.environment)
            #expect(refusedRotation.status == 2 && refusedRotation.standardError.contains("readable-new.key"), "\(refusedRotation.standardError)")
            #expect(try await Self.storedKeyID(repository) == key.id)
            let objectsBefore = try await Self.storedObjects(repository)
            let rotated = try await PGBackupBinary.run(["key", "rotate", "--new-key-file", newKeyFile], environment: fixture.environment)
            #expect(rotated.status == 0, "\(rotated.standardError)")
            #expect(rotated.standardOutput.contains(key.id) && rotated.standardOutput.contains(newKey.id), "\(rotated.standardOutput)")
            #expect(try await Self.storedKeyID(repository) == newKey.id)
            let objectsAfter = try await Self.storedObjects(repository)
            #expect(Self.changedKeys(objectsBefore, objectsAfter) == [RepositoryLayout(server: "main").info])

            let oldRefused = try await PGBackupBinary.run(["list"], environment: fixture.environment)
            #expect(oldRefused.status == 1, "\(oldRefused.standardError)")
            #expect(oldRefused.standardError.contains(key.id) && oldRefused.standardError.contains(newKey.id), "\(oldRefused.standardError)")
            let refusedTarget = scratch.path + "/restored-old-key"
            let oldRestore = try await PGBackupBinary.run(["restore", "--pgdata", refusedTarget], environment: fixture.environment)
            #expect(oldRestore.status == 1, "\(oldRestore.standardError)")
            #expect(!FileManager.default.fileExists(atPath: refusedTarget))

            let newEnvironment = fixture.environment.merging(["PGBACKUP_ENCRYPTION_KEY_FILE": newKeyFile]) { $1 }
            try repository.letTheServerUse(cluster.serverUser)  // the rewritten repository.json is root's
            #expect(try await RestoreEndToEndTests.restoreAndCount(in: scratch, environment: newEnvironment, [], name: "rotated")
                == RestoreEndToEndTests.expected(1...4))
            // The same key again: nothing to do, still exit 0.
            let same = try await PGBackupBinary.run(["key", "rotate", "--new-key-file", newKeyFile], environment: newEnvironment)
            #expect(same.status == 0 && same.standardOutput.contains(newKey.id), "\(same.standardOutput) \(same.standardError)")
            #expect(try await Self.storedKeyID(repository) == newKey.id)
        }
    }

    // MARK: failing closed

    /// One wrong way to give the key: how the environment changes, the exit status and what the
    /// message must name.
    struct KeyProblem {
        var name: String
        var keyFile: String?
        var status: Int32
        var names: [String]
    }

    @Test(arguments: RepositoryKind.tested)
    func keyProblemsAndDamagedObjectsFailClosedAndWriteNothing(kind: RepositoryKind) async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let key = EncryptionKey.random()
        let keyFile = try Self.writeKeyFile(key, scratch, "pgbackup.key")
        let keyText = String(decoding: key.fileContents, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        try await withPostgresCluster(Self.options) { cluster in
            let fixture = try await DaemonFixture(kind, cluster: cluster, scratch: scratch, extraEnvironment: ["PGBACKUP_ENCRYPTION_KEY_FILE": keyFile])
            let repository = fixture.repository
            try await cluster.sql(Self.createRows)
            _ = try await RestoreEndToEndTests.commitBatch(1, on: cluster)
            let backup = try await backupSummary(fixture)
            // Three segments pushed the way archive_command pushes them, and one left to push.
            var pushed: [WALSegmentName] = []
            for _ in 0..<3 {
                let segment = try await fixture.switchSegment()
                let result = try await PGBackupBinary.run(["wal-push", cluster.dataDirectory + "/pg_wal/" + segment.name], environment: fixture.environment)
                try #require(result.status == 0, "wal-push: \(result.standardError)")
                pushed.append(segment)
            }
            let unpushed = try await fixture.switchSegment()
            let unpushedPath = cluster.dataDirectory + "/pg_wal/" + unpushed.name
            let backupsBefore = try await repository.backupEntries()

            // Key problems: each command refuses before it writes anything, with the right exit status.
            let wrongKey = EncryptionKey.random()
            let problems = [
                KeyProblem(name: "no key", keyFile: nil, status: 1, names: ["encrypt"]),
                KeyProblem(name: "another key", keyFile: try Self.writeKeyFile(wrongKey, scratch, "wrong.key"), status: 1, names: [key.id, wrongKey.id]),
                KeyProblem(name: "world-readable", keyFile: try Self.writeKeyFile(key, scratch, "readable.key", mode: 0o644), status: 2, names: ["readable.key"]),
                KeyProblem(name: "not a key", keyFile: try Self.writeFile(Data("not a key\n".utf8), scratch, "text.key"), status: 2, names: ["text.key"]),
                KeyProblem(name: "too large", keyFile: try Self.writeFile(Data(repeating: 0x41, count: 4096), scratch, "large.key"), status: 2, names: ["large.key"]),
                KeyProblem(name: "a typo in the path", keyFile: scratch.path + "/pgbackup.kye", status: 2, names: ["pgbackup.kye"]),
            ]
            for problem in problems {
                var environment = fixture.environment
                environment["PGBACKUP_ENCRYPTION_KEY_FILE"] = problem.keyFile
                let target = scratch.path + "/target-\(problem.name.replacingOccurrences(of: " ", with: "-"))"
                let fetched = target + "-fetched"
                for arguments in [["restore", "--pgdata", target], ["wal-push", unpushedPath], ["backup"], ["list"], ["wal-fetch", pushed[0].name, fetched]] {
                    let result = try await PGBackupBinary.run(arguments, environment: environment)
                    #expect(result.status == problem.status, "\(problem.name), \(arguments[0]): \(result.standardError)")
                    for name in problem.names {
                        #expect(result.standardError.contains(name), "\(problem.name), \(arguments[0]) does not name \(name): \(result.standardError)")
                    }
                    #expect(!result.standardError.contains(keyText) && !result.standardOutput.contains(keyText))
                }
                #expect(!FileManager.default.fileExists(atPath: target), "\(problem.name): the restore created its target")
                #expect(!FileManager.default.fileExists(atPath: fetched), "\(problem.name): wal-fetch wrote its destination")
            }
            #expect(try await !fixture.archivedSegments().contains(unpushed), "a refused wal-push stored the segment")
            #expect(try await repository.backupEntries() == backupsBefore, "a refused backup wrote into the repository")
            // A group-readable key file is fine (Kubernetes secrets with fsGroup).
            let groupReadable = try Self.writeKeyFile(key, scratch, "group.key", mode: 0o640)
            let listed = try await PGBackupBinary.run(["list"], environment: fixture.environment.merging(["PGBACKUP_ENCRYPTION_KEY_FILE": groupReadable]) { $1 })
            #expect(listed.status == 0 && listed.standardOutput.contains(backup.id.description), "\(listed.standardError)")

            // A key for a plaintext repository: refused, nothing written.
            let plain = try await TestRepository.make(kind, in: scratch, name: "plain")
            let plainEnvironment = plain.environment.merging(["PGBACKUP_CONNINFO": fixture.conninfo, "PGBACKUP_SPOOL": scratch.path + "/spool-plain"]) { $1 }
            let created = try await PGBackupBinary.run(["init"], environment: plainEnvironment)
            try #require(created.status == 0, "\(created.standardError)")
            let keyed = plainEnvironment.merging(["PGBACKUP_ENCRYPTION_KEY_FILE": keyFile]) { $1 }
            for arguments in [["restore", "--pgdata", scratch.path + "/target-plain"], ["wal-push", unpushedPath], ["backup"], ["init"]] {
                let result = try await PGBackupBinary.run(arguments, environment: keyed)
                #expect(result.status == 1 && result.standardError.contains("not encrypted"), "plaintext, \(arguments[0]): \(result.standardError)")
            }
            #expect(!FileManager.default.fileExists(atPath: scratch.path + "/target-plain"))
            #expect(try await plain.keys(under: "main/").filter { $0 != RepositoryLayout(server: "main").info }.isEmpty, "written into the plaintext repository")
            // init with another key on the encrypted repository: refused too.
            let reinit = try await PGBackupBinary.run(["init"], environment: fixture.environment.merging(["PGBACKUP_ENCRYPTION_KEY_FILE": problems[1].keyFile!]) { $1 })
            #expect(reinit.status == 1 && reinit.standardError.contains(wrongKey.id), "\(reinit.standardError)")

            try await Self.expectDamageFailsClosed(fixture, backup: backup, segments: pushed)

            // A timeline history file (what a promotion archives) is stored encrypted too, and
            // wal-fetch gives it back as it was.
            let history = try Self.writeFile(Data("1\t0/FF000000\t\(Self.marker)\n".utf8), scratch, "00000002.history")
            let pushedHistory = try await PGBackupBinary.run(["wal-push", history], environment: fixture.environment)
            try #require(pushedHistory.status == 0, "\(pushedHistory.standardError)")
            let historyKey = try #require(try await repository.keys(under: "main/wal/").first { $0.contains("00000002.history") })
            let storedHistory = try await repository.store.get(historyKey)
            #expect(storedHistory.starts(with: EncryptedObjectFormat.tag) && !Self.readableViews(storedHistory).contains(where: Self.holdsMarker))
            let fetchedHistory = scratch.path + "/fetched.history"
            let fetched = try await PGBackupBinary.run(["wal-fetch", "00000002.history", fetchedHistory], environment: fixture.environment)
            #expect(fetched.status == 0 && FileManager.default.contents(atPath: fetchedHistory) == FileManager.default.contents(atPath: history))
        }
    }

    /// A flipped byte, an object cut short (at a frame boundary when it has several frames) and
    /// two objects swapped under each other's names: restore, wal-fetch and verify fail (exit 1)
    /// naming the object, wal-fetch writes no file, a damaged backup.json stops the restore before
    /// it creates its target; once the objects are put back, verify passes again.
    static func expectDamageFailsClosed(_ fixture: DaemonFixture, backup: BackupSummary, segments: [WALSegmentName]) async throws {
        let repository = fixture.repository
        let store = try repository.store
        let scratch = fixture.scratch
        let layout = WALArchiveLayout(repository: RepositoryLayout(server: "main"))
        var segmentKeys: [String] = []
        for segment in segments {
            segmentKeys.append(try #require(try await repository.keys(under: layout.segmentKeyPrefix(segment)).first { $0.hasSuffix(".zst") }))
        }
        let chunkInfos = try await store.list(prefix: "main/chunks/").sorted { $0.size > $1.size }
        try #require(chunkInfos.count >= 2, "\(chunkInfos.map(\.key))")
        let chunk = chunkInfos[0].key
        let manifest = BackupLayout(repository: RepositoryLayout(server: "main")).manifestKey(backup.id)
        func fileName(_ key: String) -> String { String(key.split(separator: "/").last!) }
        func fetchFails(_ segment: WALSegmentName, _ what: String) async throws {
            let destination = scratch.path + "/fetched-\(what)"
            let fetched = try await PGBackupBinary.run(["wal-fetch", segment.name, destination], environment: fixture.environment)
            #expect(fetched.status == 1, "\(what): wal-fetch \(segment.name): \(fetched.standardError)")
            #expect(fetched.standardError.contains(segment.name), "\(what): \(fetched.standardError)")
            #expect(!FileManager.default.fileExists(atPath: destination), "\(what): wal-fetch wrote \(destination)")
        }
        func verifyFails(naming keys: [String], _ what: String) async throws {
            let (report, run) = try await VerifyEndToEndTests.verify(fixture)
            #expect(run.status == 1 && report?.ok == false, "\(what): \(run.standardOutput) \(run.standardError)")
            for key in keys {
                #expect(report?.errors.contains { $0.object.contains(fileName(key)) } == true, "\(what): \(key) not named: \(run.standardOutput)")
            }
        }

        // A flipped byte in backup.json: the restore stops before it creates its target.
        var original = try await repository.damage(manifest)
        let noManifest = try await PGBackupBinary.run(["restore", "--pgdata", scratch.path + "/target-manifest"], environment: fixture.environment)
        #expect(noManifest.status == 1, "\(noManifest.standardError)")
        #expect(!FileManager.default.fileExists(atPath: scratch.path + "/target-manifest"))
        try await store.put(manifest, bytes: original)

        // A flipped byte in a chunk: verify names it; the restore fails naming it and cannot start.
        original = try await repository.damage(chunk, at: 0.7, mask: 0x01)
        try await verifyFails(naming: [chunk], "flipped byte")
        let flipped = try await PGBackupBinary.run(["restore", "--pgdata", scratch.path + "/target-flipped"], environment: fixture.environment)
        #expect(flipped.status == 1 && flipped.standardError.contains(String(fileName(chunk).prefix(64))), "\(flipped.standardError)")
        #expect(!FileManager.default.fileExists(atPath: scratch.path + "/target-flipped/global/pg_control"))
        try await store.put(chunk, bytes: original)

        // Cut short: the chunk at its last frame boundary (or in half), a segment by its last bytes.
        let frame = EncryptedObjectFormat.frameSize + EncryptedObjectFormat.tagSize
        let frames = (original.count - EncryptedObjectFormat.headerSize - 1) / frame
        #expect(frames > 0, "the largest chunk (\(original.count) bytes) has one frame: no frame boundary to cut at")
        let cut = frames > 0 ? EncryptedObjectFormat.headerSize + frames * frame : original.count / 2
        try await store.put(chunk, bytes: Array(original[..<cut]))
        let segmentOriginal = try await store.get(segmentKeys[0])
        try await store.put(segmentKeys[0], bytes: Array(segmentOriginal.dropLast(7)))
        try await verifyFails(naming: [chunk, segmentKeys[0]], "truncated")
        try await fetchFails(segments[0], "truncated")
        try await store.put(chunk, bytes: original)
        try await store.put(segmentKeys[0], bytes: segmentOriginal)

        // Swapped: two segments and two chunks, each stored under the other's name.
        let otherChunk = chunkInfos[1].key
        let otherChunkOriginal = try await store.get(otherChunk)
        let otherSegmentOriginal = try await store.get(segmentKeys[1])
        try await store.put(chunk, bytes: otherChunkOriginal)
        try await store.put(otherChunk, bytes: original)
        try await store.put(segmentKeys[0], bytes: otherSegmentOriginal)
        try await store.put(segmentKeys[1], bytes: segmentOriginal)
        try await verifyFails(naming: [chunk, otherChunk, segmentKeys[0], segmentKeys[1]], "swapped")
        try await fetchFails(segments[0], "swapped-0")
        try await fetchFails(segments[1], "swapped-1")
        try await store.put(chunk, bytes: original)
        try await store.put(otherChunk, bytes: otherChunkOriginal)
        try await store.put(segmentKeys[0], bytes: segmentOriginal)
        try await store.put(segmentKeys[1], bytes: otherSegmentOriginal)

        // Put back: healthy again, and wal-fetch gives the server's segment.
        let (report, run) = try await VerifyEndToEndTests.verify(fixture)
        #expect(run.status == 0 && report?.ok == true, "\(run.standardOutput) \(run.standardError)")
        #expect(try await fixture.fetchedMatchesServer(segments[0]))
    }

    /// No stored object holds the marker, as stored or through zstd or gzip; every object but
    /// repository.json is in the encrypted format; yet decrypted with the key, WAL and chunks do
    /// hold it (the search can find it), and no chunk is named by its content's SHA-256.
    static func expectNothingReadableAtRest(_ repository: TestRepository, key: EncryptionKey) async throws {
        let infoKey = RepositoryLayout(server: "main").info
        let stored = try await storedObjects(repository)
        #expect(stored.contains { $0.key.hasPrefix("main/chunks/") } && stored.contains { $0.key.hasPrefix("main/wal/") })
        for object in stored {
            #expect(!readableViews(object.bytes).contains(where: holdsMarker), "\(object.key) holds the marker readable")
            if object.key != infoKey {
                #expect(object.bytes.starts(with: EncryptedObjectFormat.tag), "\(object.key) is not in the encrypted format")
            }
        }
        // The control: the same search finds the marker in the decrypted content.
        let opened = try await open(repository, key: key)
        var holding: [String] = []
        var chunks = 0
        for object in stored where object.key != infoKey {
            let plain = content(ofDecrypted: try await opened.store.get(object.key), key: object.key)
            if holdsMarker(plain) { holding.append(object.key) }
            guard object.key.hasPrefix("main/chunks/") else { continue }
            chunks += 1
            let name = String(object.key.split(separator: "/").last!.split(separator: ".").first!)
            #expect(name.count == 64 && name.allSatisfy(\.isHexDigit), "\(object.key)")
            #expect(name != SHA256Hasher.hash(plain).description, "\(object.key) is named by its content's SHA-256")
        }
        #expect(chunks > 0)
        #expect(holding.contains { $0.hasPrefix("main/wal/") } && holding.contains { $0.hasPrefix("main/chunks/") }, "\(holding)")
    }
}
