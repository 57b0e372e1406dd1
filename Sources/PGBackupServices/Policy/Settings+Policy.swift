import Foundation

extension Settings {
    /// The policy named by `policy` (PGBACKUP_POLICY), loaded and validated; nil when none is set.
    public func loadPolicy() throws(ConfigurationError) -> Policy? {
        guard let policy else { return nil }
        let setting = sources["policy"] ?? "PGBACKUP_POLICY"
        let path = try PolicyLocator(policyDirectory: policyDirectory).path(for: policy, setting: setting)
        do {
            return try Self.loadPolicy(atPath: path)
        } catch .unreadableFile(let path, let reason) {
            throw .invalidValue(setting: setting, value: policy, reason: "unable to read policy file '\(path)': \(reason)")
        }
    }

    /// The policy's retention rules; nil when no policy is set (keep everything).
    public func retentionRules() throws(ConfigurationError) -> RetentionRules? {
        try loadPolicy()?.retention
    }

    /// Reads and validates a policy file.
    static func loadPolicy(atPath path: String) throws(ConfigurationError) -> Policy {
        guard let handle = FileHandle(forReadingAtPath: path), let data = try? handle.readToEnd() ?? Data() else {
            let reason = FileManager.default.fileExists(atPath: path) ? "permission denied" : "no such file"
            throw .unreadableFile(path: path, reason: reason)
        }
        guard let text = String(data: data, encoding: .utf8) else { throw .unreadableFile(path: path, reason: "not UTF-8 text") }
        return try PolicyFile.policy(yaml: text, path: path)
    }
}
