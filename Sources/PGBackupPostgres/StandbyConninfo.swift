import CLibPQ

/// The `primary_conninfo` a standby gets from pgbackup's own connection string: pgbackup's
/// passwords removed (`removingPasswords(fromConninfo:)`; the standby authenticates on its own,
/// with `passfile`, `~/.pgpass` or a certificate), reduced to `server` (no host list, no
/// `target_session_attrs`: the standby must stream from that server, not the first that
/// answers), every other keyword kept (`user`, `passfile`, `sslmode`, …). `applicationName`,
/// when given, replaces the string's own (`synchronous_standby_names` may name the standby).
/// Keyword/value form, host first.
///
/// - Throws: `PostgresError.invalidConninfo` when libpq cannot parse the string.
public func standbyConninfo(from conninfo: String, server: ConninfoServer, applicationName: String?) throws -> String {
    let dropped: Set<String> = ["password", "sslpassword", "host", "hostaddr", "port", "target_session_attrs", "replication"]
    var pairs: [(String, String)] = []
    if let host = server.host { pairs.append(("host", host)) }
    if let hostaddr = server.hostaddr { pairs.append(("hostaddr", hostaddr)) }
    if let port = server.port { pairs.append(("port", port)) }
    for (keyword, value) in try PostgresConnection.parsedPairs(removingPasswords(fromConninfo: conninfo)) where !dropped.contains(keyword) {
        if keyword == "application_name" && applicationName != nil { continue }
        pairs.append((keyword, value))
    }
    if let applicationName { pairs.append(("application_name", applicationName)) }
    return pairs.map { "\($0.0)=\(conninfoQuoted($0.1))" }.joined(separator: " ")
}

/// The value `conninfo` gives `keyword` (URI or keyword/value form), without libpq's defaults or
/// the environment; nil when it gives none.
public func conninfoValue(of keyword: String, in conninfo: String) throws -> String? {
    try PostgresConnection.parsedValues(conninfo, keywords: [keyword])[keyword]
}

/// A conninfo value as is when plainly safe, else single-quoted with `\` and `'` escaped.
private func conninfoQuoted(_ value: String) -> String {
    let plain = !value.isEmpty && value.allSatisfy { !$0.isWhitespace && $0 != "'" && $0 != "\\" && $0 != "=" }
    if plain { return value }
    return "'" + value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "\\'") + "'"
}

extension PostgresConnection {
    /// Every keyword `conninfo` sets, in libpq's order, without defaults or the environment.
    static func parsedPairs(_ conninfo: String) throws -> [(String, String)] {
        var errorPointer: UnsafeMutablePointer<CChar>?
        guard let options = PQconninfoParse(conninfo, &errorPointer) else {
            if let errorPointer { PQfreemem(errorPointer) }
            _ = try parsedValues(conninfo, keywords: [])  // throws the error `init` would, without secrets
            throw PostgresError.invalidConninfo(reason: "libpq could not parse it")
        }
        defer { PQconninfoFree(options) }
        var pairs: [(String, String)] = []
        var option = options
        while let keyword = option.pointee.keyword {
            if let value = option.pointee.val { pairs.append((String(cString: keyword), String(cString: value))) }
            option += 1
        }
        return pairs
    }
}
