import Foundation
import Testing
import PGBackupStorage
@testable import PGBackupRepository

@Suite("repository.json")
struct RepositoryInfoTests {
    let info = RepositoryInfo(server: "main", systemIdentifier: 7_441_234_567_890_123_456, postgresVersionNumber: 150018,
                              walSegmentSize: 16_777_216, createdAt: Date(timeIntervalSince1970: 1_795_342_500.125),
                              createdBy: "pgbackup test")

    @Test func initializeCreatesThenConfirms() async throws {
        let store = MemoryObjectStore()
        let repository = Repository(store: store, server: "main")
        await #expect(throws: RepositoryError.notInitialized(server: "main", location: "memory://")) {
            try await repository.info()
        }
        guard case .created = try await repository.initialize(info) else { Issue.record("not created"); return }
        var later = info
        later.createdAt = Date(timeIntervalSinceNow: 60)
        let second = try await repository.initialize(later)
        #expect(second == .alreadyInitialized(try await repository.info()))
        #expect(try await repository.info().systemIdentifier == "7441234567890123456")
        #expect(try await store.list(prefix: "").map(\.key) == ["main/repository.json"])
    }

    @Test func anotherClusterIsRefused() async throws {
        let repository = Repository(store: MemoryObjectStore(), server: "main")
        _ = try await repository.initialize(info)
        let other = RepositoryInfo(server: "main", systemIdentifier: 42, postgresVersionNumber: 150018,
                                   walSegmentSize: 16_777_216, createdBy: "x")
        await #expect {
            try await repository.initialize(other)
        } throws: { error in
            let text = "\(error)"
            return text.contains("belongs to database system 7441234567890123456") && text.contains("server is system 42")
        }
        var otherSegments = info
        otherSegments.walSegmentSize = 67_108_864
        await #expect(throws: RepositoryError.segmentSizeMismatch(server: "main", repository: 16_777_216, cluster: 67_108_864)) {
            try await repository.initialize(otherSegments)
        }
    }

    @Test func serversAreSeparate() async throws {
        let store = MemoryObjectStore()
        _ = try await Repository(store: store, server: "a").initialize(info)
        let other = RepositoryInfo(server: "b", systemIdentifier: 42, postgresVersionNumber: 150018, walSegmentSize: 16_777_216, createdBy: "x")
        guard case .created = try await Repository(store: store, server: "b").initialize(other) else { Issue.record("b not created"); return }
        #expect(try await store.list(prefix: "").map(\.key) == ["a/repository.json", "b/repository.json"])
    }

    @Test func newerFormatsAndGarbageAreRefused() async throws {
        let store = MemoryObjectStore()
        let repository = Repository(store: store, server: "main")
        try await store.put("main/repository.json", bytes: Array(#"{"formatVersion": 99}"#.utf8))
        await #expect(throws: RepositoryError.unsupportedFormat(key: "main/repository.json", version: 99)) { try await repository.info() }
        try await store.put("main/repository.json", bytes: Array("garbage".utf8))
        await #expect { try await repository.info() } throws: { "\($0)".contains("not a repository.json document") }
    }

    @Test func theDocumentIsStableJSON() throws {
        let text = String(decoding: try RepositoryJSON.encode(info), as: UTF8.self)
        #expect(text.contains(#""systemIdentifier" : "7441234567890123456""#))
        #expect(text.contains(#""formatVersion" : 1"#))
        #expect(text.contains(#""createdAt" : "2026-11-22T"#) && text.contains(#".125Z""#))
        #expect(try RepositoryJSON.decode(RepositoryInfo.self, from: Array(text.utf8)) == info)
        #expect(info.postgresVersion == "15.18")
    }
}
