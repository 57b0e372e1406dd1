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

    /// The `s3:` section.
    struct S3Section: Decodable {
        var endpoint: FileValue<HTTPURLSetting>?
        var region: FileValue<TextSetting>?
        var pathStyle: FileValue<FlagSetting>?
        var accessKeyID: FileValue<TextSetting>?
        var secretAccessKey: FileValue<SecretSetting>?
        var sessionToken: FileValue<SecretSetting>?
        var caFile: FileValue<TextSetting>?

        enum CodingKeys: String, CodingKey, CaseIterable {
            case endpoint, region
            case pathStyle = "path_style"
            case accessKeyID = "access_key_id", secretAccessKey = "secret_access_key", sessionToken = "session_token"
            case caFile = "ca_file"

            var environment: String {
                switch self {
                case .endpoint: "PGBACKUP_S3_ENDPOINT"
                case .region: "PGBACKUP_S3_REGION"
                case .pathStyle: "PGBACKUP_S3_PATH_STYLE"
                case .accessKeyID: "AWS_ACCESS_KEY_ID"
                case .secretAccessKey: "AWS_SECRET_ACCESS_KEY"
                case .sessionToken: "AWS_SESSION_TOKEN"
                case .caFile: "PGBACKUP_S3_CA_FILE"
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
