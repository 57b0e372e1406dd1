import Testing
import PGBackupPostgres

@Suite("conninfo servers")
struct ConninfoServersTests {
    @Test func keywordListsWithOnePortForAll() throws {
        let servers = try ConninfoServer.servers(in: "host='a,b, c' port=5433 user=r", environment: [:])
        #expect(servers.map(\.description) == ["a:5433", "b:5433", "c:5433"])
        #expect(servers[1].overrides == ["host": "b", "port": "5433", "target_session_attrs": "any"])
    }

    @Test func onePortPerHostAndURIs() throws {
        let keyword = try ConninfoServer.servers(in: "host=a,b port=1,2", environment: [:])
        #expect(keyword.map(\.description) == ["a:1", "b:2"])
        let uri = try ConninfoServer.servers(in: "postgresql://rep:secret@a:1,b:2/postgres", environment: [:])
        #expect(uri.map(\.description) == ["a:1", "b:2"])
    }

    @Test func environmentWhenTheConninfoNamesNoHost() throws {
        let servers = try ConninfoServer.servers(in: "user=r", environment: ["PGHOST": "x,y", "PGPORT": "7"])
        #expect(servers.map(\.description) == ["x:7", "y:7"])
        let none = try ConninfoServer.servers(in: "user=r", environment: [:])
        #expect(none == [ConninfoServer(host: nil, port: nil)])
    }

    @Test func listsThatDisagreeAreRefused() {
        #expect(throws: PostgresError.self) { try ConninfoServer.servers(in: "host=a,b,c port=1,2", environment: [:]) }
        #expect(throws: PostgresError.self) { try ConninfoServer.servers(in: "host=a,b hostaddr=1.1.1.1", environment: [:]) }
        #expect(throws: PostgresError.self) { try ConninfoServer.servers(in: "host='unterminated", environment: [:]) }
    }
}
