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
/// `ObjectStore` has no compare-and-swap and no create-if-absent, so the lock is
/// *create, then read back and verify the token*: `acquire` writes its owner with a fresh random
/// token, waits `settle`, reads the lock back, and holds it only if its own token is there.
/// Two processes that both find the lock free race: the one whose put lands last wins, and the
/// other sees a foreign token and backs off — *if* it reads back after the winner's put. If it
/// reads back between its put and the winner's (both puts within `settle` of each other), both
/// believe they hold the lock. `refresh` reads back the token every time and throws
/// `LockError.lost` to the loser, so a double holding lasts at most one refresh interval; a
/// backup checks its lock (`refresh`) before its commit. The lock protects against the common
/// case (a second scheduled run, an operator's manual backup), not against an adversary.
/// Clock skew between hosts shifts when a foreign lock counts as stale: keep `staleAfter` far
/// above the skew.
public struct RepositoryLock: Sendable {
    public let repository: Repository
    /// `backup`: names the key and the messages ("another backup of server 'main' is running").
    public let name: String
    public let staleAfter: TimeInterval
    /// Pause between writing the lock and reading it back.
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
        if let current = try await current(), isAlive(current) {
            throw LockError.held(name: name, server: repository.layout.server, owner: current)
        }
        let now = clock()
        let mine = LockOwner(hostname: hostname, pid: pid, acquiredAt: now, refreshedAt: now, token: Self.randomToken(), purpose: purpose)
        try await write(mine)
        if settle > .zero { try await Task.sleep(for: settle) }
        guard let after = try await current(), after.token == mine.token else {
            if let winner = try await current() {
                throw LockError.held(name: name, server: repository.layout.server, owner: winner)
            }
            throw LockError.lost(name: name, server: repository.layout.server, owner: nil)
        }
        return mine
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
