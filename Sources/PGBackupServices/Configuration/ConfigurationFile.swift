import Yams

/// The configuration file, decoded by Yams. Every setting is declared here once: its key
/// (`CodingKeys`), its kind (the property's type) and the environment variable that overrides
/// it (`CodingKeys.environment`). A server's entry under `servers:` is the same structure,
/// limited to `serverKeys`.
struct ConfigurationFile: Decodable {
    var repository: FileValue<RepositorySetting>?
    var conninfo: FileValue<SecretSetting>?
    var slot: FileValue<SlotSetting>?
    var compression: FileValue<CompressionSetting>?
    var policy: FileValue<TextSetting>?
    var encryptionKeyFile: FileValue<TextSetting>?
    var encryption: EncryptionSection?
    var http: FileValue<ListenAddressSetting>?
    var logLevel: FileValue<LogLevelSetting>?
    var logFormat: FileValue<LogFormatSetting>?
    var s3: S3Section?
    var servers: [String: ConfigurationFile]?
    var spoolDirectory: FileValue<AbsolutePathSetting>?
    var postgresBindir: FileValue<PostgresBindirSetting>?
    var verifyRunAs: FileValue<TextSetting>?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case repository, conninfo, slot, compression, policy
        case encryptionKeyFile = "encryption_key_file"
        case encryption
        case http
        case logLevel = "log_level", logFormat = "log_format"
        case s3, servers
        case spoolDirectory = "spool_directory"
        case postgresBindir = "postgres_bindir"
        case verifyRunAs = "verify_run_as"

        /// The environment variable that overrides the key; nil: none does.
        var environment: String? {
            switch self {
            case .repository: "PGBACKUP_REPO"
            case .conninfo: "PGBACKUP_CONNINFO"
            case .slot: "PGBACKUP_SLOT"
            case .compression: "PGBACKUP_COMPRESSION"
            case .policy: "PGBACKUP_POLICY"
            case .encryptionKeyFile: "PGBACKUP_ENCRYPTION_KEY_FILE"
            case .http: "PGBACKUP_HTTP"
            case .spoolDirectory: "PGBACKUP_SPOOL"
            case .postgresBindir: "PGBACKUP_POSTGRES_BINDIR"
            case .verifyRunAs: "PGBACKUP_VERIFY_RUN_AS"
            case .logLevel, .logFormat, .s3, .servers, .encryption: nil
            }
        }
    }

    /// The keys a server's entry may set (for that server only).
    static let serverKeys: [CodingKeys] = [.conninfo, .slot, .compression, .policy]

    /// The `encryption:` section (`key_file`, as the flat `encryption_key_file`).
    struct EncryptionSection: Decodable {
        var keyFile: FileValue<TextSetting>?

        enum CodingKeys: String, CodingKey, CaseIterable {
            case keyFile = "key_file"
        }
    }

    /// The `s3:` section. Each key is overridden by its variables (the first one set wins): the
    /// AWS SDKs' standard ones where they exist, so an operator's AWS setup works unchanged.
    struct S3Section: Decodable {
        var endpoint: FileValue<HTTPURLSetting>?
        var region: FileValue<TextSetting>?
        var pathStyle: FileValue<FlagSetting>?
        var credentials: FileValue<CredentialSourceSetting>?
        var accessKeyID: FileValue<TextSetting>?
        var secretAccessKey: FileValue<SecretSetting>?
        var sessionToken: FileValue<SecretSetting>?
        var roleARN: FileValue<TextSetting>?
        var webIdentityTokenFile: FileValue<TextSetting>?
        var roleSessionName: FileValue<TextSetting>?
        var stsEndpoint: FileValue<HTTPURLSetting>?
        var profile: FileValue<TextSetting>?
        var sharedCredentialsFile: FileValue<TextSetting>?
        var configFile: FileValue<TextSetting>?
        var containerCredentialsURI: FileValue<HTTPURLSetting>?
        var containerAuthorizationToken: FileValue<SecretSetting>?
        var containerAuthorizationTokenFile: FileValue<TextSetting>?
        var ec2MetadataEndpoint: FileValue<HTTPURLSetting>?
        var ec2MetadataDisabled: FileValue<FlagSetting>?
        var sse: FileValue<ServerSideEncryptionSetting>?
        var sseKMSKeyID: FileValue<TextSetting>?
        var caFile: FileValue<TextSetting>?

        enum CodingKeys: String, CodingKey, CaseIterable {
            case endpoint, region
            case pathStyle = "path_style"
            case credentials
            case accessKeyID = "access_key_id", secretAccessKey = "secret_access_key", sessionToken = "session_token"
            case roleARN = "role_arn", webIdentityTokenFile = "web_identity_token_file", roleSessionName = "role_session_name"
            case stsEndpoint = "sts_endpoint"
            case profile
            case sharedCredentialsFile = "shared_credentials_file", configFile = "config_file"
            case containerCredentialsURI = "container_credentials_uri"
            case containerAuthorizationToken = "container_authorization_token"
            case containerAuthorizationTokenFile = "container_authorization_token_file"
            case ec2MetadataEndpoint = "ec2_metadata_endpoint", ec2MetadataDisabled = "ec2_metadata_disabled"
            case sse
            case sseKMSKeyID = "sse_kms_key_id"
            case caFile = "ca_file"

            /// The variables that override the key, in order of precedence.
            var environment: [String] {
                switch self {
                case .endpoint: ["PGBACKUP_S3_ENDPOINT", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"]
                case .region: ["PGBACKUP_S3_REGION", "AWS_REGION", "AWS_DEFAULT_REGION"]
                case .pathStyle: ["PGBACKUP_S3_PATH_STYLE"]
                case .credentials: ["PGBACKUP_S3_CREDENTIALS"]
                case .accessKeyID: ["AWS_ACCESS_KEY_ID"]
                case .secretAccessKey: ["AWS_SECRET_ACCESS_KEY"]
                case .sessionToken: ["AWS_SESSION_TOKEN"]
                case .roleARN: ["AWS_ROLE_ARN"]
                case .webIdentityTokenFile: ["AWS_WEB_IDENTITY_TOKEN_FILE"]
                case .roleSessionName: ["AWS_ROLE_SESSION_NAME"]
                case .stsEndpoint: ["AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL"]
                case .profile: ["AWS_PROFILE"]
                case .sharedCredentialsFile: ["AWS_SHARED_CREDENTIALS_FILE"]
                case .configFile: ["AWS_CONFIG_FILE"]
                // The relative URI (`AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`) is read by the loader.
                case .containerCredentialsURI: ["AWS_CONTAINER_CREDENTIALS_FULL_URI"]
                case .containerAuthorizationToken: ["AWS_CONTAINER_AUTHORIZATION_TOKEN"]
                case .containerAuthorizationTokenFile: ["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"]
                case .ec2MetadataEndpoint: ["AWS_EC2_METADATA_SERVICE_ENDPOINT"]
                case .ec2MetadataDisabled: ["AWS_EC2_METADATA_DISABLED"]
                case .sse: ["PGBACKUP_S3_SSE"]
                case .sseKMSKeyID: ["PGBACKUP_S3_SSE_KMS_KEY_ID"]
                case .caFile: ["PGBACKUP_S3_CA_FILE"]
                }
            }
        }
    }

    /// No file: nothing configured.
    init() {}

    /// Decodes configuration text. Unknown keys are refused with the list of allowed ones, server
    /// names are checked, and no error carries a secret or a line of the file.
    init(yaml: String, path: String) throws(ConfigurationError) {
        guard let document = try Self.compose(yaml, path: path) else { self.init(); return }  // an empty file configures nothing
        try Self.checkKeys(document, path: path)
        self = try Self.decode(ConfigurationFile.self, from: document, path: path)
    }

    /// The document of a YAML file (nil: empty); a syntax error never quotes the file.
    static func compose(_ yaml: String, path: String) throws(ConfigurationError) -> Node? {
        do {
            return try Yams.compose(yaml: yaml)
        } catch {
            throw .invalidYAML(path: path, detail: Self.withoutText(error))
        }
    }

    /// Decodes a document whose keys were checked; a refused value names its key (`a.b in path`).
    static func decode<T: Decodable>(_ type: T.Type, from document: Node, path: String) throws(ConfigurationError) -> T {
        do {
            return try YAMLDecoder().decode(T.self, from: document)
        } catch let error as InvalidFileValue {
            let setting = "\(Self.dotted(error.codingPath)) in \(path)"
            guard let text = error.text else { throw .invalidShape(setting: setting, reason: error.reason) }
            throw .invalidValue(setting: setting, value: text, reason: error.reason)
        } catch let DecodingError.typeMismatch(_, context) {
            throw .invalidShape(setting: "\(Self.dotted(context.codingPath)) in \(path)", reason: "unexpected kind of value")
        } catch {
            throw .invalidYAML(path: path, detail: "unexpected content")
        }
    }

    /// Every key of the document is one this structure declares, where it is allowed.
    private static func checkKeys(_ document: Node, path: String) throws(ConfigurationError) {
        let root = try mapping(document, at: "the top level", path: path)
        try check(root, allowed: CodingKeys.allCases.map(\.rawValue), prefix: "", path: path)
        if let s3 = root[CodingKeys.s3.rawValue] {
            try check(mapping(s3, at: "s3", path: path), allowed: S3Section.CodingKeys.allCases.map(\.rawValue), prefix: "s3.", path: path)
        }
        if let encryption = root[CodingKeys.encryption.rawValue] {
            try check(
                mapping(encryption, at: "encryption", path: path), allowed: EncryptionSection.CodingKeys.allCases.map(\.rawValue),
                prefix: "encryption.", path: path)
            if root[CodingKeys.encryptionKeyFile.rawValue] != nil {
                throw .invalidShape(setting: "encryption.key_file in \(path)", reason: "encryption_key_file is set too: set one of them")
            }
        }
        if let servers = root[CodingKeys.servers.rawValue] {
            for (name, entry) in try mapping(servers, at: "servers", path: path) {
                let name = name.string ?? ""
                _ = try SettingsLoader.validatedName(name, setting: "servers.\(name) in \(path)")
                try check(mapping(entry, at: "servers.\(name)", path: path), allowed: serverKeys.map(\.rawValue), prefix: "servers.\(name).", path: path)
            }
        }
    }

    static func mapping(_ node: Node, at place: String, path: String) throws(ConfigurationError) -> Node.Mapping {
        guard let mapping = node.mapping else { throw .invalidYAML(path: path, detail: "\(place) must be a mapping of key: value") }
        return mapping
    }

    /// Every key is allowed, and every setting has a value (`slot:` alone is a mistake, not a
    /// default); `sections` may be empty (their content is checked by the caller).
    static func check(
        _ mapping: Node.Mapping, allowed: [String], sections: [String] = [CodingKeys.s3.rawValue, CodingKeys.servers.rawValue, CodingKeys.encryption.rawValue],
        prefix: String, path: String
    ) throws(ConfigurationError) {
        for (key, value) in mapping {
            let name = key.string ?? ""
            guard allowed.contains(name) else { throw .unknownKey(key: prefix + name, file: path, allowed: allowed) }
            if value.null != nil, !sections.contains(name) {
                throw .invalidShape(setting: "\(prefix)\(name) in \(path)", reason: "expected a single value (text, number or true/false)")
            }
        }
    }

    /// `servers.main.slot`.
    private static func dotted(_ codingPath: [any CodingKey]) -> String {
        codingPath.map(\.stringValue).joined(separator: ".")
    }

    /// A parser error's position and problem, without the snippet of the file that Yams quotes:
    /// that line may hold a password.
    static func withoutText(_ error: any Error) -> String {
        guard let error = error as? YamlError else { return "not valid YAML" }
        func at(_ mark: Mark, _ problem: String, _ context: YamlError.Context?) -> String {
            "line \(mark.line), column \(mark.column): \(problem)" + (context.map { " (\($0.text))" } ?? "")
        }
        switch error {
        case let .scanner(context, problem, mark, _), let .parser(context, problem, mark, _), let .composer(context, problem, mark, _):
            return at(mark, problem, context)
        case let .reader(problem, _, _, _):
            return problem
        case let .duplicatedKeysInMapping(duplicates, context):
            return "line \(context.mark.line): a key appears twice: \(duplicates.sorted().joined(separator: ", "))"
        default:
            return "not valid YAML"
        }
    }
}
