import Foundation
import PGBackupFoundations
import PGBackupStorage
import Testing
@testable import PGBackupRepository

/// Opening, creating and rekeying repositories with client-side encryption (issue #15), and
/// keyed chunk names through the chunk store, its index and the sweep.
@Suite("Repository encryption")
struct RepositoryEncryptionTests {
    static let info = RepositoryInfo(
        server: "main", systemIdentifier: 7_311_234_567_890_123_456, postgresVersionNumber: 150_018,
        walSegmentSize: 16_777_216, createdBy: "test")

    /// `body` throws a `RepositoryError` that `matches`, and its description shows no key.
    func expectRefusal(
        _ keys: [EncryptionKey], _ body: () async throws -> Void, _ matches: (RepositoryError) -> Bool,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async {
        do {
            try await body()
            Issue.record("no error", sourceLocation: sourceLocation)
        } catch let error as RepositoryError {
            #expect(matches(error), "\(error)", sourceLocation: sourceLocation)
            for key in keys {
                #expect(!"\(error)".contains(String(decoding: key.fileContents.dropLast(), as: UTF8.self)), sourceLocation: sourceLocation)
            }
        } catch {
            Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
        }
    }

    @Test func openDecidesFromRepositoryJSONAndFailsClosed() async throws {
        let key = EncryptionKey.random()
        let other = EncryptionKey.random()

        // No repository.json: plaintext without a key (commands fail as on any new repository),
        // refused with one.
        let empty = MemoryObjectStore()
        #expect(try await Repository.open(store: empty, server: "main", key: nil).keyID == nil)
        await expectRefusal([key], { _ = try await Repository.open(store: empty, server: "main", key: key) }) {
            $0 == .notInitializedWithKey(server: "main", location: empty.location, keyID: key.id)
        }

        // A plaintext repository: opens without a key, refuses one.
        let plaintext = MemoryObjectStore()
        let created = try await Repository.initialize(store: plaintext, info: Self.info, key: nil)
        #expect(created.outcome == .created(Self.info) && created.repository.keyID == nil && created.repository.encryption == "none")
        let plainJSON = String(decoding: try await plaintext.get("main/repository.json"), as: UTF8.self)
        #expect(plainJSON.contains("\"formatVersion\" : 1") && !plainJSON.contains("encryptionKey"))
        #expect(try await Repository.open(store: plaintext, server: "main", key: nil).store is MemoryObjectStore)
        await expectRefusal([key], { _ = try await Repository.open(store: plaintext, server: "main", key: key) }) {
            $0 == .keyForPlaintextRepository(server: "main", location: plaintext.location, keyID: key.id)
        }

        // An encrypted repository: its repository.json holds the wrapped data key and the key's
        // id, never a key, and says formatVersion 2.
        let encrypted = MemoryObjectStore()
        let made = try await Repository.initialize(store: encrypted, info: Self.info, key: key)
        guard case .created(let stored) = made.outcome else { Issue.record("not created"); return }
        #expect(stored.formatVersion == 2 && stored.encryption == "aes-256-gcm" && stored.encryptionKey?.keyID == key.id)
        #expect(Data(base64Encoded: stored.encryptionKey?.wrappedDataKey ?? "")?.count == 60)
        #expect(made.repository.keyID == key.id && made.repository.encryption == "aes-256-gcm" && made.repository.store is EncryptedObjectStore)
        let json = String(decoding: try await encrypted.get("main/repository.json"), as: UTF8.self)
        #expect(!json.contains(String(decoding: key.fileContents.dropLast(), as: UTF8.self)))

        await expectRefusal([], { _ = try await Repository.open(store: encrypted, server: "main", key: nil) }) {
            $0 == .keyRequired(server: "main", location: encrypted.location, repositoryKeyID: key.id)
        }
        await expectRefusal([key, other], { _ = try await Repository.open(store: encrypted, server: "main", key: other) }) {
            $0 == .wrongKey(server: "main", location: encrypted.location, repositoryKeyID: key.id, configuredKeyID: other.id)
                && "\($0)".contains(key.id) && "\($0)".contains(other.id)
        }
        let opened = try await Repository.open(store: encrypted, server: "main", key: key)
        #expect(opened.keyID == key.id && opened.store is EncryptedObjectStore)

        // What one opening writes, another reads; at rest it is not the plaintext.
        let marker = Array("distinctive-marker-0xC0FFEE ".utf8)
        let content = (0..<2000).flatMap { _ in marker }
        try await made.repository.store.put("main/wal/probe", bytes: content)
        #expect(try await opened.store.get("main/wal/probe") == content)
        let raw = try await encrypted.get("main/wal/probe")
        #expect(raw.count > content.count && raw.firstRange(of: marker) == nil)

        // A changed wrapped key, or one copied into another server's repository.json, does not open.
        var tampered = stored
        var wrapped = Array(Data(base64Encoded: stored.encryptionKey!.wrappedDataKey)!)
        wrapped[20] ^= 1
        tampered.encryptionKey!.wrappedDataKey = Data(wrapped).base64EncodedString()
        try await encrypted.put("main/repository.json", bytes: try RepositoryJSON.encode(tampered))
        await expectRefusal([key], { _ = try await Repository.open(store: encrypted, server: "main", key: key) }) {
            $0 == .dataKeyUnwrapFailed(server: "main", location: encrypted.location, keyID: key.id)
        }
        var copied = stored
        copied.server = "other"
        try await encrypted.put("other/repository.json", bytes: try RepositoryJSON.encode(copied))
        await expectRefusal([key], { _ = try await Repository.open(store: encrypted, server: "other", key: key) }) {
            $0 == .dataKeyUnwrapFailed(server: "other", location: encrypted.location, keyID: key.id)
        }

        // "aes-256-gcm" without a wrapped key is damage, not a plaintext repository.
        var stripped = stored
        stripped.encryptionKey = nil
        try await encrypted.put("main/repository.json", bytes: try RepositoryJSON.encode(stripped))
        await expectRefusal([], { _ = try await Repository.open(store: encrypted, server: "main", key: nil) }) {
            if case .corrupt = $0 { return true } else { return false }
        }
    }

    @Test func initializeOnAnExistingRepositoryDecidesAsOpenDoes() async throws {
        let key = EncryptionKey.random()
        let store = MemoryObjectStore()
        let first = try await Repository.initialize(store: store, info: Self.info, key: key).repository
        let before = try await store.get("main/repository.json")
        await expectRefusal([], { _ = try await Repository.initialize(store: store, info: Self.info, key: nil) }) {
            if case .keyRequired = $0 { return true } else { return false }
        }
        await expectRefusal([key], { _ = try await Repository.initialize(store: store, info: Self.info, key: EncryptionKey.random()) }) {
            if case .wrongKey = $0 { return true } else { return false }
        }
        let again = try await Repository.initialize(store: store, info: Self.info, key: key)
        guard case .alreadyInitialized = again.outcome else { Issue.record("\(again.outcome)"); return }
        // Nothing rewritten: the same data key (no fresh one) reads what the first wrote.
        #expect(try await store.get("main/repository.json") == before)
        try await first.store.put("main/probe", bytes: [1, 2, 3])
        #expect(try await again.repository.store.get("main/probe") == [1, 2, 3])

        let plaintext = MemoryObjectStore()
        _ = try await Repository.initialize(store: plaintext, info: Self.info, key: nil)
        await expectRefusal([key], { _ = try await Repository.initialize(store: plaintext, info: Self.info, key: key) }) {
            if case .keyForPlaintextRepository = $0 { return true } else { return false }
        }
    }

    /// Concurrent inits of one empty repository: exactly one creates `repository.json`; the
    /// others open what it wrote, so every repository handed out reads what any other wrote.
    /// (With a plain put the last writer won, and the others went on with data keys that no
    /// `repository.json` held.)
    @Test(arguments: ["memory", "file"])
    func concurrentInitsCreateOneRepositoryAndAllUseIt(kind: String) async throws {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("pgbackup-init-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let store: any ObjectStore = kind == "memory" ? MemoryObjectStore() : try FileObjectStore(root: scratch, create: true)
        let key = EncryptionKey.random()
        let results = try await withThrowingTaskGroup(of: (Repository, Repository.Initialization).self) { group in
            for _ in 0..<8 { group.addTask { try await Repository.initialize(store: store, info: Self.info, key: key) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        let created = results.filter { if case .created = $0.1 { return true } else { return false } }
        #expect(created.count == 1, "\(created.count) inits each created the repository")
        for (index, (repository, _)) in results.enumerated() {
            try await repository.store.put("main/probe-\(index)", bytes: [UInt8(index)])
        }
        let reopened = try await Repository.open(store: store, server: "main", key: key)
        for index in results.indices {
            #expect(try await reopened.store.get("main/probe-\(index)") == [UInt8(index)])
        }
    }

    @Test func rotationRewrapsOnlyRepositoryJSONAndRetiresTheOldKey() async throws {
        let old = EncryptionKey.random()
        let new = EncryptionKey.random()
        let store = MemoryObjectStore()
        let repository = try await Repository.initialize(store: store, info: Self.info, key: old).repository
        let content = Array(repeating: UInt8(7), count: 100_000)
        try await repository.store.put("main/backups/x/backup.json", bytes: content)
        let objectBefore = try await store.get("main/backups/x/backup.json")

        // Neither a wrong current key nor none may rotate.
        await expectRefusal([old, new], { _ = try await Repository.rotateKey(store: store, server: "main", current: new, new: old) }) {
            $0 == .wrongKey(server: "main", location: store.location, repositoryKeyID: old.id, configuredKeyID: new.id)
        }
        await expectRefusal([], { _ = try await Repository.rotateKey(store: store, server: "main", current: nil, new: new) }) {
            if case .keyRequired = $0 { return true } else { return false }
        }

        let rotation = try await Repository.rotateKey(store: store, server: "main", current: old, new: new)
        #expect(rotation == .init(oldKeyID: old.id, newKeyID: new.id, changed: true))
        #expect(try await store.get("main/backups/x/backup.json") == objectBefore)
        await expectRefusal([old], { _ = try await Repository.open(store: store, server: "main", key: old) }) {
            $0 == .wrongKey(server: "main", location: store.location, repositoryKeyID: new.id, configuredKeyID: old.id)
        }
        let reopened = try await Repository.open(store: store, server: "main", key: new)
        #expect(try await reopened.store.get("main/backups/x/backup.json") == content)
        #expect(reopened.keyID == new.id)

        // The same key again writes nothing.
        let json = try await store.get("main/repository.json")
        #expect(try await Repository.rotateKey(store: store, server: "main", current: new, new: new).changed == false)
        #expect(try await store.get("main/repository.json") == json)

        // A plaintext repository has no key to rotate.
        let plaintext = MemoryObjectStore()
        _ = try await Repository.initialize(store: plaintext, info: Self.info, key: nil)
        await expectRefusal([], { _ = try await Repository.rotateKey(store: plaintext, server: "main", current: old, new: new) }) {
            $0 == .notEncrypted(server: "main", location: plaintext.location)
        }
    }

    @Test func chunkNamesAreKeyedAndStillDeduplicate() async throws {
        let key = EncryptionKey.random()
        let store = MemoryObjectStore()
        let repository = try await Repository.initialize(store: store, info: Self.info, key: key).repository
        let chunks = ChunkStore(repository: repository, compression: .zstd(level: 1))
        let bytes = relationBytes(pages: 8, seed: 3)
        let sha256 = SHA256Hasher.hash(bytes)
        let ref = try await chunks.store(bytes)
        #expect(ref.new && ref.sha256 == sha256)
        let keys = try await store.list(prefix: "main/chunks/").map(\.key)
        #expect(keys.count == 1)
        #expect(!keys[0].contains(sha256.description))
        guard case .keyed(let nameKey) = repository.chunkNaming else { Issue.record("not keyed"); return }
        let name = nameKey.authenticationCode(of: sha256.bytes)
        #expect(keys == [repository.layout.chunksPrefix + name.description.prefix(2) + "/" + name.description + ".zst"])

        // Deduplicated by name, with and without the listed index; fetched back by content digest.
        #expect(try await chunks.store(bytes).new == false)
        let index = try await ChunkIndex.load(repository)
        #expect(index.entry(name)?.algorithm == .zstd && index.entry(sha256) == nil)
        #expect(try await ChunkStore(repository: repository, compression: .zstd(level: 1), index: index).store(bytes).new == false)
        #expect(try await chunks.contains(sha256))
        #expect(try await chunks.fetch(ref) == bytes)

        // Another repository's data key names the same content differently; a plaintext one by its digest.
        let elsewhere = try await Repository.initialize(store: MemoryObjectStore(), info: Self.info, key: key).repository
        #expect(elsewhere.chunkNaming.name(of: sha256) != name)
        #expect(ChunkNaming.contentDigest.name(of: sha256) == sha256)
    }

    @Test func theSweepMarksTheKeyedNamesOfReferencedChunks() async throws {
        let store = MemoryObjectStore()
        let repository = try await Repository.initialize(store: store, info: Self.info, key: EncryptionKey.random()).repository
        let chunks = ChunkStore(repository: repository, compression: .zstd(level: 1))
        // sampleManifest references the chunk "chunk" and the pack "pack".
        _ = try await chunks.store(Array("chunk".utf8))
        _ = try await chunks.store(Array("pack".utf8))
        let orphan = try await chunks.store(Array("orphan".utf8))
        let catalog = BackupCatalog(repository: repository)
        try await catalog.commit(sampleManifest(id: try BackupID(parsing: "20261122T101500Z")))
        let found = try await ChunkSweep(catalog: catalog).candidates(modifiedBefore: Date().addingTimeInterval(3600))
        #expect(found.referenced == 2)
        #expect(found.unreferenced.map(\.key) == [chunks.key(of: orphan.sha256, .zstd)])
    }
}
