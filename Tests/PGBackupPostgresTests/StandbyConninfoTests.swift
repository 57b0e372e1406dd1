import PGBackupPostgres
import Testing

/// The `primary_conninfo` that `follow` derives from pgbackup's own conninfo.
@Suite("standby conninfo from pgbackup's conninfo")
struct StandbyConninfoTests {
    let chosen = ConninfoServer(host: "db2", port: "5433")

    @Test func passwordsGoHostsAreReducedOtherKeywordsStay() throws {
        let derived = try standbyConninfo(
            from: "host=db1,db2 port=5432,5433 user=replicator password=hunter2 sslpassword=hunter3 passfile=/etc/pgpass sslmode=require target_session_attrs=read-write connect_timeout=7",
            server: chosen, applicationName: nil)
        #expect(derived == "host=db2 port=5433 user=replicator passfile=/etc/pgpass connect_timeout=7 sslmode=require")
        #expect(!derived.contains("hunter"))
    }

    @Test func theDirectorysApplicationNameWins() throws {
        let derived = try standbyConninfo(from: "host=db1,db2 user=r application_name=pgbackup", server: chosen, applicationName: "node c")
        #expect(derived == "host=db2 port=5433 user=r application_name='node c'")
        let kept = try standbyConninfo(from: "host=db1 user=r application_name=mine", server: chosen, applicationName: nil)
        #expect(kept == "host=db2 port=5433 user=r application_name=mine")
    }

    @Test func aURIBecomesKeywordsWithoutItsPassword() throws {
        let derived = try standbyConninfo(
            from: "postgresql://rep:hunter2@db1:5432,db2:5433/postgres?sslmode=verify-full&target_session_attrs=read-write",
            server: ConninfoServer(host: "db2", hostaddr: "10.0.0.2", port: "5433"), applicationName: nil)
        #expect(derived == "host=db2 hostaddr=10.0.0.2 port=5433 user=rep dbname=postgres sslmode=verify-full")
    }

    @Test func quotedValuesRoundTripThroughLibpq() throws {
        let derived = try standbyConninfo(from: "host=a passfile='/path with space/it\\'s'", server: chosen, applicationName: nil)
        #expect(derived == "host=db2 port=5433 passfile='/path with space/it\\'s'")
        #expect(try conninfoValue(of: "passfile", in: derived) == "/path with space/it's")
        #expect(try conninfoValue(of: "application_name", in: "host=x application_name=c1") == "c1")
        #expect(try conninfoValue(of: "application_name", in: "host=x") == nil)
    }
}
