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

/// How to reach an S3-compatible service.
public struct S3Settings: Sendable, CustomStringConvertible {
    /// `https://s3.eu-west-1.amazonaws.com`, `http://127.0.0.1:9000`, …; nil means AWS for the region.
    public var endpoint: String?
    public var region: String = "us-east-1"
    /// Path-style addressing (`endpoint/bucket/key`), which MinIO, Ceph and moto need.
    public var pathStyle = false
    public var accessKeyID: String?
    public var secretAccessKey: Secret?
    public var sessionToken: Secret?
    /// A CA bundle for TLS verification of a private endpoint.
    public var caFile: String?

    public init() {}

    public var description: String {
        var parts = ["endpoint=\(endpoint ?? "(AWS)")", "region=\(region)", "path_style=\(pathStyle)"]
        if let accessKeyID { parts.append("access_key_id=\(accessKeyID)") }
        if secretAccessKey != nil { parts.append("secret_access_key=********") }
        if sessionToken != nil { parts.append("session_token=********") }
        if let caFile { parts.append("ca_file=\(caFile)") }
        return parts.joined(separator: " ")
    }
}
