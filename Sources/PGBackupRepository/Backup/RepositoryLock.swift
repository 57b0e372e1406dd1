import Foundation
import PGBackupFoundations
import PGBackupStorage

#if canImport(Glibc)
import Glibc
#endif

/// A named advisory lock of one server (`<server>/locks/<name>.json`): one backup at a time.
///
/// The lock object is a sealed JSON `LockOwner`. A holder is **alive** unless
/// - it is on this host and its pid is not a running process, or
/// - it has not refreshed the lock for `staleAfter` (a holder on another host, or a pid reused).
/// A dead holder's lock is taken over; a live one's makes `acquire` throw `LockError.held`.
/// The holder calls `refresh` well within `staleAfter` (say every `staleAfter / 4`), and
/// `release` at the end.
///
/// ## Race limits (honestly)
///
/// **A free lock is taken exactly.** `acquire` creates the lock object with a create-if-absent
/// put (`ObjectWriter.commit(ifAbsent:)`: `link(2)` on `file://`, `If-None-Match: *` on S3): of
/// any number of processes that find the lock free, exactly one creates it; the others get
/// `StorageError.alreadyExists` and throw `LockError.held` naming the winner. No pause. The winner
/// then reads its token back at once: a store that silently ignores the condition (an
/// S3-compatible server without `If-None-Match` support) still gets the last-writer-wins check
/// that `acquire` always had, without its pause — on such a server two acquires whose puts and
/// read-backs interleave can both hold, as before.
///
/// **Taking over a dead holder's lock is not exact.** `ObjectStore` has no conditional delete,
/// so the dead lock is re-read (it must still carry the dead holder's token), deleted, and
/// recreated with create-if-absent; the taker then waits `settle` and reads the lock back, and
/// holds it only if its own token is there. Two processes that both found the same dead lock can
/// still both hold it if one deletes the other's fresh lock more than `settle` after the other
/// created it, or if a third finds the lock free in the moment between a taker's re-read and its
/// delete. `refresh` reads back the token every time and throws `LockError.lost` to whoever lost
/// it, so a double holding lasts at most one refresh interval; a backup checks its lock
/// (`refresh`) before its commit. The lock protects against the common case (a second scheduled
/// run, an operator's manual backup), not against an adversary. Clock skew between hosts shifts
/// when a foreign lock counts as stale: keep `staleAfter` far above the skew.
public struct RepositoryLock: Sendable {
    public let repository: Repository
    /// `backup`: names the key and the messages ("another backup of server 'main' is running").
    public let name: String
    public let staleAfter: TimeInterval
    /// Pause between taking over a dead holder's lock and reading it back (only then: a free
    /// lock is created exactly, without a pause).
    public let settle: Duration
    public let hostname: String
    public let pid: Int32
    /// Written into the owner record (`LockOwner.purpose`): who else finds the lock held can tell
    /// a retention run (worth waiting for) from a backup.
    public let purpose: String?
    private let clock: @Sendable () -> Date
    private let isProcessAlive: @Sendable (Int32) -> Bool

    public init(
        repository: Repository, name: String = "backup", staleAfter: TimeInterval = 600, settle: Duration = .milliseconds(200),
        hostname: String = ProcessInfo.processInfo.hostName, pid: Int32 = getpid(), purpose: String? = nil,
        clock: @escaping @Sendable () -> Date = { Date() },
        isProcessAlive: @escaping @Sendable (Int32) -> Bool = RepositoryLock.processExists
    ) {
        self.repository = repository
        self.name = name
        self.staleAfter = staleAfter
        self.settle = settle
        self.hostname = hostname
        self.pid = pid
        self.purpose = purpose
        self.clock = clock
        self.isProcessAlive = isProcessAlive
    }

    /// `<server>/locks/<name>.json`
    public var key: String { repository.layout.locksPrefix + name + ".json" }

    var objects: SealedObjects { SealedObjects(store: repository.store) }

    /// Takes the lock, taking over a dead holder's. Throws `LockError.held` when a live holder
    /// has it (or wins the race to it). Returns the owner record to pass to `refresh`/`release`.
    public func acquire() async throws -> LockOwner {
        // A lock released or found dead between the look and the put is looked at again, a
        // few times: each round ends with a live holder, ours, or someone else's lock.
        for attempt in 1...3 {
            let current = try await current()
            if let current, isAlive(current) { throw held(by: current) }
            let now = clock()
            let mine = LockOwner(hostname: hostname, pid: pid, acquiredAt: now, refreshedAt: now, token: Self.randomToken(), purpose: purpose)
            let created: Bool
            do {
                if let dead = current {
                    created = try await takeOver(dead, with: mine)
                } else {
                    try await create(mine)
                    created = true
                }
            } catch StorageError.alreadyExists {
                // Someone else created it first: theirs, unless it is gone or dead already.
                created = false
            }
            guard created else {
                if attempt < 3 { continue }
                let winner = try await self.current()
                throw held(by: winner)
            }
            // At once: a store that ignored the condition still lets the last writer win here.
            let after = try await self.current()
            guard let after, after.token == mine.token else { throw held(by: after) }
            return mine
        }
        preconditionFailure("unreachable")
    }

    /// Replaces the dead holder's lock by `mine`, then waits `settle` and checks it is still
    /// `mine` (see "Race limits"). False when the lock changed since it was found dead.
    private func takeOver(_ dead: LockOwner, with mine: LockOwner) async throws -> Bool {
        guard let still = try await current(), still.token == dead.token, !isAlive(still) else { return false }
        try await repository.store.delete([key])
        try await create(mine)
        if settle > .zero { try await Task.sleep(for: settle) }
        return true
    }

    private func held(by owner: LockOwner?) -> LockError {
        guard let owner else { return LockError.lost(name: name, server: repository.layout.server, owner: nil) }
        return LockError.held(name: name, server: repository.layout.server, owner: owner)
    }

    /// Says the holder is alive: checks the lock still holds its token, and rewrites it with a
    /// new `refreshedAt`. `LockError.lost` when someone else took it over or it is gone.
    @discardableResult
    public func refresh(_ held: LockOwner) async throws -> LockOwner {
        let current = try await current()
        guard let current, current.token == held.token else {
            throw LockError.lost(name: name, server: repository.layout.server, owner: current)
        }
        var refreshed = held
        refreshed.refreshedAt = clock()
        try await write(refreshed)
        return refreshed
    }

    /// Releases the lock if it is still ours (a lock taken over by someone else is left to them).
    public func release(_ held: LockOwner) async throws {
        guard let current = try await current(), current.token == held.token else { return }
        try await repository.store.delete([key])
    }

    /// The current holder, or nil when the lock is free. A lock object that cannot be read (damaged)
    /// counts as held by an unknown holder until it is `staleAfter` old.
    public func current() async throws -> LockOwner? {
        let bytes: [UInt8]
        do {
            bytes = try await objects.content(key: key, algorithm: .none, limit: 1 << 16)
        } catch StorageError.notFound {
            return nil
        } catch is SealError {
            return try await unreadableOwner()
        }
        do {
            return try RepositoryJSON.decode(LockOwner.self, from: bytes)
        } catch {
            return try await unreadableOwner()
        }
    }

    /// Whether `owner` counts as alive now (see the type's documentation).
    public func isAlive(_ owner: LockOwner) -> Bool {
        if owner.hostname == hostname && !isProcessAlive(owner.pid) { return false }
        return clock().timeIntervalSince(owner.refreshedAt) < staleAfter
    }

    /// Whether a process with this pid runs on this host (`kill(pid, 0)`; EPERM means it does,
    /// under another user).
    public static func processExists(_ pid: Int32) -> Bool {
        guard pid > 0 else { return false }
        return kill(pid, 0) == 0 || errno == EPERM
    }

    private func write(_ owner: LockOwner) async throws {
        _ = try await objects.put(key: key, content: try RepositoryJSON.encode(owner), compression: .none)
    }

    /// Creates the lock object; `StorageError.alreadyExists` when there is one.
    private func create(_ owner: LockOwner) async throws {
        _ = try await objects.put(key: key, content: try RepositoryJSON.encode(owner), compression: .none, ifAbsent: true)
    }

    private func unreadableOwner() async throws -> LockOwner? {
        let info: ObjectInfo
        do {
            info = try await repository.store.head(key)
        } catch StorageError.notFound {
            return nil
        }
        return LockOwner(hostname: "(unknown: damaged lock)", pid: 0, acquiredAt: info.modified, refreshedAt: info.modified, token: "")
    }

    private static func randomToken() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<2).map { _ in
            let hex = String(generator.next() as UInt64, radix: 16)
            return String(repeating: "0", count: 16 - hex.count) + hex
        }.joined()
    }
}
