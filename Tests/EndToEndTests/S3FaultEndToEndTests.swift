import Foundation
import Synchronization
import Testing
import PGBackupFoundations
@testable import PGBackupRepository
import PGBackupStorage
import PGBackupTestSupport

#if canImport(Glibc)
import Glibc
#endif

/// The binary against S3 through a network that fails about one request in five (dropped
/// connections, 500 InternalError, 503 SlowDown), injected by a `FaultProxy` in front of moto.
@Suite("pgbackup on S3 through a failing network, end to end", .serialized)
struct S3FaultEndToEndTests {
    @Test func aWALStreamAndABackupUnderLoadRestoreTheRightRowsAndNothingStoredIsCorrupt() async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let moto = try await MotoServer.shared()
        let proxy = try FaultProxy(upstreamPort: moto.port, plan: .init(every: 5, rotation: [.drop, .internalError, .slowDown]))
        defer { proxy.stop() }
        try await withPostgresCluster(DaemonFixture.options) { cluster in
            // init, the daemon, backup, restore and the restored server's wal-fetch all go
            // through the proxy; the checks below read moto directly.
            let fixture = try await DaemonFixture(.s3, cluster: cluster, scratch: scratch, s3Endpoint: proxy.endpoint)
            let watcher = CorruptionWatcher(store: try fixture.repository.store)
            let watching = Task { await watcher.watch() }
            defer { watching.cancel() }

            let daemon = try fixture.startDaemon()
            defer { daemon.send(SIGKILL) }
            try await cluster.waitUntil("the daemon streams", timeout: .seconds(60)) {
                try await cluster.sql("SELECT count(*) FROM pg_stat_replication WHERE application_name = 'pgbackup'").contains("1")
            }
            let initialized = try await cluster.pgbench(["-i", "-s", "2", "-q"])
            try #require(initialized.succeeded, "\(initialized.standardError)")
            async let load = cluster.pgbench(["-c", "4", "-T", "10", "-n"])
            try await Task.sleep(for: .seconds(2))
            let backup = try await backupSummary(fixture, ["--jobs", "2"])
            let loaded = try await load
            #expect(loaded.succeeded, "\(loaded.standardError)")

            let expected = try await Self.fingerprint(cluster)
            let last = try await fixture.switchSegment()
            try await fixture.waitForArchive(of: last, daemon: daemon, timeout: .seconds(180))
            daemon.send(SIGTERM)
            let stopped = try await daemon.wait(timeout: .seconds(60))
            #expect(stopped.status == 0 && !stopped.terminatedBySignal, "daemon log: \(stopped.standardError.suffix(3000))")
            // Its debug log, through all those failures, never shows the secret.
            #expect(!stopped.standardError.contains(moto.secretAccessKey) && !stopped.standardOutput.contains(moto.secretAccessKey))

            let faults = proxy.injectedFaults
            print("fault proxy: \(proxy.requestCount) requests, \(faults.count) failed on purpose")
            #expect(faults.count >= 20, "too few requests went through the proxy to mean much: \(proxy.requestCount)")
            #expect(Set(faults) == [.drop, .internalError, .slowDown])

            // The WAL from the backup's start to the switch is all there, on one timeline, and
            // every segment the server still has is what the repository gives back.
            let segments = try await fixture.archivedSegments().filter { $0 <= last }
            let first = try WALSegmentName(parsing: backup.wal.start, segmentSize: DaemonFixture.segmentSize)
            #expect(isContiguous(segments), "a gap: \(segments.map(\.name))")
            #expect(segments.contains(first) && segments.last == last)
            let archive = WALArchive(repository: try fixture.repository.mainServer, segmentSize: DaemonFixture.segmentSize, compression: .default)
            var compared = 0
            for segment in segments {
                guard let original = FileManager.default.contents(atPath: cluster.dataDirectory + "/pg_wal/" + segment.name) else { continue }
                let fetched = scratch.path + "/fetched"
                try await archive.fetch(segment.name, to: fetched)
                #expect(FileManager.default.contents(atPath: fetched) == original, "segment \(segment.name) differs from the server's")
                try FileManager.default.removeItem(atPath: fetched)
                compared += 1
            }
            #expect(compared >= 10)

            // Every object in the repository verifies against its seal (chunks against their
            // names too), now and whenever the watcher looked while they were being written.
            watching.cancel()
            _ = await watching.value
            let verified = try await verifyEverything(fixture.repository)
            #expect(verified > 20)
            let seen = watcher.report()
            #expect(seen.corrupt.isEmpty, "corrupt objects were visible: \(seen.corrupt)")
            print("verified \(verified) objects at the end; the watcher verified \(seen.verified) while they were written")

            // The latest restore, through the proxy, holds exactly the primary's rows.
            let directory = scratch.path + "/restored"
            let restored = try await PGBackupBinary.run(["restore", "--pgdata", directory], environment: fixture.environment, timeout: .seconds(300))
            try #require(restored.status == 0, "restore: \(restored.standardError)")
            #expect(!(restored.standardOutput + restored.standardError).contains(moto.secretAccessKey))
            let server = try await PostgresCluster.start(
                existingDataDirectory: directory, ownedTrees: [directory + ".pgbackup.yaml"], .init(name: "restored-faults"))
            do {
                try await server.waitUntil("recovery ends", timeout: .seconds(180)) {
                    try await server.sql("SELECT pg_is_in_recovery()") == "f"
                }
                #expect(try await Self.fingerprint(server) == expected)
                await server.destroy()
            } catch {
                let log = server.logTail(lines: 30)
                await server.destroy()
                throw FixtureError("\(error)\nrestored server's log:\n\(log)")
            }
        }
    }

    /// Row counts and balances of the pgbench tables: equal only if every transaction is there.
    static func fingerprint(_ server: PostgresCluster) async throws -> [String] {
        try await server.rows("""
            SELECT (SELECT count(*) FROM pgbench_accounts), (SELECT sum(abalance) FROM pgbench_accounts),
                   (SELECT count(*) FROM pgbench_history), (SELECT coalesce(sum(delta), 0) FROM pgbench_history),
                   (SELECT sum(bbalance) FROM pgbench_branches), (SELECT sum(tbalance) FROM pgbench_tellers)
            """)[0]
    }
}

/// How a stored object is sealed, from its key: by its extension (`zst`, `gz`, `raw`), else raw
/// (history files, backup.json, markers). nil for `repository.json`, the one unsealed document.
func sealAlgorithm(ofKey key: String) -> CompressionAlgorithm? {
    if key.hasSuffix("/repository.json") { return nil }
    let name = key.split(separator: "/").last ?? ""
    guard let dot = name.lastIndex(of: ".") else { return CompressionAlgorithm.none }
    return (try? CompressionAlgorithm(fileExtension: name[name.index(after: dot)...])) ?? CompressionAlgorithm.none
}

/// Reads one object through the repository's sealed-object reader. A chunk's seal must also
/// name the digest its key does. Throws `SealError` for a damaged object.
func verifyObject(_ key: String, in store: any ObjectStore) async throws {
    guard let algorithm = sealAlgorithm(ofKey: key) else {
        // repository.json: readable JSON is all there is to check.
        _ = try JSONSerialization.jsonObject(with: Data(try await store.get(key)))
        return
    }
    let seal = try await SealedObjects(store: store).verify(key: key, algorithm: algorithm)
    if key.contains("/chunks/") {
        let name = key.split(separator: "/").last.map { String($0.prefix { $0 != "." }) } ?? ""
        #expect(seal.sha256.description == name, "chunk \(key) holds content with SHA-256 \(seal.sha256)")
    }
}

/// Verifies every object in the repository; returns how many.
func verifyEverything(_ repository: TestRepository) async throws -> Int {
    let store = try repository.store
    let keys = try await store.list(prefix: "").map(\.key)
    for key in keys {
        do {
            try await verifyObject(key, in: store)
        } catch StorageError.notFound {
            continue  // removed since the listing (a partial segment replaced by its whole one)
        }
    }
    return keys.count
}

/// Lists the repository over and over while it is being written, and verifies every object as
/// it appears (and every new version of a partial segment): a reader must never see an object
/// that is incomplete or damaged, even for a moment.
final class CorruptionWatcher: Sendable {
    struct Report: Sendable {
        var verified = 0
        var corrupt: [String] = []
    }

    private let store: any ObjectStore
    private let state = Mutex(Report())

    init(store: any ObjectStore) { self.store = store }

    func report() -> Report { state.withLock { $0 } }

    func watch() async {
        var seen = Set<String>()
        while !Task.isCancelled {
            let objects = (try? await store.list(prefix: "")) ?? []
            for object in objects {
                let version = "\(object.key) \(object.size) \(object.modified.timeIntervalSince1970)"
                guard !seen.contains(version), !Task.isCancelled else { continue }
                do {
                    try await verifyObject(object.key, in: store)
                    seen.insert(version)
                    state.withLock { $0.verified += 1 }
                } catch let error as SealError {
                    state.withLock { $0.corrupt.append("\(error)") }
                    seen.insert(version)
                } catch {
                    // Gone or replaced while being read (a partial segment): look again next round.
                }
            }
            try? await Task.sleep(for: .milliseconds(500))
        }
    }
}
