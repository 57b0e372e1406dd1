import Foundation
import Synchronization

/// The credentials every request of a process signs with, from one provider, refreshed ahead
/// of their expiry: once, by one fetch that every request waiting meanwhile shares.
///
/// Credentials are refreshed when less than a quarter of their lifetime (at most five minutes)
/// is left. A refresh that fails while the old credentials are still valid leaves them in use
/// (and the next request tries again); once they have expired, the failure is every waiting
/// request's error. A request that S3 refuses as expired (`ExpiredToken`) asks for a refresh
/// through `refreshAfterRejection`, and is retried once with what it gets.
public final class S3CredentialCache: Sendable {
    public let provider: any S3CredentialProvider
    private let state = Mutex(State())
    private let now: @Sendable () -> Date

    private struct State {
        var current: S3Credentials?
        var fetchedAt: Date?
        var refresh: Task<S3Credentials, any Error>?
        var refreshes = 0
        var lastError: String?
        var lastErrorAt: Date?
    }

    public init(provider: any S3CredentialProvider, now: @escaping @Sendable () -> Date = { Date() }) {
        self.provider = provider
        self.now = now
    }

    /// A cache of keys that never change.
    public static func fixed(_ credentials: S3Credentials, origin: String = "the configuration") -> S3CredentialCache {
        S3CredentialCache(provider: StaticCredentialProvider(credentials: credentials, origin: origin))
    }

    /// The keys a fixed cache holds; nil for a source that fetches.
    public var fixedCredentials: S3Credentials? { (provider as? StaticCredentialProvider)?.credentials }

    /// Credentials to sign a request with now.
    public func current() async throws(S3CredentialError) -> S3Credentials {
        let at = now()
        let (ready, refresh, fallback) = state.withLock { state -> (S3Credentials?, Task<S3Credentials, any Error>?, S3Credentials?) in
            if let current = state.current, let fetchedAt = state.fetchedAt, !Self.isDue(current, fetchedAt: fetchedAt, at: at) {
                return (current, nil, nil)
            }
            let task = state.refresh ?? startRefresh(&state)
            let stillValid = state.current.flatMap { credentials in credentials.expiration.map { $0 > at } ?? true ? credentials : nil }
            return (nil, task, stillValid)
        }
        if let ready { return ready }
        do {
            return try await refresh!.value
        } catch {
            if let fallback { return fallback }
            throw error as? S3CredentialError ?? .unreachable(source: provider.source, endpoint: provider.detail, reason: "\(error)")
        }
    }

    /// After S3 refused `rejected` as expired: fresh credentials, or nil when the source hands
    /// out the same ones again (static keys: retrying cannot help).
    public func refreshAfterRejection(of rejected: S3Credentials) async throws(S3CredentialError) -> S3Credentials? {
        state.withLock { state in
            if state.current == rejected {
                state.current = nil
                state.fetchedAt = nil
            }
        }
        let fresh = try await current()
        return fresh == rejected ? nil : fresh
    }

    /// What `check` and `/health` report: the source, when the credentials in use expire, the
    /// last failure.
    public var status: S3CredentialStatus {
        state.withLock { state in
            S3CredentialStatus(
                source: provider.source, detail: provider.detail, accessKeyID: state.current?.accessKeyID,
                expiration: state.current?.expiration, fetchedAt: state.fetchedAt, refreshes: state.refreshes,
                lastError: state.lastError, lastErrorAt: state.lastErrorAt)
        }
    }

    /// Whether credentials fetched at `fetchedAt` should be refreshed at `at`: when less than a
    /// quarter of their lifetime, capped at five minutes, is left.
    static func isDue(_ credentials: S3Credentials, fetchedAt: Date, at: Date) -> Bool {
        guard let expiration = credentials.expiration else { return false }
        let lifetime = max(0, expiration.timeIntervalSince(fetchedAt))
        let margin = min(300, lifetime / 4)
        return at >= expiration.addingTimeInterval(-margin)
    }

    private func startRefresh(_ state: inout State) -> Task<S3Credentials, any Error> {
        let task = Task<S3Credentials, any Error> { [provider, now] in
            do {
                let fresh = try await provider.fetch()
                self.state.withLock { state in
                    state.current = fresh
                    state.fetchedAt = now()
                    state.refresh = nil
                    state.refreshes += 1
                }
                return fresh
            } catch {
                self.state.withLock { state in
                    state.refresh = nil
                    state.lastError = "\(error)"
                    state.lastErrorAt = now()
                }
                throw error
            }
        }
        state.refresh = task
        return task
    }
}

/// The state of a process's S3 credentials, for `check` and `/health`.
public struct S3CredentialStatus: Sendable {
    /// The source that signs (never `auto`: the one the chain chose).
    public var source: S3CredentialSource
    public var detail: String
    public var accessKeyID: String?
    /// nil: long-lived keys, or none fetched yet.
    public var expiration: Date?
    public var fetchedAt: Date?
    /// Fetches that succeeded in this process.
    public var refreshes: Int
    public var lastError: String?
    public var lastErrorAt: Date?
}

/// One cache per credential configuration for the whole process: every store opened with the
/// same settings (the daemon opens many) signs with the same credentials and refreshes them once.
public enum S3CredentialCaches {
    private static let caches = Mutex<[S3CredentialSettings: S3CredentialCache]>([:])

    /// The process's cache for `settings`, made on first use.
    public static func cache(for settings: S3CredentialSettings) throws(S3CredentialError) -> S3CredentialCache {
        if let cache = caches.withLock({ $0[settings] }) { return cache }
        let provider = try S3CredentialChain.provider(for: settings)
        return caches.withLock { caches in
            if let cache = caches[settings] { return cache }
            let cache = S3CredentialCache(provider: provider)
            caches[settings] = cache
            return cache
        }
    }
}
