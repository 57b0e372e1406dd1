import CLibPQ

/// One server named by a (possibly multi-host) conninfo: `host=a,b port=5432,5433` names two.
public struct ConninfoServer: Sendable, Hashable, CustomStringConvertible {
    /// Host name, IP address or Unix socket directory; nil: libpq's default.
    public var host: String?
    /// Numeric address (`hostaddr`); nil when not given.
    public var hostaddr: String?
    /// Port; nil: libpq's default.
    public var port: String?

    public init(host: String?, hostaddr: String? = nil, port: String?) {
        self.host = host
        self.hostaddr = hostaddr
        self.port = port
    }

    /// Keyword values that, placed after the conninfo, make libpq connect to this server only
    /// (`PostgresConnection(conninfo:replication:overriding:)`). `target_session_attrs=any`:
    /// the caller checks what the server is itself.
    public var overrides: [String: String] {
        var values = ["target_session_attrs": "any"]
        if let host { values["host"] = host }
        if let hostaddr { values["hostaddr"] = hostaddr }
        if let port { values["port"] = port }
        return values
    }

    /// `overrides`, plus `connect_timeout=seconds` unless `conninfo` or `PGCONNECT_TIMEOUT` sets
    /// one: a server that does not answer must not hold up the survey of the others.
    public func overrides(boundingConnectTimeoutTo seconds: Int, conninfo: String, environment: [String: String]) -> [String: String] {
        var values = overrides
        let inConninfo = (try? PostgresConnection.parsedValues(conninfo, keywords: ["connect_timeout"]))?["connect_timeout"]
        if inConninfo == nil && environment["PGCONNECT_TIMEOUT"] == nil { values["connect_timeout"] = String(seconds) }
        return values
    }

    /// `host:port` for messages.
    public var description: String { "\(host ?? hostaddr ?? "localhost"):\(port ?? "5432")" }
}

extension ConninfoServer {
    /// The servers a conninfo lists, in its order, following libpq's rules: `host` and
    /// `hostaddr` lists name the servers (and must agree in length when both are given); `port`
    /// holds one value for all or one per server. Without any host, `PGHOST`/`PGHOSTADDR`/
    /// `PGPORT` from `environment` count, and without those the result is one default server.
    ///
    /// - Throws: `PostgresError.invalidConninfo` for a string libpq cannot parse or lists of
    ///   different lengths.
    public static func servers(in conninfo: String, environment: [String: String]) throws -> [ConninfoServer] {
        var values = try PostgresConnection.parsedValues(conninfo, keywords: ["host", "hostaddr", "port"])
        if values["host"] == nil && values["hostaddr"] == nil {
            values["host"] = environment["PGHOST"]
            values["hostaddr"] = environment["PGHOSTADDR"]
        }
        if values["port"] == nil { values["port"] = environment["PGPORT"] }
        func list(_ key: String) -> [String?]? {
            values[key].flatMap { $0.isEmpty ? nil : $0 }.map { text in
                text.split(separator: ",", omittingEmptySubsequences: false).map { part in
                    let value = part.trimmingSpaces
                    return value.isEmpty ? nil : value
                }
            }
        }
        let hosts = list("host"), addresses = list("hostaddr"), ports = list("port")
        let count = max(hosts?.count ?? 0, addresses?.count ?? 0, 1)
        if let hosts, let addresses, hosts.count != addresses.count {
            throw PostgresError.invalidConninfo(reason: "it lists \(hosts.count) host names but \(addresses.count) hostaddr values")
        }
        if let ports, ports.count != 1, ports.count != count {
            throw PostgresError.invalidConninfo(reason: "it lists \(count) hosts but \(ports.count) port values")
        }
        return (0..<count).map { index in
            ConninfoServer(
                host: hosts?[index], hostaddr: addresses?[index],
                port: ports.flatMap { $0.count == 1 ? $0[0] : $0[index] })
        }
    }
}

extension Substring {
    fileprivate var trimmingSpaces: String {
        String(drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
    }
}
