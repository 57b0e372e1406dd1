import Foundation
import Testing
@testable import PGBackupStorage

@Suite("file:// driver")
struct FileObjectStoreTests {
    let root = FileManager.default.temporaryDirectory.path + "/pgbackup-file-\(UUID().uuidString)"

    @Test func aMissingRootIsRefusedWithAHint() throws {
        #expect {
            _ = try FileObjectStore(root: root + "/missing")
        } throws: { error in
            "\(error)".contains("does not exist") && "\(error)".contains("pgbackup init")
        }
    }

    @Test func aRelativeRootIsRefused() {
        #expect(throws: StorageError.self) { _ = try FileObjectStore(root: "relative/dir", create: true) }
    }

    @Test func objectsAreFilesAndTemporaryFilesStayInvisible() async throws {
        defer { try? FileManager.default.removeItem(atPath: root) }
        let store = try FileObjectStore(root: root, create: true)
        try await store.put("main/repository.json", bytes: Array("{}".utf8))
        #expect(FileManager.default.contents(atPath: root + "/main/repository.json") == Data("{}".utf8))

        // A crashed writer's leftover: never listed, removed once old enough.
        let leftover = root + "/main/.pgbackup-tmp.seg.123"
        #expect(FileManager.default.createFile(atPath: leftover, contents: Data([1, 2])))
        #expect(try await store.list(prefix: "main/").map(\.key) == ["main/repository.json"])
        #expect(try await store.removeAbandonedTemporaryFiles(olderThan: 3600) == 0)
        #expect(try await store.removeAbandonedTemporaryFiles(olderThan: -1) == 1)
        #expect(!FileManager.default.fileExists(atPath: leftover))
        await #expect(throws: StorageError.self) { try await store.put("main/.pgbackup-tmp.x", bytes: []) }
    }

    @Test func aWriterDroppedWithoutCommitLeavesNothing() async throws {
        defer { try? FileManager.default.removeItem(atPath: root) }
        let store = try FileObjectStore(root: root, create: true)
        do {
            let writer = try await store.writer(for: "dir/obj")
            try await writer.write([1, 2, 3])
        }
        let names = try FileManager.default.contentsOfDirectory(atPath: root + "/dir")
        #expect(names.isEmpty)
    }

    @Test func repositoryLocationsParse() throws {
        #expect(try RepositoryLocation(parsing: "file:///var/lib/pgbackup") == .file(path: "/var/lib/pgbackup"))
        #expect(try RepositoryLocation(parsing: "s3://my-bucket/a/b/") == .s3(bucket: "my-bucket", prefix: "a/b"))
        #expect(try RepositoryLocation(parsing: "s3://my-bucket") == .s3(bucket: "my-bucket", prefix: ""))
        #expect(try RepositoryLocation(parsing: "s3://my-bucket/p").description == "s3://my-bucket/p")
        for bad in ["/var/lib", "file://relative", "s3://Bad_Bucket/x", "s3://", "http://x", "file:///a/../b"] {
            #expect(throws: RepositoryLocationError.self, "\(bad)") { try RepositoryLocation(parsing: bad) }
        }
    }
}
