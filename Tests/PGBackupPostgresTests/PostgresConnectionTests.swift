import Foundation
import PGBackupFoundations
import PGBackupPostgres
import PGBackupTestSupport
import Testing

@Suite("PostgresConnection against a real server")
struct PostgresConnectionTests {
    @Test func identifySystemMatchesTheServer() async throws {
        try await withPostgresCluster(.init(name: "identify")) { cluster in
            let systemIdentifier = try await cluster.sql("SELECT system_identifier FROM pg_control_system()")
            let before = try #require(LSN(try await cluster.sql("SELECT pg_current_wal_flush_lsn()")))
            // Committed (so flushed) WAL after `before`: IDENTIFY_SYSTEM must report a later position.
            try await cluster.sql("CREATE TABLE w (v int)", "INSERT INTO w SELECT generate_series(1, 100)")

            let connection = try PostgresConnection(conninfo: cluster.conninfo(replication: true), replication: .physical)
            let identity = try connection.identifySystem()
            let after = try await cluster.currentWALLSN()

            #expect(identity.systemIdentifier.description == systemIdentifier)
            #expect(identity.timeline == TimelineID(1))
            #expect(identity.database == nil)
            #expect(before < identity.xlogPosition)
            #expect(identity.xlogPosition <= after)

            #expect(try connection.serverVersion / 10000 == cluster.major)
            #expect(try connection.showParameter("wal_segment_size") == "16MB")
            #expect(try connection.showParameter("server_version_num") == String(try connection.serverVersion))
            #expect(throws: PostgresError.self) { try connection.showParameter("x; DROP TABLE w") }

            let databaseSession = try PostgresConnection(conninfo: cluster.conninfo(replication: true), replication: .database)
            let databaseIdentity = try databaseSession.identifySystem()
            #expect(databaseIdentity.database == "postgres")
            #expect(databaseIdentity.systemIdentifier == identity.systemIdentifier)
            // A replication=database session runs SQL too.
            #expect(try databaseSession.simpleQuery("SELECT current_user, current_database()")
                == [[cluster.replicationUser, "postgres"]])

            // The server sees the default application name unless the conninfo names one.
            let plain = try PostgresConnection(conninfo: cluster.conninfo())
            #expect(try plain.simpleQuery("SELECT current_setting('application_name')") == [["pgbackup"]])
            let named = try PostgresConnection(conninfo: cluster.conninfo() + " application_name=mine")
            #expect(try named.simpleQuery("SELECT current_setting('application_name')") == [["mine"]])
            named.close()
            #expect(throws: PostgresError.self) { try named.simpleQuery("SELECT 1") }
        }
    }

    @Test func closedPortIsUnableToConnectNamingHostAndPort() throws {
        let port = try freeTCPPort()  // nothing listens there
        let password = "s3cret-closed-port"
        let error = try #require(throws: PostgresError.self) {
            try PostgresConnection(
                conninfo: "host=127.0.0.1 port=\(port) user=someone dbname=app password=\(password) connect_timeout=5")
        }
        guard case .connectionFailed = error else {
            Issue.record("expected connectionFailed, got \(error)")
            return
        }
        let text = error.description
        #expect(text.hasPrefix("unable to connect to PostgreSQL at host=127.0.0.1 port=\(port) user=someone dbname=app"))
        #expect(text.contains("Connection refused"))
        #expect(text.contains("HINT:"))
        #expect(!text.contains(password))
    }

    @Test func malformedConninfoDoesNotEchoAPassword() throws {
        let error = try #require(throws: PostgresError.self) {
            try PostgresConnection(conninfo: "host=127.0.0.1 password=abc leaked-fragment")
        }
        guard case .invalidConninfo = error else {
            Issue.record("expected invalidConninfo, got \(error)")
            return
        }
        #expect(!error.description.contains("leaked-fragment"))
        #expect(!error.description.contains("abc"))
    }

    @Test func wrongPasswordIsAnAuthenticationErrorWithoutThePassword() async throws {
        try await withPostgresCluster(.init(name: "auth")) { cluster in
            let wrong = "Wr0ng-Passw0rd-xyzzy"
            for mode in [ReplicationMode.physical, nil] {
                let conninfo = cluster.conninfo(user: cluster.replicationUser, password: wrong)
                let error = try #require(throws: PostgresError.self) {
                    try PostgresConnection(conninfo: conninfo, replication: mode)
                }
                guard case .authenticationFailed = error else {
                    Issue.record("expected authenticationFailed for \(String(describing: mode)), got \(error)")
                    continue
                }
                #expect(error.description.contains("password authentication failed for user \"\(cluster.replicationUser)\""))
                #expect(error.description.contains("host=127.0.0.1 port=\(cluster.port)"))
                #expect(!error.description.contains(wrong))
                #expect(!String(reflecting: error).contains(wrong))
            }
            // The right password works, so the failure above was about the password.
            let right = try PostgresConnection(conninfo: cluster.conninfo(replication: true))
            #expect(try right.simpleQuery("SELECT current_user") == [[cluster.replicationUser]])
        }
    }

    @Test func failingQueryCarriesSQLStateAndLeavesTheConnectionUsable() async throws {
        try await withPostgresCluster(.init(name: "query")) { cluster in
            let connection = try PostgresConnection(conninfo: cluster.conninfo())
            let error = try #require(throws: PostgresError.self) {
                try connection.simpleQuery("SELECT * FROM no_such_table")
            }
            #expect(error.sqlState == "42P01")
            #expect(error.description.contains("42P01"))
            #expect(error.description.contains("relation \"no_such_table\" does not exist"))

            let syntax = try #require(throws: PostgresError.self) { try connection.simpleQuery("SELEC 1") }
            #expect(syntax.sqlState == "42601")

            let division = try #require(throws: PostgresError.self) { try connection.simpleQuery("SELECT 1/0") }
            guard case let .queryFailed(report) = division else {
                Issue.record("expected queryFailed, got \(division)")
                return
            }
            #expect(report.sqlState == "22012")
            #expect(report.severity == "ERROR")
            #expect(report.message == "division by zero")

            // Still usable after errors; NULL is nil; commands without rows return no rows.
            #expect(try connection.simpleQuery("SELECT 1, NULL::text, 'a b'") == [["1", nil, "a b"]])
            #expect(try connection.simpleQuery("CREATE TABLE t (id int)") == [])

            // A terminated backend is a lost connection, not a query error.
            let pid = try #require(try connection.simpleQuery("SELECT pg_backend_pid()").first?.first ?? nil)
            try await cluster.sql("SELECT pg_terminate_backend(\(pid))")
            let lost = try #require(throws: PostgresError.self) { try connection.simpleQuery("SELECT 1") }
            guard case .connectionLost = lost else {
                Issue.record("expected connectionLost, got \(lost)")
                return
            }
        }
    }
}
