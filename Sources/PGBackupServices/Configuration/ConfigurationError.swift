/// A configuration that cannot be used. Descriptions name the setting (the file key or the
/// environment variable), what was wrong and what is allowed; secret values are never echoed.
public enum ConfigurationError: Error, Sendable, CustomStringConvertible, Equatable {
    case unreadableFile(path: String, reason: String)
    case invalidYAML(path: String, detail: String)
    case unknownKey(key: String, file: String, allowed: [String])
    case invalidValue(setting: String, value: String, reason: String)
    /// A value of the wrong kind (a list where one value belongs, …); not echoed, it may be secret.
    case invalidShape(setting: String, reason: String)
    /// A setting pgbackup accepts but does not implement yet: refused rather than ignored.
    case notImplemented(setting: String, feature: String, refusal: String, hint: String)
    case missing(setting: String, hint: String)
    /// The encryption key file cannot be used (`EncryptionKeyFile`); never holds key bytes.
    case invalidKeyFile(setting: String, path: String, reason: String, hint: String)
    case ambiguousServer(candidates: [String])
    case unknownServer(name: String, known: [String])

    public var description: String {
        switch self {
        case let .unreadableFile(path, reason):
            "unable to read configuration file '\(path)': \(reason)"
        case let .invalidYAML(path, detail):
            "unable to parse configuration file '\(path)': \(detail)"
        case let .unknownKey(key, file, allowed):
            "unknown setting '\(key)' in '\(file)'; allowed here: \(allowed.joined(separator: ", "))"
        case let .invalidValue(setting, value, reason):
            "invalid value '\(value)' for \(setting): \(reason)"
        case let .invalidShape(setting, reason):
            "invalid value for \(setting): \(reason)"
        case let .notImplemented(setting, feature, refusal, hint):
            "\(setting) is set, but \(feature) is not implemented yet: \(refusal)\nHINT: \(hint)"
        case let .invalidKeyFile(setting, path, reason, hint):
            "unable to use the encryption key file '\(path)' (\(setting)): \(reason)\nHINT: \(hint)"
        case let .missing(setting, hint):
            "no \(setting) configured\nHINT: \(hint)"
        case let .ambiguousServer(candidates):
            "the configuration names several servers (\(candidates.joined(separator: ", ")))\nHINT: choose one with --server NAME or PGBACKUP_SERVER"
        case let .unknownServer(name, known):
            "server '\(name)' is not in the configuration (it names: \(known.joined(separator: ", ")))"
        }
    }
}
