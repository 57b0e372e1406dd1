import Foundation
import PGBackupFoundations
import Testing
@testable import PGBackupStorage

/// Group commit of file:// puts (issue 16): inside a `DeferredDurability` batch a committed put
/// stays invisible until the batch flushes (by `flush()` or by reaching its limit); it is never
/// visible before its content was fsync'd, and a batch dropped without a flush leaves nothing.
@Suite("file:// driver: deferred durability (group commit)")
struct DeferredDurabilityTests {
    let root = FileManager.default.temporaryDirectory.path + "/pgbackup-deferred-\(UUID().uuidString)"

    func temporaryFiles(under directory: String) -> [String] {
        let walker = FileManager.default.enumerator(atPath: directory)
        var found: [String] = []
        while let path = walker?.nextObject() as? String {
            if path.split(separator: "/").last!.hasPrefix(".pgbackup-tmp.") { found.append(path) }
        }
        return found.sorted()
    }

    @Test func putsInABatchAppearOnlyWhenItFlushesAndThenAllTogether() async throws {
        defer { try? FileManager.default.removeItem(atPath: root) }
        let store = try FileObjectStore(root: root, create: true)
        let batch = DeferredDurability(limit: 100)
        let keys = (0..<5).map { "main/chunks/\(String(format: "%02x", $0 * 37))/chunk-\($0)" }
        try await DeferredDurability.$current.withValue(batch) {
            for (index, key) in keys.enumerated() {
                let info = try await store.put(key, bytes: Array(repeating: UInt8(index), count: 1000 + index))
                #expect(info.size == Int64(1000 + index))
            }
        }
        // Committed, not visible: neither by name nor in a listing; each waits as a temporary file.
        for key in keys {
            #expect(try await !store.exists(key), "\(key) visible before the flush")
        }
        #expect(try await store.list(prefix: "main/").isEmpty)
        #expect(temporaryFiles(under: root).count == keys.count)
        #expect(batch.pendingCount == keys.count)

        // A put outside the batch is visible at once, as always.
        try await store.put("main/backups/b/backup.json", bytes: [1])
        #expect(try await store.exists("main/backups/b/backup.json"))

        try await batch.flush()
        #expect(batch.pendingCount == 0 && batch.flushedCount == keys.count)
        for (index, key) in keys.enumerated() {
            #expect(try await store.get(key) == Array(repeating: UInt8(index), count: 1000 + index))
        }
        #expect(temporaryFiles(under: root).isEmpty)
        try await batch.flush()  // nothing left: a no-op
        #expect(batch.flushedCount == keys.count)
    }

    @Test func theCommitThatFillsTheBatchFlushesIt() async throws {
        defer { try? FileManager.default.removeItem(atPath: root) }
        let store = try FileObjectStore(root: root, create: true)
        let batch = DeferredDurability(limit: 3)
        try await DeferredDurability.$current.withValue(batch) {
            try await store.put("a/1", bytes: [1])
            try await store.put("b/2", bytes: [2])
            #expect(try await !store.exists("a/1"))
            #expect(try await !store.exists("b/2"))
            try await store.put("c/3", bytes: [3])
            // The third reached the limit: all three are in place.
            #expect(try await store.list(prefix: "").map(\.key) == ["a/1", "b/2", "c/3"])
            try await store.put("d/4", bytes: [4])
            #expect(try await !store.exists("d/4"))
        }
        #expect(batch.flushedCount == 3 && batch.pendingCount == 1)
        try await batch.flush()
        #expect(try await store.get("d/4") == [4])
    }

    @Test func aBatchDroppedWithoutAFlushLeavesNothing() async throws {
        defer { try? FileManager.default.removeItem(atPath: root) }
        let store = try FileObjectStore(root: root, create: true)
        do {
            let batch = DeferredDurability()
            try await DeferredDurability.$current.withValue(batch) {
                try await store.put("main/chunks/aa/x", bytes: [9, 9])
                try await store.put("main/chunks/bb/y", bytes: [8])
            }
            withExtendedLifetime(batch) {
                #expect(temporaryFiles(under: root).count == 2)
            }
        }
        // The batch is gone (a failed backup): its puts never appear, their files are removed.
        #expect(try await store.list(prefix: "").isEmpty)
        #expect(temporaryFiles(under: root).isEmpty)
    }

    @Test func tasksStartedInsideTheBindingJoinTheBatch() async throws {
        defer { try? FileManager.default.removeItem(atPath: root) }
        let store = try FileObjectStore(root: root, create: true)
        let batch = DeferredDurability()
        try await DeferredDurability.$current.withValue(batch) {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for job in 0..<4 {
                    group.addTask { try await store.put("jobs/\(job)", bytes: [UInt8(job)]) }
                }
                try await group.waitForAll()
            }
        }
        #expect(batch.pendingCount == 4)
        #expect(try await store.list(prefix: "jobs/").isEmpty)
        try await batch.flush()
        #expect(try await store.list(prefix: "jobs/").map(\.key) == ["jobs/0", "jobs/1", "jobs/2", "jobs/3"])
    }
}
