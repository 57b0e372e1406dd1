import Foundation
import Testing
import PGBackupFoundations
@testable import PGBackupServices

/// What the configuration refuses and what its errors never show (issue #10, item 6).
@Suite("configuration: unimplemented settings, secrets in errors")
struct SettingsSafetyTests {
    let path = "/etc/pgbackup/pgbackup.yaml"

    func load(_ yaml: String?, env: [String: String] = [:]) throws -> Settings {
        try SettingsLoader.settings(yaml: yaml, path: path, environment: env, server: nil)
    }

    /// The key file setting is implemented now (issue #15): a file that cannot be used is refused
    /// (exit 2) by the setting that names it, from the environment, the flat key or the section.
    @Test(arguments: [
        (nil, ["PGBACKUP_ENCRYPTION_KEY_FILE": "/nonexistent/k"], "(PGBACKUP_ENCRYPTION_KEY_FILE)"),
        ("encryption_key_file: /nonexistent/k", [:], "(encryption_key_file in /etc/pgbackup/pgbackup.yaml)"),
        ("encryption:\n  key_file: /nonexistent/k", [:], "(encryption.key_file in /etc/pgbackup/pgbackup.yaml)"),
    ] as [(String?, [String: String], String)])
    func anUnusableKeyFileIsRefusedByItsSetting(yaml: String?, env: [String: String], text: String) throws {
        let settings = try load(yaml, env: env)
        #expect(settings.encryptionKeyFile == "/nonexistent/k")
        #expect {
            try settings.refuseUnimplemented()
        } throws: { error in
            guard case ConfigurationError.invalidKeyFile = error else { return false }
            return "\(error)".hasPrefix("unable to use the encryption key file '/nonexistent/k' \(text): ")
        }
    }

    @Test func implementedSettingsPass() throws {
        try load("repository: file:///srv\ncompression: gzip:6\nspool_directory: /srv/spool\nhttp: 127.0.0.1:9187", env: ["PGBACKUP_CONNINFO": "host=a"]).refuseUnimplemented()
        // A policy is implemented now (issue #11): loaded and validated, not refused.
        try load("policy: /srv/policy.yaml").refuseUnimplemented()
    }

    @Test func aPolicyIsLoadedFromTheEnvironmentOrTheFile() throws {
        let directory = FileManager.default.temporaryDirectory.path + "/pgbackup-policy-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try Data("retention:\n  redundancy: 3\n".utf8).write(to: URL(fileURLWithPath: directory + "/three.yaml"))
        try Data("schedule:\n  backup: every 1h\nretention:\n  redundancy: 3\n".utf8).write(to: URL(fileURLWithPath: directory + "/hourly.yaml"))

        #expect(try load(nil).retentionRules() == nil)
        let byName = try load(nil, env: ["PGBACKUP_POLICY": "three", "PGBACKUP_POLICY_DIR": directory])
        #expect(try byName.retentionRules() == RetentionRules(redundancy: 3))
        let byPath = try load("servers:\n  main:\n    policy: \(directory)/hourly.yaml")
        #expect(try byPath.loadPolicy()?.schedule?.backup == .every(3_600))
        #expect {
            try load("servers:\n  main:\n    policy: weekly", env: ["PGBACKUP_POLICY_DIR": directory]).loadPolicy()
        } throws: { error in
            "\(error)".hasPrefix("invalid value 'weekly' for servers.main.policy in \(path): no policy of that name; the policies found are ")
                && "\(error)".contains("hourly, three") && "\(error)".contains("(searched \(directory), ")
        }
        #expect {
            try load(nil, env: ["PGBACKUP_POLICY": directory + "/missing.yaml"]).loadPolicy()
        } throws: { "\($0)" == "invalid value '\(directory)/missing.yaml' for PGBACKUP_POLICY: unable to read policy file '\(directory)/missing.yaml': no such file" }
    }

    @Test(arguments: [
        "servers:\n  main:\n    conninfo: host=a password=s3cret user=r\n  bad key here\n",
        "s3:\n  secret_access_key: s3cret\n   region: [unclosed\n",
        "s3:\n  secret_access_key: \"s3cret\n",
        "conninfo: 'host=a password=s3cret' x: y\n",
    ])
    func aSyntaxErrorNeverEchoesTheLine(yaml: String) {
        #expect {
            try load(yaml)
        } throws: { error in
            let message = "\(error)"
            return message.hasPrefix("unable to parse configuration file '\(path)': line ") && !message.contains("s3cret")
        }
    }

    @Test func aSecretOfTheWrongShapeIsNotEchoed() {
        #expect {
            try load("s3:\n  secret_access_key: {value: s3cret}")
        } throws: { error in
            "\(error)".contains("s3.secret_access_key") && !"\(error)".contains("s3cret")
        }
    }

    @Test func aKeyWithoutAValueIsAMistake() {
        #expect { try load("slot:\n") } throws: { "\($0)" == "invalid value for slot in \(path): expected a single value (text, number or true/false)" }
        #expect { try load("s3:\n") } throws: { "\($0)".contains("s3 must be a mapping") }
    }

    @Test func yamlScalarsOfEveryKindAreText() throws {
        let settings = try load("slot: 123\ns3:\n  path_style: yes\n  region: 42")
        #expect(settings.slot == "123")
        #expect(settings.s3.pathStyle)
        #expect(settings.s3.region == "42")
        #expect { try load("s3:\n  path_style: maybe") } throws: { "\($0)" == "invalid value 'maybe' for s3.path_style in \(path): expected true or false" }
    }

    @Test func aStandbyGetsTheConninfoWithoutPasswords() throws {
        let settings = try load(nil, env: ["PGBACKUP_CONNINFO": "host=db user=r password=s3cret sslpassword=s3cret"])
        #expect(settings.conninfoWithoutPasswords == "host=db user=r")
    }

    @Test func theSpoolErrorNamesTheSettingsThatMoveIt() throws {
        let file = FileManager.default.temporaryDirectory.path + "/pgbackup-spool-\(UUID().uuidString)"
        try Data("x".utf8).write(to: URL(fileURLWithPath: file))
        defer { try? FileManager.default.removeItem(atPath: file) }
        #expect {
            _ = try WALSpool(directory: file + "/spool/main", segmentSize: try WALSegmentSize(megabytes: 16))
        } throws: { error in
            let message = "\(error)"
            return message.hasPrefix("unable to create directory '\(file)") && message.contains("--spool")
                && message.contains("PGBACKUP_SPOOL") && message.contains("spool_directory")
        }
    }
}
