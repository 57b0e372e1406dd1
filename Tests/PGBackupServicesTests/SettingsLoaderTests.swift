import Foundation
import Testing
import PGBackupFoundations
import PGBackupStorage
@testable import PGBackupServices

@Suite("configuration: file + environment")
struct SettingsLoaderTests {
    let path = "/etc/pgbackup/pgbackup.yaml"

    func load(_ yaml: String?, env: [String: String] = [:], server: String? = nil) throws -> Settings {
        try SettingsLoader.settings(yaml: yaml, path: path, environment: env, server: server)
    }

    @Test func defaultsWithNothingConfigured() throws {
        let settings = try load(nil)
        #expect(settings.repository == nil)
        #expect(settings.server == "main")
        #expect(settings.slot == "pgbackup")
        #expect(settings.compression == .zstd(level: 1))
        #expect(throws: ConfigurationError.self) { try settings.requireRepository() }
        #expect(throws: ConfigurationError.self) { try settings.requireConninfo() }
    }

    @Test func theFileConfiguresAServer() throws {
        let settings = try load("""
            repository: file:///srv/pgbackup
            compression: gzip:6
            s3:
              region: eu-west-1
              path_style: true
            servers:
              db1:
                conninfo: host=db1 user=replicator
                slot: backup_db1
            """)
        #expect(settings.repository == .file(path: "/srv/pgbackup"))
        #expect(settings.server == "db1")
        #expect(settings.conninfo?.value == "host=db1 user=replicator")
        #expect(settings.slot == "backup_db1")
        #expect(settings.compression == .gzip(level: 6))
        #expect(settings.s3.region == "eu-west-1")
        #expect(settings.s3.pathStyle)
    }

    @Test func theEnvironmentOverridesTheFile() throws {
        let settings = try load("""
            repository: file:///srv/pgbackup
            conninfo: host=file-host
            slot: from_file
            """, env: [
                "PGBACKUP_REPO": "s3://bucket/prefix", "PGBACKUP_CONNINFO": "host=env-host",
                "PGBACKUP_SLOT": "from_env", "PGBACKUP_COMPRESSION": "zstd:3", "PGBACKUP_POLICY": "daily",
                "PGBACKUP_S3_ENDPOINT": "http://127.0.0.1:9000", "PGBACKUP_S3_REGION": "eu-central-1",
                "PGBACKUP_S3_PATH_STYLE": "1", "AWS_ACCESS_KEY_ID": "AKIA1", "AWS_SECRET_ACCESS_KEY": "s3cr3t",
                "AWS_SESSION_TOKEN": "t0k3n", "PGBACKUP_ENCRYPTION_KEY_FILE": "/k", "PGBACKUP_HTTP": "127.0.0.1:9187",
            ])
        #expect(settings.repository == .s3(bucket: "bucket", prefix: "prefix"))
        #expect(settings.conninfo?.value == "host=env-host")
        #expect(settings.slot == "from_env")
        #expect(settings.compression == .zstd(level: 3))
        #expect(settings.policy == "daily")
        #expect(settings.s3.endpoint == "http://127.0.0.1:9000")
        #expect(settings.s3.region == "eu-central-1")
        #expect(settings.s3.pathStyle)
        #expect(settings.s3.accessKeyID == "AKIA1")
        #expect(settings.s3.secretAccessKey?.value == "s3cr3t")
        #expect(settings.s3.sessionToken?.value == "t0k3n")
        #expect(settings.encryptionKeyFile == "/k")
        #expect(settings.httpListen == "127.0.0.1:9187")
    }

    @Test func secretsNeverAppearInTheDescription() throws {
        let settings = try load(nil, env: [
            "PGBACKUP_REPO": "s3://bucket", "PGBACKUP_CONNINFO": "host=db password=hunter2 user=r",
            "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI", "AWS_SESSION_TOKEN": "FwoGZXIvYXdzE",
        ])
        let text = "\(settings)"
        #expect(!text.contains("hunter2"))
        #expect(!text.contains("wJalrXUtnFEMI"))
        #expect(!text.contains("FwoGZXIvYXdzE"))
        #expect(text.contains("host=db"))
        #expect(text.contains("secret_access_key=********"))
        #expect("\(settings.s3.secretAccessKey!)" == "********")
    }

    @Test func severalServersNeedAChoice() throws {
        let yaml = """
            servers:
              alpha: {conninfo: host=a}
              beta: {conninfo: host=b}
            """
        #expect(throws: ConfigurationError.ambiguousServer(candidates: ["alpha", "beta"])) { try load(yaml) }
        #expect(try load(yaml, server: "beta").conninfo?.value == "host=b")
        #expect(try load(yaml, env: ["PGBACKUP_SERVER": "alpha"]).conninfo?.value == "host=a")
        #expect(try load(yaml, env: ["PGBACKUP_SERVER": "alpha"], server: "beta").server == "beta")
        #expect(throws: ConfigurationError.unknownServer(name: "gamma", known: ["alpha", "beta"])) {
            try load(yaml, server: "gamma")
        }
    }

    @Test func typosAreNamedWithWhatIsAllowed() {
        #expect {
            try load("repositroy: file:///x")
        } throws: { error in
            let text = "\(error)"
            return text.contains("unknown setting 'repositroy'") && text.contains("repository")
        }
        #expect {
            try load("s3:\n  secret_key: x")
        } throws: { error in "\(error)".contains("unknown setting 's3.secret_key'") && "\(error)".contains("secret_access_key") }
    }

    @Test(arguments: [
        ("PGBACKUP_REPO", "/var/lib/pgbackup", "file:///absolute/path"),
        ("PGBACKUP_COMPRESSION", "lz4", "zstd, gzip or none"),
        ("PGBACKUP_COMPRESSION", "zstd:42", "zstd:1…19"),
        ("PGBACKUP_COMPRESSION", "gzip:0", "gzip:1…9"),
        ("PGBACKUP_SLOT", "Bad-Slot", "replication slot name"),
        ("PGBACKUP_S3_PATH_STYLE", "maybe", "true or false"),
        ("PGBACKUP_S3_ENDPOINT", "127.0.0.1:9000", "http:// or https://"),
        ("PGBACKUP_HTTP", "9187", "HOST:PORT"),
        ("PGBACKUP_HTTP", "127.0.0.1:+80", "HOST:PORT"),
        ("PGBACKUP_HTTP", "::1:80", "HOST:PORT"),
        ("PGBACKUP_SERVER", "../etc", "server name"),
    ])
    func badValuesNameTheSettingAndWhatIsAllowed(variable: String, value: String, allowed: String) {
        #expect {
            try load(nil, env: [variable: value])
        } throws: { error in
            let text = "\(error)"
            return text.contains(variable) && text.contains("'\(value)'") && text.contains(allowed)
        }
    }

    @Test func malformedYAMLAndWrongShapesAreClear() {
        #expect(throws: ConfigurationError.self) { try load("repository: [unclosed") }
        #expect { try load("- a\n- b") } throws: { "\($0)".contains("must be a mapping") }
        #expect {
            try load("servers:\n  main:\n    conninfo: [host=a, password=hunter2]")
        } throws: { error in
            "\(error)".contains("servers.main.conninfo") && !"\(error)".contains("hunter2")
        }
    }

    @Test func aNamedConfigFileMustExist() throws {
        #expect(throws: ConfigurationError.unreadableFile(path: "/nonexistent/pgbackup.yaml", reason: "no such file")) {
            try SettingsLoader.load(configPath: "/nonexistent/pgbackup.yaml", environment: [:], server: nil)
        }
        #expect(throws: ConfigurationError.unreadableFile(path: "/nonexistent/env.yaml", reason: "no such file")) {
            try SettingsLoader.load(configPath: nil, environment: ["PGBACKUP_CONFIG": "/nonexistent/env.yaml"], server: nil)
        }
        let file = FileManager.default.temporaryDirectory.path + "/pgbackup-\(UUID().uuidString).yaml"
        try "repository: file:///from/file\n".write(toFile: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: file) }
        #expect(try SettingsLoader.load(configPath: file, environment: [:], server: nil).repository == .file(path: "/from/file"))
    }
}
