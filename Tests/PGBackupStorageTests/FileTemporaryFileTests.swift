import Foundation
import PGBackupTestSupport
import Synchronization
import Testing
@testable import PGBackupStorage

#if canImport(Glibc)
import Glibc
#endif

/// The file:// driver's temporary files: a put never meets a dead writer's leftover, and the
/// sweep removes leftovers but never a file that a live writer (here or in another process) holds.
@Suite("file:// driver: temporary files")
struct FileTemporaryFileTests {
    let root = FileManager.default.temporaryDirectory.path + "/pgbackup-tmpfiles-\(UUID().uuidString)"

    func temporaryFiles(in directory: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasPrefix(".pgbackup-tmp.") }.sorted()
    }

    /// In a container the daemon is PID 1 after every restart: a kill -9 during a put leaves the
    /// temporary file that the next run, with the same PID, would name its own.
    @Test func aDeadWritersLeftoverWithTheSamePIDDoesNotBlockAPut() async throws {
        defer { try? FileManager.default.removeItem(atPath: root) }
        let store = try FileObjectStore(root: root, create: true)
        try FileManager.default.createDirectory(atPath: root + "/main/wal", withIntermediateDirectories: true)
        // What a put of the same key by a dead process with our PID left, in the old name scheme
        // (`.<name>.<pid>`) and in the current one (`.<name>.<pid>.<random>`).
        let leftovers = [".pgbackup-tmp.seg.\(getpid())", ".pgbackup-tmp.seg.\(getpid()).0123456789abcdef"]
        for name in leftovers {
            #expect(FileManager.default.createFile(atPath: root + "/main/wal/" + name, contents: Data([1, 2, 3])))
        }
        for round in 0..<3 {
            try await store.put("main/wal/seg", bytes: [UInt8(round)])
            #expect(try await store.get("main/wal/seg") == [UInt8(round)])
        }
        #expect(try temporaryFiles(in: root + "/main/wal") == leftovers.sorted(), "a put leaves only the dead writer's files")
        #expect(try await store.removeAbandonedTemporaryFiles() == 2)
        #expect(try temporaryFiles(in: root + "/main/wal").isEmpty)
        #expect(try await store.list(prefix: "main/").map(\.key) == ["main/wal/seg"])
    }

    /// `EEXIST`: the name is someone else's (a leftover, or a live writer): another name is
    /// tried, and the file found there is left as it was.
    @Test func aTakenTemporaryNameIsSkippedAndLeftAlone() async throws {
        defer { try? FileManager.default.removeItem(atPath: root) }
        final class Suffixes: Sendable {
            let queue = Mutex(["taken", "taken", "free"])
            func next() -> String { queue.withLock { $0.removeFirst() } }
        }
        let suffixes = Suffixes()
        var store = try FileObjectStore(root: root, create: true)
        store.temporarySuffix = { suffixes.next() }
        try FileManager.default.createDirectory(atPath: root + "/dir", withIntermediateDirectories: true)
        let taken = root + "/dir/.pgbackup-tmp.obj.\(getpid()).taken"
        #expect(FileManager.default.createFile(atPath: taken, contents: Data([9])))
        try await store.put("dir/obj", bytes: [1])
        #expect(try await store.get("dir/obj") == [1])
        #expect(suffixes.queue.withLock { $0.isEmpty }, "the taken name was tried twice, then a free one")
        #expect(FileManager.default.contents(atPath: taken) == Data([9]))
        #expect(try temporaryFiles(in: root + "/dir") == [".pgbackup-tmp.obj.\(getpid()).taken"])
    }

    @Test func theSweepSparesAWriterOfThisProcessUntilItCommits() async throws {
        defer { try? FileManager.default.removeItem(atPath: root) }
        let store = try FileObjectStore(root: root, create: true)
        let writer = try await store.writer(for: "dir/obj")
        try await writer.write([7, 7])
        #expect(try temporaryFiles(in: root + "/dir").count == 1)
        #expect(try await store.removeAbandonedTemporaryFiles(olderThan: -1) == 0)
        #expect(try temporaryFiles(in: root + "/dir").count == 1)
        try await writer.write([7])
        try await writer.commit()
        #expect(try await store.get("dir/obj") == [7, 7, 7])
        #expect(try temporaryFiles(in: root + "/dir").isEmpty)
    }

    /// A writer in another process (here a small Python program that takes the same `flock` a
    /// pgbackup writer holds) keeps its file until it dies; then the sweep removes it.
    @Test func theSweepSparesAWriterOfAnotherProcessAndRemovesItOnceDead() async throws {
        defer { try? FileManager.default.removeItem(atPath: root) }
        let store = try FileObjectStore(root: root, create: true)
        try FileManager.default.createDirectory(atPath: root + "/main/chunks/ab", withIntermediateDirectories: true)
        let held = root + "/main/chunks/ab/.pgbackup-tmp.abcd.zst.1.00112233445566ff"
        let dead = root + "/main/chunks/ab/.pgbackup-tmp.abcd.zst.1.ffeeddccbbaa9988"
        #expect(FileManager.default.createFile(atPath: dead, contents: Data([0])))
        let ready = root + "/ready"
        let program = """
            import fcntl, sys, time
            f = open(sys.argv[1], "ab")
            f.write(b"partial object")
            f.flush()
            fcntl.flock(f, fcntl.LOCK_EX)
            open(sys.argv[2], "w").close()
            time.sleep(120)
            """
        let writer = try BackgroundProcess(
            "/usr/bin/env", ["python3", "-c", program, held, ready],
            environment: ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"])
        let deadline = ContinuousClock.now + .seconds(30)
        while !FileManager.default.fileExists(atPath: ready) {
            guard writer.isRunning, ContinuousClock.now < deadline else {
                Issue.record("the locking process did not start: \(writer.standardError)")
                return
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(try await store.removeAbandonedTemporaryFiles(olderThan: -1) == 1, "only the dead writer's file goes")
        #expect(FileManager.default.fileExists(atPath: held))
        #expect(!FileManager.default.fileExists(atPath: dead))

        writer.send(SIGKILL)
        try await writer.wait()
        #expect(try await store.removeAbandonedTemporaryFiles(olderThan: -1) == 1, "a dead writer's lock is gone with it")
        #expect(!FileManager.default.fileExists(atPath: held))
    }

    @Test func theSweepSparesRecentFilesWhenAskedTo() async throws {
        defer { try? FileManager.default.removeItem(atPath: root) }
        let store = try FileObjectStore(root: root, create: true)
        try FileManager.default.createDirectory(atPath: root + "/main", withIntermediateDirectories: true)
        let leftover = root + "/main/.pgbackup-tmp.seg.123.0011223344556677"
        #expect(FileManager.default.createFile(atPath: leftover, contents: Data([1, 2])))
        #expect(try await store.removeAbandonedTemporaryFiles(olderThan: 3600) == 0)
        #expect(FileManager.default.fileExists(atPath: leftover))
        #expect(try await store.removeAbandonedTemporaryFiles(olderThan: -1) == 1)
        #expect(!FileManager.default.fileExists(atPath: leftover))
    }
}
