import PGBackupFoundations
import PGBackupPostgres

/// Which server to stream from, and why (pure: `PrimaryLocator.choose`).
public struct PrimaryChoice: Sendable, Hashable {
    /// Every server the conninfo lists, as it answered.
    public var servers: [ServerStatus]
    /// The primary to use; nil when there is none (see `refusal`).
    public var primary: ServerStatus?
    /// Other servers that also answered as primary of this cluster: a split brain.
    public var otherPrimaries: [ServerStatus]
    /// Why no primary can be used, for the log and `check`.
    public var refusal: String?
    /// The best primary, refused because its timeline is older than the repository's: a former
    /// primary that came back after a failover.
    public var formerPrimary: ServerStatus?

    /// More than one server of the cluster answers as primary.
    public var isSplitBrain: Bool { !otherPrimaries.isEmpty }
}

/// Finds the cluster's primary among the servers of a multi-host conninfo. libpq's
/// `target_session_attrs` only skips read-only servers; this also checks the system identifier,
/// prefers the newest timeline when two answer as primary, and refuses a primary whose timeline
/// is older than what the repository has already seen (an old primary that came back).
public enum PrimaryLocator {
    /// Seconds to wait for each host when the conninfo (or `PGCONNECT_TIMEOUT`) sets no limit.
    public static let connectTimeout = 5

    /// Asks every server of `conninfo` at once (replication connections, closed again).
    public static func survey(conninfo: String, environment: [String: String]) async throws -> [ServerStatus] {
        let servers = try ConninfoServer.servers(in: conninfo, environment: environment)
        return await withTaskGroup(of: (Int, ServerStatus).self) { group in
            for (index, server) in servers.enumerated() {
                group.addTask {
                    (index, await probe(server, conninfo: conninfo, environment: environment))
                }
            }
            var answers = [ServerStatus?](repeating: nil, count: servers.count)
            for await (index, status) in group { answers[index] = status }
            return answers.compactMap { $0 }
        }
    }

    /// One server, on a blocking thread; never throws (an unreachable server is a status).
    public static func probe(_ server: ConninfoServer, conninfo: String, environment: [String: String]) async -> ServerStatus {
        do {
            return try await BlockingIO.runLong {
                let connection = try connect(server, conninfo: conninfo, environment: environment)
                defer { connection.close() }
                return try ServerStatus.read(connection, server: server)
            }
        } catch {
            return ServerStatus(server: server, identity: nil, inRecovery: nil, problem: "\(error)")
        }
    }

    /// A physical replication connection to this one server, with a bounded `connect_timeout`
    /// unless the conninfo or the environment sets one. Blocking.
    public static func connect(_ server: ConninfoServer, conninfo: String, environment: [String: String]) throws -> PostgresConnection {
        try PostgresConnection(conninfo: conninfo, replication: .physical, overriding: overrides(server, conninfo: conninfo, environment: environment))
    }

    /// What makes a connection reach `server` only, with a bounded `connect_timeout`
    /// (`connectTimeout` unless the conninfo or the environment sets one).
    public static func overrides(_ server: ConninfoServer, conninfo: String, environment: [String: String]) -> [String: String] {
        server.overrides(boundingConnectTimeoutTo: connectTimeout, conninfo: conninfo, environment: environment)
    }

    /// Chooses the primary: a server not in recovery with `systemIdentifier`; of several, the one
    /// on the highest timeline (ties: `current`, the server streamed from now, else the first
    /// listed). A best primary on a timeline older than `minimumTimeline` (the newest timeline
    /// the repository knows) is refused: it is a former primary that diverged.
    public static func choose(
        from servers: [ServerStatus], systemIdentifier: SystemIdentifier, minimumTimeline: TimelineID?, current: ConninfoServer? = nil
    ) -> PrimaryChoice {
        let primaries = servers.filter { $0.isPrimary && $0.identity?.systemIdentifier == systemIdentifier }
        guard let best = primaries.max(by: { lhs, rhs in
            let (left, right) = (lhs.identity!.timeline, rhs.identity!.timeline)
            if left != right { return left < right }
            // Equal timelines: the current server wins, then the earlier in the list.
            if rhs.server == current { return lhs.server != current }
            if lhs.server == current { return false }
            return servers.firstIndex(of: lhs)! > servers.firstIndex(of: rhs)!
        }) else {
            let others = servers.map { status -> String in
                if let identity = status.identity, identity.systemIdentifier != systemIdentifier {
                    return "\(status.server): another cluster (system identifier \(identity.systemIdentifier))"
                }
                return status.description
            }
            return PrimaryChoice(
                servers: servers, primary: nil, otherPrimaries: [],
                refusal: "no primary of system \(systemIdentifier) answers (\(others.joined(separator: "; ")))")
        }
        let others = primaries.filter { $0 != best }
        if let minimumTimeline, best.identity!.timeline < minimumTimeline {
            return PrimaryChoice(
                servers: servers, primary: nil, otherPrimaries: others,
                refusal: "the only primary that answers, \(best.server), is on timeline \(best.identity!.timeline) but the repository already holds timeline \(minimumTimeline): it is a former primary that diverged; not streaming from it",
                formerPrimary: best)
        }
        return PrimaryChoice(servers: servers, primary: best, otherPrimaries: others, refusal: nil)
    }
}
