import PGBackupFoundations
import PGBackupPostgres
import PGBackupStorage

/// A value that must never be printed: its description is a fixed mask.
public struct Secret: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible {
    /// The secret itself; read it only where it is handed to a library.
    public let value: String
    public init(_ value: String) { self.value = value }
    public var description: String { "********" }
    public var debugDescription: String { "********" }
}

/// The effective settings for one server: the configuration file with the environment's
/// overrides applied and every value validated. Its description never contains a secret.
public struct Settings: Sendable, CustomStringConvertible {
    /// Where the repository lives; nil when neither `repository:` nor `PGBACKUP_REPO` is set.
    public var repository: RepositoryLocation?
    /// The server's name inside the repository (the top-level folder of its objects).
    public var server: String = "main"
    /// libpq connection string of the primary; may hold a password, hence secret.
    public var conninfo: Secret?
    /// Physical replication slot name.
    public var slot: String = "pgbackup"
    /// Compression of stored objects (`zstd` means `zstd:1`).
    public var compression: Compression = .default
    /// Retention/schedule policy: a name in `policies/` or a path (`loadPolicy()`).
    public var policy: String?
    /// `PGBACKUP_POLICY_DIR`: searched first for a policy given by name.
    public var policyDirectory: String?
    public var s3 = S3Settings()
    /// The key file of client-side encryption (`PGBACKUP_ENCRYPTION_KEY_FILE`,
    /// `encryption.key_file`, or the flat `encryption_key_file`); `encryptionKey()` reads it.
    public var encryptionKeyFile: String?
    /// The daemon's local WAL spool (`PGBACKUP_SPOOL`, `spool_directory:`): WAL is fsync'd here
    /// before it is acknowledged as written. Keep it on a persistent volume.
    public var spoolDirectory: String = "/var/lib/pgbackup/spool"
    /// The PostgreSQL server binaries `verify-restore` and `follow` start, one directory or one per
    /// major (`postgres_bindir:`, `PGBACKUP_POSTGRES_BINDIR`); a major it does not name:
    /// `pg_config --bindir` when of that major, then `/usr/lib/postgresql/<major>/bin`.
    public var postgresBindir: PostgresBindirs?
    /// The OS user the daemon's scheduled verify-restore runs PostgreSQL as when the daemon runs
    /// as root (`verify_run_as:`, `PGBACKUP_VERIFY_RUN_AS`; `verify-restore --run-as` by default).
    public var verifyRunAs: String?
    /// Listen address (`host:port`) of the daemon's status endpoint.
    public var httpListen: String?
    public var logLevel: String?
    public var logFormat: String?
    /// Where each setting of the configuration file's top level came from (`PGBACKUP_POLICY`,
    /// `policy in /etc/pgbackup/pgbackup.yaml`, …), by file key, for messages.
    var sources: [String: String] = [:]

    public init() {}

    /// Refuses settings that cannot work before anything starts, rather than ignoring them: an
    /// HTTP address that does not parse, a key file that cannot be used (`encryptionKey()`).
    public func refuseUnimplemented() throws(ConfigurationError) {
        _ = try encryptionKey()
        if httpListen != nil { _ = try httpAddress() }  // a bad address: refused before anything starts
    }

    /// The repository, or the configuration error an operator can act on.
    public func requireRepository() throws(ConfigurationError) -> RepositoryLocation {
        guard let repository else {
            throw .missing(setting: "repository", hint: "set PGBACKUP_REPO (e.g. file:///var/lib/pgbackup) or `repository:` in the configuration file")
        }
        return repository
    }

    /// The primary's connection string, or the configuration error an operator can act on.
    public func requireConninfo() throws(ConfigurationError) -> String {
        guard let conninfo else {
            throw .missing(setting: "conninfo", hint: "set PGBACKUP_CONNINFO (e.g. 'host=db1 user=replicator') or `conninfo:` for server '\(server)' in the configuration file")
        }
        return conninfo.value
    }

    /// The primary's connection string without pgbackup's passwords, for another program to
    /// connect with (a restored standby's `primary_conninfo`); nil when none is configured.
    public var conninfoWithoutPasswords: String? {
        conninfo.map { removingPasswords(fromConninfo: $0.value) }
    }

    public var description: String {
        var lines = [
            "repository: \(repository?.description ?? "(not set)")",
            "server: \(server)",
            "conninfo: \(conninfo.map { redactingPasswords(inConninfo: $0.value) } ?? "(not set)")",
            "slot: \(slot)",
            "compression: \(compression)",
            "policy: \(policy ?? "(none)")",
        ]
        if case .s3 = repository { lines.append("s3: \(s3)") }
        if let encryptionKeyFile { lines.append("encryption key file: \(encryptionKeyFile)") }
        lines.append("spool: \(spoolDirectory)")
        if let httpListen { lines.append("http: \(httpListen)") }
        return lines.joined(separator: "\n")
    }
}

/// How to reach an S3-compatible service, and as whom: the credential sources' settings with
/// the standard AWS variables applied (see `ConfigurationFile.S3Section`).
public struct S3Settings: Sendable, CustomStringConvertible {
    /// `https://s3.eu-west-1.amazonaws.com`, `http://127.0.0.1:9000`, …; nil means AWS for the region.
    public var endpoint: String?
    public var region: String = "us-east-1"
    /// Path-style addressing (`endpoint/bucket/key`), which MinIO, Ceph and moto need.
    public var pathStyle = false
    /// The pinned credential source, or `auto` (the AWS SDKs' chain).
    public var credentials: S3CredentialSource = .auto
    public var accessKeyID: String?
    public var secretAccessKey: Secret?
    public var sessionToken: Secret?
    /// Where the static keys were set, for messages.
    public var staticKeysOrigin = "AWS_ACCESS_KEY_ID"
    public var roleARN: String?
    public var webIdentityTokenFile: String?
    public var roleSessionName: String?
    public var stsEndpoint: String?
    public var profile: String?
    public var sharedCredentialsFile: String?
    public var configFile: String?
    public var containerCredentialsURI: String?
    public var containerAuthorizationToken: Secret?
    public var containerAuthorizationTokenFile: String?
    public var ec2MetadataEndpoint: String?
    public var ec2MetadataDisabled = false
    /// Server-side encryption (`s3.sse`) and its KMS key (`s3.sse_kms_key_id`).
    public var sse: S3ServerSideEncryption?
    public var sseKMSKeyID: String?
    /// A CA bundle for TLS verification of a private endpoint.
    public var caFile: String?
    /// `$HOME`, where `~/.aws/` is.
    public var home: String?

    public init() {}

    /// The credential sources' inputs.
    public var credentialSettings: S3CredentialSettings {
        var settings = S3CredentialSettings()
        settings.source = credentials
        if let accessKeyID, let secretAccessKey {
            settings.staticKeys = S3Credentials(accessKeyID: accessKeyID, secretAccessKey: secretAccessKey.value, sessionToken: sessionToken?.value)
            settings.staticKeysOrigin = staticKeysOrigin
        }
        settings.roleARN = roleARN
        settings.webIdentityTokenFile = webIdentityTokenFile
        settings.roleSessionName = roleSessionName
        settings.stsEndpoint = stsEndpoint
        settings.region = region
        settings.profile = profile
        let home = self.home ?? "~"
        settings.sharedCredentialsFile = sharedCredentialsFile ?? home + "/.aws/credentials"
        settings.configFile = configFile ?? home + "/.aws/config"
        settings.containerCredentialsURI = containerCredentialsURI
        settings.containerAuthorizationToken = containerAuthorizationToken?.value
        settings.containerAuthorizationTokenFile = containerAuthorizationTokenFile
        settings.metadataEndpoint = ec2MetadataEndpoint
        settings.metadataDisabled = ec2MetadataDisabled
        settings.caFile = caFile
        return settings
    }

    /// The server-side encryption to ask for: `sse`, with the KMS key when one is set (a key
    /// alone means `aws:kms`). A key with `AES256` is refused: S3 would refuse every PUT.
    public func serverSideEncryption() throws(ConfigurationError) -> S3ServerSideEncryption? {
        switch (sse, sseKMSKeyID) {
        case (nil, nil): return nil
        case (.aes256?, nil): return .aes256
        case (.aes256?, _?):
            throw .invalidShape(setting: "s3.sse_kms_key_id (PGBACKUP_S3_SSE_KMS_KEY_ID)", reason: "a KMS key needs s3.sse: aws:kms, not AES256")
        case (_, let keyID): return .kms(keyID: keyID)
        }
    }

    public var description: String {
        var parts = ["endpoint=\(endpoint ?? "(AWS)")", "region=\(region)", "path_style=\(pathStyle)", "credentials=\(credentials.rawValue)"]
        if let accessKeyID { parts.append("access_key_id=\(accessKeyID)") }
        if secretAccessKey != nil { parts.append("secret_access_key=********") }
        if sessionToken != nil { parts.append("session_token=********") }
        if let roleARN { parts.append("role_arn=\(roleARN)") }
        if let webIdentityTokenFile { parts.append("web_identity_token_file=\(webIdentityTokenFile)") }
        if let profile { parts.append("profile=\(profile)") }
        if let containerCredentialsURI { parts.append("container_credentials_uri=\(containerCredentialsURI)") }
        if let sse = try? serverSideEncryption() { parts.append("sse=\(sse)") }
        if let caFile { parts.append("ca_file=\(caFile)") }
        return parts.joined(separator: " ")
    }
}
