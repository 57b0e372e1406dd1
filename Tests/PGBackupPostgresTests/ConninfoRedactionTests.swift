import Testing
import PGBackupPostgres

@Suite("conninfo redaction")
struct ConninfoRedactionTests {
    @Test(arguments: [
        ("host=db password=hunter2 user=r", "host=db password=******** user=r"),
        ("host=db password = 'hun ter\\' 2' port=5432", "host=db password = ******** port=5432"),
        ("password=hunter2", "password=********"),
        ("host=a,b,c user=replicator", "host=a,b,c user=replicator"),
        ("postgresql://rep:hunter2@db:5432/postgres", "postgresql://rep:********@db:5432/postgres"),
        ("postgres://rep@db/x?password=hunter2&sslmode=require", "postgres://rep@db/x?password=********&sslmode=require"),
        ("postgresql://db/x", "postgresql://db/x"),
        ("host=db sslkey=/k.pem sslpassword=hunter2 user=r", "host=db sslkey=/k.pem sslpassword=******** user=r"),
        ("host=db sslpassword = 'hunter2 x' password=hunter2", "host=db sslpassword = ******** password=********"),
        ("postgresql://db/x?sslpassword=hunter2&sslmode=require", "postgresql://db/x?sslpassword=********&sslmode=require"),
    ])
    func passwordsAreMasked(conninfo: String, expected: String) {
        let redacted = redactingPasswords(inConninfo: conninfo)
        #expect(redacted == expected)
        #expect(!redacted.contains("hunter2"))
    }

    @Test(arguments: [
        ("host=db password=hunter2 user=r", "host=db user=r"),
        ("host=db user=r password = 'hun ter\\' 2'", "host=db user=r"),
        ("password=hunter2 sslpassword=hunter2 host=a,b", "host=a,b"),
        ("host=db user=r", "host=db user=r"),
        ("postgresql://rep:hunter2@db:5432/postgres", "postgresql://rep@db:5432/postgres"),
        ("postgres://rep@db/x?password=hunter2&sslmode=require", "postgres://rep@db/x?sslmode=require"),
        ("postgres://rep@db/x?sslpassword=hunter2", "postgres://rep@db/x"),
    ])
    func passwordsAreRemoved(conninfo: String, expected: String) {
        let kept = removingPasswords(fromConninfo: conninfo)
        #expect(kept == expected)
        #expect(!kept.contains("hunter2"))
    }
}
