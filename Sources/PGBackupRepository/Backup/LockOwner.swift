import Foundation

/// Who holds a repository lock: the content of `<server>/locks/<name>.json`.
public struct LockOwner: Codable, Sendable, Hashable {
    public var hostname: String
    public var pid: Int32
    /// When the holder took the lock, and when it last said it is alive.
    public var acquiredAt: Date
    public var refreshedAt: Date
    /// A random token only this holder knows: how it recognises its own lock when it reads it back.
    public var token: String
    /// What the holder does, when it says (`retention`); absent for a backup (and in locks
    /// written before holders said).
    public var purpose: String?

    public init(hostname: String, pid: Int32, acquiredAt: Date, refreshedAt: Date, token: String, purpose: String? = nil) {
        self.hostname = hostname
        self.pid = pid
        self.acquiredAt = acquiredAt
        self.refreshedAt = refreshedAt
        self.token = token
        self.purpose = purpose
    }
}

/// Why a lock could not be taken or kept.
public enum LockError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Someone else holds it and is alive.
    case held(name: String, server: String, owner: LockOwner)
    /// The lock we held was taken over or removed (we were presumed dead, or lost a race).
    case lost(name: String, server: String, owner: LockOwner?)

    public var description: String {
        switch self {
        case let .held(name, server, owner):
            "another \(name) of server '\(server)' is running (pid \(owner.pid) on host \(owner.hostname) since "
                + "\(owner.acquiredAt.formatted(.iso8601)))"
                + "\nHINT: wait for it to finish; a lock whose holder died is taken over automatically "
                + "(at once on the same host, otherwise once it has not been refreshed for a while)"
        case let .lost(name, server, owner):
            "unable to keep the \(name) lock of server '\(server)': "
                + (owner.map { "pid \($0.pid) on host \($0.hostname) took it over" } ?? "it was removed")
                + "\nHINT: this process was presumed dead (it did not refresh its lock in time); its work is abandoned"
        }
    }
}
