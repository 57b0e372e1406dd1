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
    ])
    func passwordsAreMasked(conninfo: String, expected: String) {
        let redacted = redactingPasswords(inConninfo: conninfo)
        #expect(redacted == expected)
        #expect(!redacted.contains("hunter2"))
    }
}
