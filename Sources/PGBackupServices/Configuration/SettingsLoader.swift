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

    /// The settings from configuration text (nil: no file) and an environment: each setting from
    /// its environment variable, else the chosen server's entry, else the file's top level.
    public static func settings(
        yaml: String?, path: String, environment: [String: String], server chosenServer: String?
    ) throws(ConfigurationError) -> Settings {
        let file = try yaml.map { text throws(ConfigurationError) in try ConfigurationFile(yaml: text, path: path) } ?? ConfigurationFile()
        let env = environment.filter { !$0.value.isEmpty }
        var settings = Settings()

        // Which server: --server, then PGBACKUP_SERVER, then the only one the file names, then main.
        let serverNames = (file.servers ?? [:]).keys.sorted()
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
        let entry = file.servers?[settings.server]

        func value<Kind>(_ key: ConfigurationFile.CodingKeys, _ property: KeyPath<ConfigurationFile, FileValue<Kind>?>) throws(ConfigurationError) -> Kind.Value? {
            if let variable = key.environment, let text = env[variable] {
                settings.sources[key.rawValue] = variable
                return try parse(Kind.self, text, setting: variable)
            }
            if let value = entry?[keyPath: property] {
                settings.sources[key.rawValue] = "servers.\(settings.server).\(key.rawValue) in \(path)"
                return value.value
            }
            guard let value = file[keyPath: property] else { return nil }
            settings.sources[key.rawValue] = "\(key.rawValue) in \(path)"
            return value.value
        }
        func s3<Kind>(_ key: ConfigurationFile.S3Section.CodingKeys, _ property: KeyPath<ConfigurationFile.S3Section, FileValue<Kind>?>) throws(ConfigurationError) -> Kind.Value? {
            for variable in key.environment {
                if let text = env[variable] { return try parse(Kind.self, text, setting: variable) }
            }
            return file.s3?[keyPath: property]?.value
        }

        settings.repository = try value(.repository, \.repository)
        settings.conninfo = try value(.conninfo, \.conninfo)
        settings.slot = try value(.slot, \.slot) ?? settings.slot
        settings.compression = try value(.compression, \.compression) ?? settings.compression
        settings.policy = try value(.policy, \.policy)
        settings.policyDirectory = env["PGBACKUP_POLICY_DIR"]
        settings.encryptionKeyFile = try value(.encryptionKeyFile, \.encryptionKeyFile)
        if settings.encryptionKeyFile == nil, let keyFile = file.encryption?.keyFile {
            settings.sources[ConfigurationFile.CodingKeys.encryptionKeyFile.rawValue] = "encryption.key_file in \(path)"
            settings.encryptionKeyFile = keyFile.value
        }
        settings.spoolDirectory = try value(.spoolDirectory, \.spoolDirectory) ?? settings.spoolDirectory
        settings.postgresBindir = try value(.postgresBindir, \.postgresBindir)
        settings.verifyRunAs = try value(.verifyRunAs, \.verifyRunAs)
        settings.httpListen = try value(.http, \.http)
        settings.logLevel = try value(.logLevel, \.logLevel)
        settings.logFormat = try value(.logFormat, \.logFormat)
        settings.s3.endpoint = try s3(.endpoint, \.endpoint)
        settings.s3.region = try s3(.region, \.region) ?? settings.s3.region
        settings.s3.pathStyle = try s3(.pathStyle, \.pathStyle) ?? settings.s3.pathStyle
        settings.s3.credentials = try s3(.credentials, \.credentials) ?? .auto
        settings.s3.accessKeyID = try s3(.accessKeyID, \.accessKeyID)
        settings.s3.secretAccessKey = try s3(.secretAccessKey, \.secretAccessKey)
        settings.s3.sessionToken = try s3(.sessionToken, \.sessionToken)
        settings.s3.staticKeysOrigin = env["AWS_ACCESS_KEY_ID"] != nil ? "AWS_ACCESS_KEY_ID" : "s3.access_key_id in \(path)"
        settings.s3.roleARN = try s3(.roleARN, \.roleARN)
        settings.s3.webIdentityTokenFile = try s3(.webIdentityTokenFile, \.webIdentityTokenFile)
        settings.s3.roleSessionName = try s3(.roleSessionName, \.roleSessionName)
        settings.s3.stsEndpoint = try s3(.stsEndpoint, \.stsEndpoint)
        settings.s3.profile = try s3(.profile, \.profile)
        settings.s3.sharedCredentialsFile = try s3(.sharedCredentialsFile, \.sharedCredentialsFile)
        settings.s3.configFile = try s3(.configFile, \.configFile)
        settings.s3.containerCredentialsURI = try s3(.containerCredentialsURI, \.containerCredentialsURI)
        if settings.s3.containerCredentialsURI == nil, let relative = env["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"] {
            settings.s3.containerCredentialsURI = S3CredentialSettings.containerHost + (relative.hasPrefix("/") ? relative : "/" + relative)
        }
        settings.s3.containerAuthorizationToken = try s3(.containerAuthorizationToken, \.containerAuthorizationToken)
        settings.s3.containerAuthorizationTokenFile = try s3(.containerAuthorizationTokenFile, \.containerAuthorizationTokenFile)
        settings.s3.ec2MetadataEndpoint = try s3(.ec2MetadataEndpoint, \.ec2MetadataEndpoint)
        if settings.s3.ec2MetadataEndpoint == nil, env["AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE"]?.lowercased() == "ipv6" {
            settings.s3.ec2MetadataEndpoint = "http://[fd00:ec2::254]"
        }
        settings.s3.ec2MetadataDisabled = try s3(.ec2MetadataDisabled, \.ec2MetadataDisabled) ?? false
        settings.s3.sse = try s3(.sse, \.sse)
        settings.s3.sseKMSKeyID = try s3(.sseKMSKeyID, \.sseKMSKeyID)
        settings.s3.caFile = try s3(.caFile, \.caFile)
        settings.s3.home = env["HOME"]
        return settings
    }

    /// An environment variable's text as `Kind`, or the error naming the variable.
    private static func parse<Kind: SettingKind>(_: Kind.Type, _ text: String, setting: String) throws(ConfigurationError) -> Kind.Value {
        do {
            return try Kind.parse(text)
        } catch {
            throw .invalidValue(setting: setting, value: Kind.isSecret ? "********" : text, reason: error.reason)
        }
    }

    static func validatedName(_ name: String, setting: String) throws(ConfigurationError) -> String {
        guard !name.isEmpty, name.count <= 64, name != ".", name != "..",
              name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "_.-".contains($0)) })
        else {
            throw .invalidValue(setting: setting, value: name, reason: "a server name is 1–64 letters, digits, '_', '.' or '-'")
        }
        return name
    }
}
