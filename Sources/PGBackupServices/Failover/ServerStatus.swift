import PGBackupFoundations
import PGBackupPostgres

/// What one server of the cluster answered on a replication connection.
public struct ServerStatus: Sendable, Hashable, CustomStringConvertible {
    public var server: ConninfoServer
    /// `IDENTIFY_SYSTEM`'s answer; nil when the server could not be reached or asked.
    public var identity: SystemIdentity?
    /// Whether it is in recovery (a standby): `in_hot_standby`. Nil when unknown.
    public var inRecovery: Bool?
    /// Why it could not be reached or asked (never a password).
    public var problem: String?
    /// `server_version_num`, e.g. 180001, when asked.
    public var versionNumber: Int?

    public init(server: ConninfoServer, identity: SystemIdentity?, inRecovery: Bool?, problem: String?, versionNumber: Int? = nil) {
        self.server = server
        self.identity = identity
        self.inRecovery = inRecovery
        self.problem = problem
        self.versionNumber = versionNumber
    }

    /// Answered as a primary: reachable and not in recovery.
    public var isPrimary: Bool { identity != nil && inRecovery == false }

    public var description: String {
        if let problem { return "\(server): \(problem)" }
        guard let identity else { return "\(server): no answer" }
        let role = inRecovery == true ? "standby" : "primary"
        return "\(server): \(role) on timeline \(identity.timeline) at \(identity.xlogPosition), system identifier \(identity.systemIdentifier)"
    }
}

extension ServerStatus {
    /// Asks an open replication connection what the server is. Blocking.
    ///
    /// Recovery is read from `in_hot_standby` (reported at connection start since PostgreSQL 14,
    /// else asked with `SHOW`): a standby accepts replication connections only in hot standby
    /// (without it, PostgreSQL refuses every connection until recovery ends).
    public static func read(_ connection: PostgresConnection, server: ConninfoServer) throws -> ServerStatus {
        let identity = try connection.identifySystem()
        let hotStandby = try connection.parameterStatus("in_hot_standby") ?? connection.showParameter("in_hot_standby")
        return ServerStatus(server: server, identity: identity, inRecovery: hotStandby == "on", problem: nil, versionNumber: try? connection.serverVersion)
    }
}
