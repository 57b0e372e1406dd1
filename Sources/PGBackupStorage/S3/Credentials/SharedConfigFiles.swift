import Foundation

/// `~/.aws/credentials` and `~/.aws/config`, as the AWS SDKs read them: INI sections of
/// `key = value`; `[name]` in the credentials file, `[profile name]` (or `[default]`) in the
/// config file; `#` and `;` start comments; indented lines continue a nested setting (ignored).
/// A profile's settings are the config file's, overridden by the credentials file's.
struct SharedConfigFiles: Sendable {
    var credentialsFile: String
    var configFile: String
    private var credentials: [String: [String: String]]
    private var config: [String: [String: String]]

    /// Reads both files; a missing file is empty, an unreadable one an error naming it.
    init(credentialsFile: String, configFile: String) throws(S3CredentialError) {
        self.credentialsFile = credentialsFile
        self.configFile = configFile
        credentials = try Self.read(credentialsFile, isConfig: false)
        config = try Self.read(configFile, isConfig: true)
    }

    /// The profile's settings (keys lower-cased), or nil when neither file has it.
    func profile(_ name: String) -> [String: String]? {
        let fromConfig = config[name]
        let fromCredentials = credentials[name]
        guard fromConfig != nil || fromCredentials != nil else { return nil }
        return (fromConfig ?? [:]).merging(fromCredentials ?? [:]) { _, credential in credential }
    }

    static func parse(_ text: String, isConfig: Bool) -> [String: [String: String]] {
        var sections: [String: [String: String]] = [:]
        var current: String?
        for rawLine in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline) {
            let startsIndented = rawLine.first == " " || rawLine.first == "\t"
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("[") {
                guard let close = line.firstIndex(of: "]") else { current = nil; continue }
                var name = line[line.index(after: line.startIndex)..<close].trimmingCharacters(in: .whitespaces)
                if isConfig {
                    if name.hasPrefix("profile ") || name.hasPrefix("profile\t") {
                        name = String(name.dropFirst(8)).trimmingCharacters(in: .whitespaces)
                    } else if name != "default" {
                        current = nil  // sso-session, services and the like: not profiles
                        continue
                    }
                }
                current = name
                sections[name, default: [:]] = sections[name] ?? [:]
                continue
            }
            guard let section = current, !startsIndented, let equals = line.firstIndex(of: "=") else { continue }
            let key = line[..<equals].trimmingCharacters(in: .whitespaces).lowercased()
            var value = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            // An inline comment needs white space before it (`key = value ; note`).
            for marker in [" #", " ;", "\t#", "\t;"] { if let range = value.range(of: marker) { value = String(value[..<range.lowerBound]).trimmingCharacters(in: .whitespaces) } }
            sections[section]?[key] = value
        }
        return sections
    }

    private static func read(_ path: String, isConfig: Bool) throws(S3CredentialError) -> [String: [String: String]] {
        guard FileManager.default.fileExists(atPath: path) else { return [:] }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw .unreadableFile(source: .profile, path: path, reason: "permission denied")
        }
        return parse(String(decoding: data, as: UTF8.self), isConfig: isConfig)
    }
}
