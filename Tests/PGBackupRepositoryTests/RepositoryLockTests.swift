import Foundation
import PGBackupStorage
import Synchronization
import Testing
@testable import PGBackupRepository

/// A clock tests move by hand.
final class TestClock: Sendable {
    private let now = Mutex(Date(timeIntervalSince1970: 1_795_342_500))  // 2026-11-22T10:15:00Z
    func read() -> Date { now.withLock { $0 } }
    func advance(_ seconds: TimeInterval) { now.withLock { $0 = $0.addingTimeInterval(seconds) } }
}

@Suite("Repository lock")
struct RepositoryLockTests {
    let clock = TestClock()

    func lock(_ repository: Repository, host: String = "x", pid: Int32, alive: @escaping @Sendable (Int32) -> Bool = { _ in true }) -> RepositoryLock {
        let clock = self.clock
        return RepositoryLock(
            repository: repository, staleAfter: 600, settle: .zero, hostname: host, pid: pid,
            clock: { clock.read() }, isProcessAlive: alive)
    }

    @Test(arguments: StoreKind.allCases)
    func aSecondBackupIsRefusedWhileTheFirstRuns(kind: StoreKind) async throws {
        try await withRepository(kind) { fixture in
            let held = try await lock(fixture.repository, pid: 1234).acquire()
            #expect(held.pid == 1234 && held.hostname == "x")
            #expect(try await fixture.store.exists("main/locks/backup.json"))
            clock.advance(30)
            let error = await #expect(throws: LockError.self) { try await lock(fixture.repository, pid: 5678).acquire() }
            #expect(error?.description.hasPrefix(
                "another backup of server 'main' is running (pid 1234 on host x since 2026-11-22T10:15:00Z)\nHINT: ") == true)
            // The refused attempt left the holder's lock as it was.
            #expect(try await lock(fixture.repository, pid: 1234).current()?.token == held.token)
        }
    }

    @Test
    func theLockOfADeadProcessOnThisHostIsTakenOver() async throws {
        try await withRepository(.memory) { fixture in
            let dead = try await lock(fixture.repository, pid: 1234).acquire()
            let successor = lock(fixture.repository, pid: 5678, alive: { $0 != 1234 })
            let mine = try await successor.acquire()
            #expect(mine.token != dead.token)
            #expect(try await successor.current() == mine)
            // The presumed-dead holder finds out at its next refresh, and its release leaves the lock alone.
            let error = await #expect(throws: LockError.self) { try await lock(fixture.repository, pid: 1234).refresh(dead) }
            #expect(error?.description.hasPrefix("unable to keep the backup lock of server 'main': pid 5678 on host x took it over") == true)
            try await lock(fixture.repository, pid: 1234).release(dead)
            #expect(try await successor.current() == mine)
        }
    }

    @Test
    func aLockFromAnotherHostIsTakenOverOnlyOnceItIsStale() async throws {
        try await withRepository(.memory) { fixture in
            let remote = lock(fixture.repository, host: "other", pid: 1234)
            var held = try await remote.acquire()
            let local = lock(fixture.repository, host: "x", pid: 1234, alive: { _ in false })
            clock.advance(500)
            held = try await remote.refresh(held)
            clock.advance(500)  // 1000 s since it started, 500 s since it refreshed: alive
            await #expect(throws: LockError.self) { try await local.acquire() }
            clock.advance(101)  // 601 s without a refresh: stale
            let mine = try await local.acquire()
            #expect(try await local.current()?.token == mine.token)
            await #expect(throws: LockError.self) { try await remote.refresh(held) }
        }
    }

    @Test(arguments: StoreKind.allCases)
    func releaseFreesTheLock(kind: StoreKind) async throws {
        try await withRepository(kind) { fixture in
            let first = lock(fixture.repository, pid: 1234)
            let held = try await first.acquire()
            try await first.release(held)
            #expect(try await first.current() == nil)
            #expect(try await !fixture.store.exists("main/locks/backup.json"))
            let next = try await lock(fixture.repository, pid: 5678).acquire()
            #expect(next.pid == 5678)
        }
    }

    @Test
    func refreshMovesTheRefreshTimeAndKeepsTheToken() async throws {
        try await withRepository(.memory) { fixture in
            let holder = lock(fixture.repository, pid: 1234)
            let held = try await holder.acquire()
            clock.advance(60)
            let refreshed = try await holder.refresh(held)
            #expect(refreshed.token == held.token)
            #expect(refreshed.acquiredAt == held.acquiredAt)
            #expect(refreshed.refreshedAt == held.refreshedAt.addingTimeInterval(60))
            #expect(try await holder.current() == refreshed)
        }
    }

    @Test
    func theRealProcessCheckKnowsThisProcess() {
        #expect(RepositoryLock.processExists(getpid()))
        #expect(!RepositoryLock.processExists(0))
        #expect(!RepositoryLock.processExists(Int32.max))
    }
}
