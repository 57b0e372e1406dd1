import Foundation
import PGBackupStorage
import PGBackupTestSupport
import Testing
@testable import PGBackupRepository

/// Many processes acquiring one lock at once: a free lock goes to exactly one of them, without a
/// settle pause (the create-if-absent put decides), on every store; a dead holder's lock is
/// taken over by exactly one of many takers.
@Suite("Repository lock races")
struct RepositoryLockRaceTests {
    enum Store: String, CaseIterable, Sendable { case memory, file, s3 }

    static func withStore(_ kind: Store, _ body: (any ObjectStore) async throws -> Void) async throws {
        switch kind {
        case .memory:
            try await body(MemoryObjectStore())
        case .file:
            let root = FileManager.default.temporaryDirectory.path + "/pgbackup-lock-race-\(UUID().uuidString)"
            defer { try? FileManager.default.removeItem(atPath: root) }
            try await body(try FileObjectStore(root: root, create: true))
        case .s3:
            let store = try await motoStore(named: "lock-race")
            try await body(store)
            try? await store.delete(store.list(prefix: "").map(\.key))
        }
    }

    /// Acquires `lock(i)` for every i at once; returns the holders' indexes and the refusals.
    static func race(_ count: Int, _ lock: @escaping @Sendable (Int) -> RepositoryLock) async throws -> (held: [Int], refused: [LockError]) {
        try await withThrowingTaskGroup(of: (Int, LockError?).self) { group in
            for index in 0..<count {
                group.addTask {
                    do {
                        _ = try await lock(index).acquire()
                        return (index, nil)
                    } catch let error as LockError {
                        return (index, error)
                    }
                }
            }
            var result: (held: [Int], refused: [LockError]) = ([], [])
            for try await (index, error) in group {
                if let error { result.refused.append(error) } else { result.held.append(index) }
            }
            return result
        }
    }

    @Test(arguments: Store.allCases)
    func exactlyOneOfManyConcurrentAcquiresHoldsAFreeLockWithoutASettlePause(store kind: Store) async throws {
        try await Self.withStore(kind) { store in
            let repository = Repository(store: store, server: "main")
            for round in 0..<3 {
                let outcome = try await Self.race(12) { index in
                    RepositoryLock(repository: repository, settle: .zero, hostname: "x", pid: Int32(1000 + index), isProcessAlive: { _ in true })
                }
                #expect(outcome.held.count == 1, "round \(round): \(outcome.held) all hold the lock")
                #expect(outcome.refused.count == 11)
                for error in outcome.refused {
                    guard case let .held(_, _, owner) = error else {
                        Issue.record("round \(round): expected .held, got \(error)")
                        continue
                    }
                    #expect(owner.pid == Int32(1000 + (outcome.held.first ?? -1)))
                }
                let observer = RepositoryLock(repository: repository, settle: .zero, hostname: "x", pid: 1, isProcessAlive: { _ in true })
                let holder = try #require(try await observer.current())
                #expect(holder.pid == Int32(1000 + (outcome.held.first ?? -1)))
                try await RepositoryLock(repository: repository, settle: .zero, hostname: "x", pid: holder.pid).release(holder)
                #expect(try await observer.current() == nil)
            }
        }
    }

    @Test(arguments: [Store.file, .s3])
    func exactlyOneOfManyTakersGetsADeadHoldersLock(store kind: Store) async throws {
        try await Self.withStore(kind) { store in
            let repository = Repository(store: store, server: "main")
            let dead = try await RepositoryLock(repository: repository, settle: .zero, hostname: "x", pid: 999).acquire()
            let outcome = try await Self.race(8) { index in
                RepositoryLock(repository: repository, settle: .seconds(1), hostname: "x", pid: Int32(2000 + index),
                               isProcessAlive: { $0 != 999 })
            }
            #expect(outcome.held.count == 1, "\(outcome.held) all hold the lock")
            #expect(outcome.refused.count == 7)
            let holder = try #require(try await RepositoryLock(repository: repository, settle: .zero, hostname: "x", pid: 1).current())
            #expect(holder.token != dead.token)
            #expect(holder.pid == Int32(2000 + (outcome.held.first ?? -1)))
        }
    }
}
