import CLibPQ
import PGBackupFoundations
#if canImport(Glibc)
import Glibc
#endif

/// Which kind of replication session to open (libpq's `replication` keyword).
public enum ReplicationMode: String, Sendable {
    /// `replication=true`: a physical replication session, matched by `replication` lines in
    /// pg_hba.conf; accepts replication commands only (and SHOW).
    case physical = "true"
    /// `replication=database`: a session bound to a database that accepts both replication
    /// commands and SQL, matched by ordinary database lines in pg_hba.conf.
    case database = "database"
}

/// The answer to `IDENTIFY_SYSTEM`.
public struct SystemIdentity: Sendable, Hashable {
    /// pg_control's system identifier: the same for a primary, its standbys and its backups.
    public var systemIdentifier: SystemIdentifier
    /// The server's current timeline.
    public var timeline: TimelineID
    /// The current WAL flush position.
    public var xlogPosition: LSN
    /// The database of a `replication=database` session; nil for a physical one.
    public var database: String?

    public init(systemIdentifier: SystemIdentifier, timeline: TimelineID, xlogPosition: LSN, database: String?) {
        self.systemIdentifier = systemIdentifier
        self.timeline = timeline
        self.xlogPosition = xlogPosition
        self.database = database
    }
}

/// One libpq connection (`PGconn`).
///
/// Not `Sendable`: a connection has exactly one owner, which uses it from one task at a time, and
/// closes it with `close()` or by letting go of it. libpq is blocking: every call here waits for
/// the network, so callers run connections off Swift's cooperative thread pool (a dedicated
/// thread or executor), not on it.
///
/// Notices and warnings that the server sends go to `noticeHandler`; without one they are
/// discarded instead of being printed on stderr by libpq's default notice processor.
public final class PostgresConnection {
    private var connection: OpaquePointer?
    /// `host=… port=… user=… dbname=…` of this connection, for messages; never a password.
    public let target: String
    /// Called with each NoticeResponse (NOTICE, WARNING, …) the server sends, on the thread that
    /// is inside a libpq call on this connection when it arrives (it interrupts nothing: libpq
    /// reads notices while it reads results or COPY data). Nil discards them.
    public var noticeHandler: ((ServerErrorReport) -> Void)?

    /// Connects with `PQconnectdbParams`.
    ///
    /// - Parameters:
    ///   - conninfo: a libpq connection string (`host=… port=…`) or URI (`postgresql://…`); it may
    ///     list several hosts. Empty uses libpq's defaults and `PG*` environment variables.
    ///   - replication: opens a replication session of that kind; nil opens an ordinary one. It
    ///     overrides any `replication` keyword inside `conninfo`.
    ///   - overriding: keyword values that replace what `conninfo` says (e.g. one server of a
    ///     multi-host conninfo: `ConninfoServer.overrides`).
    /// - Throws: `PostgresError.invalidConninfo`, `.authenticationFailed` or `.connectionFailed`.
    public init(conninfo: String, replication: ReplicationMode? = nil, overriding: [String: String] = [:]) throws {
        let parsed = try Self.parse(conninfo)

        // expand_dbname = 1: the first `dbname` value is expanded when it is a connection string
        // or URI; the keywords after it override what it says.
        var keywords = ["dbname", "fallback_application_name"]
        var values = [conninfo, "pgbackup"]
        if let replication {
            keywords.append("replication")
            values.append(replication.rawValue)
        }
        for (keyword, value) in overriding.sorted(by: { $0.key < $1.key }) {
            keywords.append(keyword)
            values.append(value)
        }
        let connection = withCStringArray(keywords) { keywordPointers in
            withCStringArray(values) { valuePointers in
                PQconnectdbParams(keywordPointers, valuePointers, 1)
            }
        }
        guard let connection else {
            throw PostgresError.connectionFailed(target: Self.describe(parsed), reason: "out of memory")
        }
        self.target = Self.describe(Self.effectiveOptions(connection) ?? parsed)
        guard PQstatus(connection) == CONNECTION_OK else {
            let reason = Self.errorMessage(connection)
            PQfinish(connection)
            throw Self.looksLikeAuthentication(reason)
                ? PostgresError.authenticationFailed(target: target, reason: reason)
                : PostgresError.connectionFailed(target: target, reason: reason)
        }
        self.connection = connection
        // The receiver's context is this object, unretained: the PGconn never outlives it
        // (`deinit` and `close()` finish the PGconn, and PQfinish sends no notice), so libpq
        // never calls the receiver with a dangling context. A capture-free closure is a C
        // function pointer.
        PQsetNoticeReceiver(connection, { context, result in
            guard let context, let result else { return }
            let owner = Unmanaged<PostgresConnection>.fromOpaque(context).takeUnretainedValue()
            owner.noticeHandler?(PostgresConnection.report(from: result))
        }, Unmanaged.passUnretained(self).toOpaque())
    }

    deinit {
        if let connection { PQfinish(connection) }
    }

    /// Closes the connection (`PQfinish`). Later calls throw `PostgresError.closed`.
    public func close() {
        if let connection { PQfinish(connection) }
        connection = nil
    }

    /// The live `PGconn`, for the replication client in this module.
    var handle: OpaquePointer {
        get throws {
            guard let connection else { throw PostgresError.closed }
            return connection
        }
    }

    /// `PQserverVersion`: e.g. 150004 for 15.4.
    public var serverVersion: Int {
        get throws { Int(PQserverVersion(try handle)) }
    }

    /// A parameter the server reports at connection start and on change (`PQparameterStatus`):
    /// `server_version`, `server_encoding`, `integer_datetimes`, `TimeZone`, …
    public func parameterStatus(_ name: String) throws -> String? {
        guard let value = PQparameterStatus(try handle, name) else { return nil }
        return String(cString: value)
    }

    // MARK: queries

    /// Runs one statement (or replication command) with `PQexec` and returns its rows as text,
    /// NULL as nil. Commands without rows return `[]`.
    ///
    /// - Throws: `PostgresError.queryFailed` with the server's SQLSTATE and message;
    ///   `.connectionLost` when the connection broke; `.unexpectedResponse` for a COPY.
    @discardableResult
    public func simpleQuery(_ sql: String) throws -> [[String?]] {
        let connection = try handle
        let result = PQexec(connection, sql)
        defer { PQclear(result) }
        guard let result else {
            throw PostgresError.connectionLost(reason: Self.errorMessage(connection))
        }
        switch PQresultStatus(result) {
        case PGRES_TUPLES_OK, PGRES_SINGLE_TUPLE:
            return Self.rows(of: result)
        case PGRES_COMMAND_OK, PGRES_EMPTY_QUERY:
            return []
        case PGRES_FATAL_ERROR, PGRES_NONFATAL_ERROR, PGRES_BAD_RESPONSE:
            throw Self.error(from: result, connection: connection)
        case let status:
            let name = PQresStatus(status).map { String(cString: $0) } ?? "status \(status.rawValue)"
            throw PostgresError.unexpectedResponse("\(name) from a simple query")
        }
    }

    /// `IDENTIFY_SYSTEM`, on a replication connection.
    public func identifySystem() throws -> SystemIdentity {
        let rows = try simpleQuery("IDENTIFY_SYSTEM")
        guard rows.count == 1, rows[0].count >= 4 else {
            throw PostgresError.unexpectedResponse("IDENTIFY_SYSTEM returned \(rows.count) rows of \(rows.first?.count ?? 0) columns, expected 1 row of 4")
        }
        let row = rows[0]
        guard let systemIdentifier = row[0].flatMap({ SystemIdentifier($0) }),
              let timeline = row[1].flatMap({ UInt32($0) }),
              let position = row[2].flatMap({ LSN($0) })
        else {
            throw PostgresError.unexpectedResponse(
                "IDENTIFY_SYSTEM returned systemid=\(row[0] ?? "NULL") timeline=\(row[1] ?? "NULL") xlogpos=\(row[2] ?? "NULL")")
        }
        return SystemIdentity(
            systemIdentifier: systemIdentifier, timeline: TimelineID(timeline), xlogPosition: position, database: row[3])
    }

    /// `SHOW name` (works on replication connections too), e.g. `wal_segment_size` → `16MB`,
    /// `server_version_num` → `150004`.
    public func showParameter(_ name: String) throws -> String {
        guard !name.isEmpty, name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == ".") }) else {
            throw PostgresError.unexpectedResponse("'\(name)' is not a configuration parameter name")
        }
        let rows = try simpleQuery("SHOW \(name)")
        guard rows.count == 1, rows[0].count == 1, let value = rows[0][0] else {
            throw PostgresError.unexpectedResponse("SHOW \(name) returned \(rows.count) rows, expected one value")
        }
        return value
    }

    /// `text` as an SQL string literal (`PQescapeLiteral`), quotes included.
    public func escapeLiteral(_ text: String) throws -> String {
        let connection = try handle
        let utf8 = Array(text.utf8)
        guard let escaped = utf8.withUnsafeBufferPointer({ buffer in
            buffer.withMemoryRebound(to: CChar.self) { PQescapeLiteral(connection, $0.baseAddress, buffer.count) }
        }) else {
            throw PostgresError.unexpectedResponse("unable to escape a literal: \(Self.errorMessage(connection))")
        }
        defer { PQfreemem(escaped) }
        return String(cString: escaped)
    }

    /// `name` as an SQL identifier (`PQescapeIdentifier`), quotes included.
    public func escapeIdentifier(_ name: String) throws -> String {
        let connection = try handle
        let utf8 = Array(name.utf8)
        guard let escaped = utf8.withUnsafeBufferPointer({ buffer in
            buffer.withMemoryRebound(to: CChar.self) { PQescapeIdentifier(connection, $0.baseAddress, buffer.count) }
        }) else {
            throw PostgresError.unexpectedResponse("unable to escape an identifier: \(Self.errorMessage(connection))")
        }
        defer { PQfreemem(escaped) }
        return String(cString: escaped)
    }

    // MARK: - plumbing

    private static func rows(of result: OpaquePointer) -> [[String?]] {
        let rowCount = PQntuples(result)
        let columnCount = PQnfields(result)
        var rows: [[String?]] = []
        rows.reserveCapacity(Int(rowCount))
        for row in 0..<rowCount {
            var values: [String?] = []
            values.reserveCapacity(Int(columnCount))
            for column in 0..<columnCount {
                if PQgetisnull(result, row, column) != 0 {
                    values.append(nil)
                } else {
                    values.append(String(cString: PQgetvalue(result, row, column)))
                }
            }
            rows.append(values)
        }
        return rows
    }

    /// The error of a failed result. When the connection itself is gone, `connectionLost`.
    static func error(from result: OpaquePointer, connection: OpaquePointer) -> PostgresError {
        if PQstatus(connection) == CONNECTION_BAD {
            let message = PQresultErrorField(result, Int32(UInt8(ascii: "M"))).map { String(cString: $0) }
            return .connectionLost(reason: message ?? errorMessage(connection))
        }
        return .queryFailed(Self.report(from: result))
    }

    /// The fields of an error or notice result (ErrorResponse, NoticeResponse).
    static func report(from result: OpaquePointer) -> ServerErrorReport {
        func field(_ code: UInt8) -> String? {
            PQresultErrorField(result, Int32(code)).map { String(cString: $0) }
        }
        return ServerErrorReport(
            severity: field(UInt8(ascii: "V")) ?? field(UInt8(ascii: "S")) ?? "ERROR",  // PG_DIAG_SEVERITY_NONLOCALIZED, PG_DIAG_SEVERITY
            sqlState: field(UInt8(ascii: "C")),  // PG_DIAG_SQLSTATE
            message: field(UInt8(ascii: "M"))  // PG_DIAG_MESSAGE_PRIMARY
                ?? trimmed(PQresultErrorMessage(result).map { String(cString: $0) } ?? "unknown error"),
            detail: field(UInt8(ascii: "D")),  // PG_DIAG_MESSAGE_DETAIL
            hint: field(UInt8(ascii: "H")))  // PG_DIAG_MESSAGE_HINT
    }

    static func errorMessage(_ connection: OpaquePointer) -> String {
        trimmed(PQerrorMessage(connection).map { String(cString: $0) } ?? "unknown error")
    }

    private static func trimmed(_ text: String) -> String {
        var text = Substring(text)
        while let last = text.last, last.isWhitespace { text.removeLast() }
        return String(text)
    }

    /// libpq reports no SQLSTATE for a failed connection, only the text of the server's FATAL
    /// message; these are PostgreSQL's (untranslated: lc_messages is C in server-side
    /// authentication) messages for SQLSTATE 28P01 and 28000, and libpq's own for a missing
    /// password.
    static func looksLikeAuthentication(_ reason: String) -> Bool {
        let markers = [
            "password authentication failed", "authentication failed for user", "no password supplied",
            "no pg_hba.conf entry", "pg_hba.conf rejects", "SCRAM authentication", "does not exist",
        ]
        return markers.contains { marker in
            guard reason.contains(marker) else { return false }
            // "database … does not exist" is not about credentials; "role … does not exist" is.
            return marker != "does not exist" || reason.contains("role \"")
        }
    }

    private static let targetKeywords = ["host", "hostaddr", "port", "user", "dbname"]

    /// Validates `conninfo` and returns its target keywords. libpq's parse error may quote a
    /// fragment of the string, which could be part of a password: then only a generic reason.
    private static func parse(_ conninfo: String) throws -> [String: String] {
        var errorPointer: UnsafeMutablePointer<CChar>?
        guard let options = PQconninfoParse(conninfo, &errorPointer) else {
            var reason = errorPointer.map { trimmed(String(cString: $0)) } ?? "libpq could not parse it"
            if let errorPointer { PQfreemem(errorPointer) }
            if conninfo.lowercased().contains("password") || conninfo.contains("@") {
                reason = "libpq could not parse it (details withheld: the string may hold a password)"
            }
            throw PostgresError.invalidConninfo(reason: reason)
        }
        defer { PQconninfoFree(options) }
        return targetValues(options)
    }

    /// The options libpq actually used (after defaults and the environment), target keys only.
    /// The values `conninfo` gives the named keywords (URI or keyword/value form), without
    /// libpq's defaults or the environment.
    static func parsedValues(_ conninfo: String, keywords: Set<String>) throws -> [String: String] {
        var errorPointer: UnsafeMutablePointer<CChar>?
        guard let options = PQconninfoParse(conninfo, &errorPointer) else {
            if let errorPointer { PQfreemem(errorPointer) }
            return try parse(conninfo)  // throws the same error `init` would
        }
        defer { PQconninfoFree(options) }
        var values: [String: String] = [:]
        var option = options
        while let keyword = option.pointee.keyword {
            let key = String(cString: keyword)
            if keywords.contains(key), let value = option.pointee.val {
                values[key] = String(cString: value)
            }
            option += 1
        }
        return values
    }

    private static func effectiveOptions(_ connection: OpaquePointer) -> [String: String]? {
        guard let options = PQconninfo(connection) else { return nil }
        defer { PQconninfoFree(options) }
        let values = targetValues(options)
        return values.isEmpty ? nil : values
    }

    private static func targetValues(_ options: UnsafeMutablePointer<PQconninfoOption>) -> [String: String] {
        var values: [String: String] = [:]
        var option = options
        while let keyword = option.pointee.keyword {
            let key = String(cString: keyword)
            if targetKeywords.contains(key), let value = option.pointee.val, value.pointee != 0 {
                values[key] = String(cString: value)
            }
            option += 1
        }
        return values
    }

    private static func describe(_ values: [String: String]) -> String {
        let parts = targetKeywords.compactMap { key in values[key].map { "\(key)=\($0)" } }
        return parts.isEmpty ? "the default server (libpq defaults)" : parts.joined(separator: " ")
    }
}

@available(*, unavailable, message: "a PostgresConnection has one owner; give each task its own")
extension PostgresConnection: Sendable {}

/// Calls `body` with a NULL-terminated array of C strings that live for the call.
private func withCStringArray<R>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> R) -> R {
    let duplicates = strings.map { strdup($0) }
    defer { duplicates.forEach { free($0) } }
    let pointers = duplicates.map { UnsafePointer($0) } + [nil]
    return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
}
