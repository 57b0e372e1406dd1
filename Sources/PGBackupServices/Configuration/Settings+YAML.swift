extension Settings {
    /// The settings `pgbackup wal-fetch` needs to reach the repository, as a configuration file:
    /// what `pgbackup restore` gives the restored server for its `restore_command` when no
    /// configuration file was used. Holds the S3 credentials and the settings of their source, if any: write it mode 0600. Names
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
            // Every credential setting in effect, spelled out: the restored server's
            // restore_command runs with another environment (and another $HOME).
            let credentials = s3.credentialSettings
            lines.append("  credentials: \(quoted(s3.credentials.rawValue))")
            func add(_ key: String, _ value: String?) { if let value { lines.append("  \(key): \(quoted(value))") } }
            add("access_key_id", s3.accessKeyID)
            add("secret_access_key", s3.secretAccessKey?.value)
            add("session_token", s3.sessionToken?.value)
            add("role_arn", s3.roleARN)
            add("web_identity_token_file", s3.webIdentityTokenFile)
            add("role_session_name", s3.roleSessionName)
            add("sts_endpoint", s3.stsEndpoint)
            add("profile", s3.profile)
            add("shared_credentials_file", credentials.sharedCredentialsFile)
            add("config_file", credentials.configFile)
            add("container_credentials_uri", s3.containerCredentialsURI)
            add("container_authorization_token", s3.containerAuthorizationToken?.value)
            add("container_authorization_token_file", s3.containerAuthorizationTokenFile)
            add("ec2_metadata_endpoint", s3.ec2MetadataEndpoint)
            if s3.ec2MetadataDisabled { lines.append("  ec2_metadata_disabled: true") }
            add("sse", s3.sse?.algorithm)
            add("sse_kms_key_id", s3.sseKMSKeyID)
            add("ca_file", s3.caFile)
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
