import Foundation
import PGBackupFoundations
import PGBackupStorage
import Yams

/// Builds `Settings` from the configuration file and the environment (which wins), the way
/// DESIGN.md's CLI contract describes. Pure apart from reading the file.
public enum SettingsLoader {
    /// Where the configuration is looked for when neither `--config` nor `PGBACKUP_CONFIG` says.
    public static let defaultPath = "/etc/pgbackup/pgbackup.yaml"

    /// Reads the configuration file (`configPath`, else `$PGBACKUP_CONFIG`, else the default path
    /// if it exists) and applies the environment. A file that was named but is missing is an error.
    public static func load(
        configPath: String?, environment: [String: String], server: String?
    ) throws(ConfigurationError) -> Settings {
        let named = configPath ?? environment["PGBACKUP_CONFIG"].flatMap { $0.isEmpty ? nil : $0 }
        let path = named ?? defaultPath
        var yaml: String?
        if named != nil || FileManager.default.fileExists(atPath: path) {
            // FileHandle, not FileManager.contents: the latter refuses character devices such as
            // /dev/null, which operators use to say "no configuration file".
            guard let handle = FileHandle(forReadingAtPath: path), let data = try? handle.readToEnd() ?? Data() else {
                let reason = FileManager.default.fileExists(atPath: path) ? "permission denied" : "no such file"
                throw .unreadableFile(path: path, reason: reason)
            }
            guard let text = String(data: data, encoding: .utf8) else {
                throw .unreadableFile(path: path, reason: "not UTF-8 text")
            }
            yaml = text
        }
        return try settings(yaml: yaml, path: path, environment: environment, server: server)
    }

    /// The settings from configuration text (nil: no file) and an environment.
    public static func settings(
        yaml: String?, path: String, environment: [String: String], server chosenServer: String?
    ) throws(ConfigurationError) -> Settings {
        let file = try FileSettings(yaml: yaml, path: path)
        var settings = Settings()
        let env = environment.filter { !$0.value.isEmpty }

        // Which server: --server, then PGBACKUP_SERVER, then the only one the file names, then main.
        let serverNames = file.servers.keys.sorted()
        if let name = chosenServer ?? env["PGBACKUP_SERVER"] {
            guard serverNames.isEmpty || serverNames.contains(name) else {
                throw .unknownServer(name: name, known: serverNames)
            }
            settings.server = try validatedName(name, setting: chosenServer != nil ? "--server" : "PGBACKUP_SERVER")
        } else if serverNames.count == 1 {
            settings.server = serverNames[0]
        } else if serverNames.count > 1 {
            throw .ambiguousServer(candidates: serverNames)
        }
        let perServer = file.servers[settings.server] ?? [:]

        // Each setting: environment, else the server's entry, else the file's top level.
        func value(_ key: String, env variable: String?) -> (value: String, setting: String)? {
            if let variable, let value = env[variable] { return (value, variable) }
            if let value = perServer[key] { return (value, "servers.\(settings.server).\(key) in \(path)") }
            if let value = file.top[key] { return (value, "\(key) in \(path)") }
            return nil
        }

        if let (text, setting) = value("repository", env: "PGBACKUP_REPO") {
            do {
                settings.repository = try RepositoryLocation(parsing: text)
            } catch {
                throw .invalidValue(setting: setting, value: text, reason: error.reason)
            }
        }
        if let (text, _) = value("conninfo", env: "PGBACKUP_CONNINFO") { settings.conninfo = Secret(text) }
        if let (text, setting) = value("slot", env: "PGBACKUP_SLOT") {
            guard !text.isEmpty, text.count <= 63,
                  text.allSatisfy({ ($0.isASCII && ($0.isLowercase || $0.isNumber)) || $0 == "_" })
            else {
                throw .invalidValue(setting: setting, value: text, reason: "a replication slot name is 1–63 lower-case letters, digits or '_'")
            }
            settings.slot = text
        }
        if let (text, setting) = value("compression", env: "PGBACKUP_COMPRESSION") {
            settings.compression = try validatedCompression(text, setting: setting)
        }
        if let (text, _) = value("policy", env: "PGBACKUP_POLICY") { settings.policy = text }
        if let (text, _) = value("encryption_key_file", env: "PGBACKUP_ENCRYPTION_KEY_FILE") { settings.encryptionKeyFile = text }
        if let (text, setting) = value("spool_directory", env: "PGBACKUP_SPOOL") {
            guard text.hasPrefix("/") else { throw .invalidValue(setting: setting, value: text, reason: "expected an absolute path") }
            settings.spoolDirectory = text
        }
        if let (text, setting) = value("http", env: "PGBACKUP_HTTP") {
            settings.httpListen = try validatedListenAddress(text, setting: setting)
        }
        if let (text, setting) = value("log_level", env: nil) {
            let levels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]
            guard levels.contains(text) else {
                throw .invalidValue(setting: setting, value: text, reason: "expected one of \(levels.joined(separator: ", "))")
            }
            settings.logLevel = text
        }
        if let (text, setting) = value("log_format", env: nil) {
            guard ["text", "json"].contains(text) else { throw .invalidValue(setting: setting, value: text, reason: "expected text or json") }
            settings.logFormat = text
        }

        // S3: the environment, else the file's `s3:` section.
        func s3(_ key: String, env variable: String) -> (value: String, setting: String)? {
            if let value = env[variable] { return (value, variable) }
            if let value = file.s3[key] { return (value, "s3.\(key) in \(path)") }
            return nil
        }
        if let (text, setting) = s3("endpoint", env: "PGBACKUP_S3_ENDPOINT") {
            guard text.hasPrefix("https://") || text.hasPrefix("http://") else {
                throw .invalidValue(setting: setting, value: text, reason: "expected an http:// or https:// URL")
            }
            settings.s3.endpoint = text
        }
        if let (text, _) = s3("region", env: "PGBACKUP_S3_REGION") { settings.s3.region = text }
        if let (text, setting) = s3("path_style", env: "PGBACKUP_S3_PATH_STYLE") {
            switch text.lowercased() {
            case "true", "yes", "on", "1": settings.s3.pathStyle = true
            case "false", "no", "off", "0": settings.s3.pathStyle = false
            default: throw .invalidValue(setting: setting, value: text, reason: "expected true or false")
            }
        }
        if let (text, _) = s3("access_key_id", env: "AWS_ACCESS_KEY_ID") { settings.s3.accessKeyID = text }
        if let (text, _) = s3("secret_access_key", env: "AWS_SECRET_ACCESS_KEY") { settings.s3.secretAccessKey = Secret(text) }
        if let (text, _) = s3("session_token", env: "AWS_SESSION_TOKEN") { settings.s3.sessionToken = Secret(text) }
        if let (text, _) = s3("ca_file", env: "PGBACKUP_S3_CA_FILE") { settings.s3.caFile = text }
        return settings
    }

    static func validatedName(_ name: String, setting: String) throws(ConfigurationError) -> String {
        guard !name.isEmpty, name.count <= 64, name != ".", name != "..",
              name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "_.-".contains($0)) })
        else {
            throw .invalidValue(setting: setting, value: name, reason: "a server name is 1–64 letters, digits, '_', '.' or '-'")
        }
        return name
    }

    static func validatedCompression(_ text: String, setting: String) throws(ConfigurationError) -> Compression {
        do {
            return try Compression(parsing: text)
        } catch {
            throw .invalidValue(setting: setting, value: text, reason: "expected zstd, gzip or none, optionally with a level: zstd:1…19, gzip:1…9 (e.g. zstd:3)")
        }
    }

    static func validatedListenAddress(_ text: String, setting: String) throws(ConfigurationError) -> String {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
              (1...65535).contains(port), colon > text.startIndex
        else {
            throw .invalidValue(setting: setting, value: text, reason: "expected HOST:PORT, e.g. 127.0.0.1:9187")
        }
        return text
    }
}

/// The configuration file's keys, checked for typos and types, before any override applies.
struct FileSettings {
    static let topKeys = ["repository", "conninfo", "slot", "compression", "policy", "encryption_key_file",
                          "http", "log_level", "log_format", "s3", "servers", "spool_directory"]
    static let serverKeys = ["conninfo", "slot", "compression", "policy"]
    static let s3Keys = ["endpoint", "region", "path_style", "access_key_id", "secret_access_key", "session_token", "ca_file"]
    static let secretKeys: Set<String> = ["conninfo", "secret_access_key", "session_token"]

    var top: [String: String] = [:]
    var s3: [String: String] = [:]
    var servers: [String: [String: String]] = [:]

    init(yaml: String?, path: String) throws(ConfigurationError) {
        guard let yaml else { return }
        let document: Any?
        do {
            document = try Yams.load(yaml: yaml)
        } catch {
            throw .invalidYAML(path: path, detail: "\(error)")
        }
        guard let document else { return }  // an empty file configures nothing
        let root = try Self.mapping(document, at: "the top level", path: path)
        for (key, value) in root {
            switch key {
            case "s3":
                s3 = try Self.scalars(Self.mapping(value, at: "s3", path: path), allowed: Self.s3Keys, prefix: "s3.", path: path)
            case "servers":
                for (name, entry) in try Self.mapping(value, at: "servers", path: path) {
                    _ = try SettingsLoader.validatedName(name, setting: "servers.\(name) in \(path)")
                    servers[name] = try Self.scalars(Self.mapping(entry, at: "servers.\(name)", path: path),
                                                     allowed: Self.serverKeys, prefix: "servers.\(name).", path: path)
                }
            default:
                top.merge(try Self.scalars([key: value], allowed: Self.topKeys, prefix: "", path: path)) { $1 }
            }
        }
    }

    static func mapping(_ value: Any, at place: String, path: String) throws(ConfigurationError) -> [String: Any] {
        guard let dictionary = value as? [String: Any] else {
            throw .invalidYAML(path: path, detail: "\(place) must be a mapping of key: value")
        }
        return dictionary
    }

    static func scalars(_ mapping: [String: Any], allowed: [String], prefix: String, path: String) throws(ConfigurationError) -> [String: String] {
        var result: [String: String] = [:]
        for (key, value) in mapping {
            guard allowed.contains(key) else { throw .unknownKey(key: prefix + key, file: path, allowed: allowed) }
            switch value {
            case let text as String: result[key] = text
            case let flag as Bool: result[key] = String(flag)
            case let number as Int: result[key] = String(number)
            default:
                let shown = secretKeys.contains(key) ? "********" : "\(value)"
                throw .invalidValue(setting: "\(prefix)\(key) in \(path)", value: shown, reason: "expected a single value (text, number or true/false)")
            }
        }
        return result
    }
}
