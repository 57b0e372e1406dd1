import Foundation
import PGBackupFoundations
import Testing
@testable import PGBackupServices

#if canImport(Glibc)
import Glibc
#endif

/// The key file (issue #15): what is accepted, what is refused (exit 2: `ConfigurationError`),
/// and that no error shows key bytes.
@Suite("encryption key file")
struct EncryptionKeyFileTests {
    let directory: String

    init() throws {
        directory = FileManager.default.temporaryDirectory.path + "/pgbackup-keyfile-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    func write(_ name: String, _ bytes: [UInt8], mode: mode_t = 0o600) throws -> String {
        let path = directory + "/" + name
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        #expect(chmod(path, mode) == 0)
        return path
    }

    /// `load` throws `invalidKeyFile` whose description contains `text` and no key material.
    func expectRefused(_ path: String, _ text: String, secret: String? = nil, sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            _ = try EncryptionKeyFile.load(path: path, setting: "PGBACKUP_ENCRYPTION_KEY_FILE")
            Issue.record("\(path) was accepted", sourceLocation: sourceLocation)
        } catch {
            guard case .invalidKeyFile = error else { Issue.record("\(error)", sourceLocation: sourceLocation); return }
            let message = "\(error)"
            #expect(message.hasPrefix("unable to use the encryption key file '\(path)' (PGBACKUP_ENCRYPTION_KEY_FILE): "), sourceLocation: sourceLocation)
            #expect(message.contains(text), "\(message)", sourceLocation: sourceLocation)
            #expect(message.contains("\nHINT: "), sourceLocation: sourceLocation)
            if let secret { #expect(!message.contains(secret), sourceLocation: sourceLocation) }
        }
    }

    @Test func theThreeFormatsLoadTheSameKeyAndGroupAccessIsAllowed() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let key = EncryptionKey.random()
        let hex = try write("hex", key.fileContents)
        let hexBytes = Array(key.fileContents.dropLast())
        var raw = [UInt8]()
        for index in stride(from: 0, to: hexBytes.count, by: 2) { raw.append(UInt8(String(decoding: hexBytes[index..<index + 2], as: UTF8.self), radix: 16)!) }
        let rawPath = try write("raw", raw, mode: 0o640)
        let base64 = try write("b64", Array((Data(raw).base64EncodedString() + "\n").utf8), mode: 0o400)
        for path in [hex, rawPath, base64] {
            #expect(try EncryptionKeyFile.load(path: path, setting: "x").id == key.id, "\(path)")
        }
        // A link to the key file (a Kubernetes secret's ..data link) is followed.
        try FileManager.default.createSymbolicLink(atPath: directory + "/link", withDestinationPath: hex)
        #expect(try EncryptionKeyFile.load(path: directory + "/link", setting: "x").id == key.id)
    }

    @Test func anUnusableKeyFileIsRefusedWithoutShowingItsContent() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let key = EncryptionKey.random()
        let hex = String(decoding: key.fileContents.dropLast(), as: UTF8.self)
        expectRefused(try write("world-readable", key.fileContents, mode: 0o644), "it is accessible by every user (mode 644)", secret: hex)
        expectRefused(try write("world-writable", key.fileContents, mode: 0o602), "it is accessible by every user (mode 602)", secret: hex)
        expectRefused(directory + "/missing", "No such file or directory")
        expectRefused(directory, "not a regular file")
        expectRefused(try write("large", Array(repeating: UInt8(ascii: "a"), count: 1025)), "it holds 1025 bytes, more than a key file's 1024")
        // One hex digit short, a passphrase: not a key, and not echoed.
        expectRefused(try write("short", Array(hex.utf8.dropLast())), "it holds 63 bytes that are neither 32 raw bytes", secret: String(hex.dropLast()))
        expectRefused(try write("passphrase", Array("correct horse battery staple\n".utf8)), "neither 32 raw bytes", secret: "horse")
        expectRefused(try write("empty", []), "it holds 0 bytes")
    }

    @Test func theSectionTheFlatKeyAndTheEnvironmentNameTheKeyFile() throws {
        let path = "/etc/pgbackup/pgbackup.yaml"
        func load(_ yaml: String?, _ env: [String: String] = [:]) throws -> Settings {
            try SettingsLoader.settings(yaml: yaml, path: path, environment: env, server: nil)
        }
        #expect(try load("encryption:\n  key_file: /a").encryptionKeyFile == "/a")
        #expect(try load("encryption_key_file: /b").encryptionKeyFile == "/b")
        #expect(try load("encryption:\n  key_file: /a", ["PGBACKUP_ENCRYPTION_KEY_FILE": "/c"]).encryptionKeyFile == "/c")
        #expect(try load(nil).encryptionKeyFile == nil)
        #expect(try load(nil).encryptionKey() == nil)
        #expect { try load("encryption:\n  key_file: /a\nencryption_key_file: /b") } throws: { "\($0)".contains("set one of them") }
        #expect { try load("encryption:\n") } throws: { "\($0)".contains("encryption must be a mapping of key: value") }
        #expect { try load("encryption:\n  keyfile: /a") } throws: { "\($0)".contains("unknown setting 'encryption.keyfile'") }

        // What restore writes for restore_command names the key file, and reads back to it.
        var settings = try load("repository: file:///srv/repo")
        settings.encryptionKeyFile = "/srv/data.pgbackup.key"
        let yaml = settings.repositoryConfigurationYAML(comment: "test")
        #expect(yaml.contains("encryption:\n  key_file: \"/srv/data.pgbackup.key\"\n"))
        #expect(try load(yaml).encryptionKeyFile == "/srv/data.pgbackup.key")
    }
}
