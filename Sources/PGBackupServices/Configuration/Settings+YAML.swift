extension Settings {
    /// The settings `pgbackup wal-fetch` needs to reach the repository, as a configuration file:
    /// what `pgbackup restore` gives the restored server for its `restore_command` when no
    /// configuration file was used. Holds the S3 credentials, if any: write it mode 0600. Names
    /// the key file (`encryption.key_file`), never a key.
    public func repositoryConfigurationYAML(comment: String) -> String {
        func quoted(_ text: String) -> String {
            "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
        }
        var lines = ["# \(comment)"]
        if let repository { lines.append("repository: \(quoted(repository.description))") }
        lines.append("compression: \(quoted(compression.description))")
        if case .s3 = repository {
            lines.append("s3:")
            if let endpoint = s3.endpoint { lines.append("  endpoint: \(quoted(endpoint))") }
            lines.append("  region: \(quoted(s3.region))")
            lines.append("  path_style: \(s3.pathStyle)")
            if let accessKeyID = s3.accessKeyID { lines.append("  access_key_id: \(quoted(accessKeyID))") }
            if let secret = s3.secretAccessKey { lines.append("  secret_access_key: \(quoted(secret.value))") }
            if let token = s3.sessionToken { lines.append("  session_token: \(quoted(token.value))") }
            if let caFile = s3.caFile { lines.append("  ca_file: \(quoted(caFile))") }
        }
        if let encryptionKeyFile {
            lines.append("encryption:")
            lines.append("  key_file: \(quoted(encryptionKeyFile))")
        }
        lines.append("servers:")
        lines.append("  \(quoted(server)): {}")
        return lines.joined(separator: "\n") + "\n"
    }
}
