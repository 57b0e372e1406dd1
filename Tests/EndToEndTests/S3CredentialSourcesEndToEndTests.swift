import Foundation
import Testing
import PGBackupFoundations
import PGBackupStorage
import PGBackupTestSupport

/// Each credential source of the AWS SDKs' chain, through the built binary against moto (its STS
/// and IAM, signatures checked): a backup and a restore signed by it — the restored server's
/// `restore_command` signing as the server's user from what `restore` wrote — and, broken on
/// purpose, a clear error that names the source and what it answered, never a secret.
@Suite("S3 credential sources, end to end", .serialized)
struct S3CredentialSourcesEndToEndTests {
    enum Source: String, CaseIterable, CustomTestStringConvertible, Sendable {
        case webIdentity = "web-identity", profileRole = "profile-role", credentialProcess = "credential-process"
        case container, instance
        var testDescription: String { rawValue }
        /// What `check` names as the source.
        var reported: String {
            switch self {
            case .webIdentity: "web-identity"
            case .profileRole, .credentialProcess: "profile"
            case .container: "container"
            case .instance: "instance"
            }
        }
    }

    /// The binary's environment for a repository in moto's bucket, signed by nothing yet: no
    /// static key, `$HOME` in the scratch directory (no `~/.aws` of this machine), the instance
    /// metadata service off unless a test turns it on.
    static func baseEnvironment(_ moto: MotoServer, scratch: ScratchDirectory, cluster: PostgresCluster?) -> [String: String] {
        var environment = [
            "PGBACKUP_REPO": "s3://\(moto.bucket)/creds-\(UUID().uuidString.prefix(8).lowercased())/repo",
            "PGBACKUP_S3_ENDPOINT": moto.endpoint, "PGBACKUP_S3_REGION": moto.region, "PGBACKUP_S3_PATH_STYLE": "true",
            "HOME": scratch.path, "AWS_EC2_METADATA_DISABLED": "true", "PGBACKUP_SPOOL": scratch.path + "/spool",
        ]
        if let cluster { environment["PGBACKUP_CONNINFO"] = cluster.conninfo(replication: true) }
        return environment
    }

    /// Writes `text` to `<scratch>/<name>` (readable by the restored server's user) and returns the path.
    static func write(_ text: String, _ name: String, in scratch: ScratchDirectory, mode: Int = 0o644) throws -> String {
        let path = scratch.path + "/" + name
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        guard FileManager.default.createFile(atPath: path, contents: Data(text.utf8), attributes: [.posixPermissions: mode]) else {
            throw FixtureError("unable to write \(path)")
        }
        return path
    }

    /// The variables (and files) that make `source` the one that signs.
    static func configure(_ source: Source, moto: MotoServer, scratch: ScratchDirectory, endpoint: CredentialEndpoint?) async throws -> [String: String] {
        switch source {
        case .webIdentity:
            let role = try await moto.createRole(name: "pgbackup-web-\(UUID().uuidString.prefix(8))")
            let token = try write(WebIdentityToken.make(expiresAt: Date().addingTimeInterval(3600)), "web/token", in: scratch)
            return ["AWS_ROLE_ARN": role, "AWS_WEB_IDENTITY_TOKEN_FILE": token, "AWS_ENDPOINT_URL_STS": moto.endpoint]
        case .profileRole:
            let role = try await moto.createRole(name: "pgbackup-profile-\(UUID().uuidString.prefix(8))")
            _ = try write("[base]\naws_access_key_id = \(moto.accessKeyID)\naws_secret_access_key = \(moto.secretAccessKey)\n", ".aws/credentials", in: scratch)
            _ = try write("[profile backup]\nrole_arn = \(role)\nsource_profile = base\nrole_session_name = pgbackup-e2e\n", ".aws/config", in: scratch)
            return ["AWS_PROFILE": "backup", "AWS_ENDPOINT_URL_STS": moto.endpoint]
        case .credentialProcess:
            let script = try write("""
                #!/bin/sh
                printf '{"Version": 1, "AccessKeyId": "%s", "SecretAccessKey": "%s"}' '\(moto.accessKeyID)' '\(moto.secretAccessKey)'
                """, "bin/credentials", in: scratch, mode: 0o755)
            _ = try write("[default]\ncredential_process = \(script)\n", ".aws/config", in: scratch)
            return [:]
        case .container:
            let endpoint = try #require(endpoint)
            guard case let .container(_, tokenFile?) = endpoint.mode else { throw FixtureError("a container endpoint with a token file") }
            return ["AWS_CONTAINER_CREDENTIALS_FULL_URI": endpoint.containerURI, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": tokenFile]
        case .instance:
            return ["AWS_EC2_METADATA_DISABLED": "false", "AWS_EC2_METADATA_SERVICE_ENDPOINT": try #require(endpoint).endpoint]
        }
    }

    /// The endpoint a source needs (container, instance), serving a fresh role's credentials.
    static func endpoint(for source: Source, moto: MotoServer, scratch: ScratchDirectory) async throws -> CredentialEndpoint? {
        switch source {
        case .container:
            let role = try await moto.createRole(name: "pgbackup-task-\(UUID().uuidString.prefix(8))")
            let tokenFile = try write("pod-identity-" + UUID().uuidString, "container/token", in: scratch)
            return try await CredentialEndpoint.start(mode: .container(authorizationToken: nil, tokenFile: tokenFile), moto: moto, roleARN: role)
        case .instance:
            let role = try await moto.createRole(name: "pgbackup-instance-\(UUID().uuidString.prefix(8))")
            return try await CredentialEndpoint.start(mode: .instanceMetadata(v1Only: false), moto: moto, roleARN: role)
        default:
            return nil
        }
    }

    @Test(arguments: Source.allCases)
    func aBackupAndARestoreAreSignedByTheSource(source: Source) async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let moto = try await MotoServer.shared()
        let endpoint = try await Self.endpoint(for: source, moto: moto, scratch: scratch)
        defer { if let endpoint { Task { await endpoint.stop() } } }
        try await withPostgresCluster(DaemonFixture.options) { cluster in
            let environment = Self.baseEnvironment(moto, scratch: scratch, cluster: cluster)
                .merging(try await Self.configure(source, moto: moto, scratch: scratch, endpoint: endpoint)) { $1 }
            #expect(environment["AWS_ACCESS_KEY_ID"] == nil && environment["AWS_SECRET_ACCESS_KEY"] == nil)

            let initialized = try await PGBackupBinary.run(["init"], environment: environment)
            try #require(initialized.status == 0, "init: \(initialized.standardError)")
            try await cluster.sql("CREATE TABLE rows (batch int, id int)", "INSERT INTO rows SELECT 1, g FROM generate_series(1, 1000) g")
            let backup = try await PGBackupBinary.run(["backup", "--json"], environment: environment, timeout: .seconds(300))
            try #require(backup.status == 0, "backup: \(backup.standardError)")
            try await cluster.sql("INSERT INTO rows SELECT 2, g FROM generate_series(1, 500) g")
            _ = try await cluster.sql("SELECT pg_switch_wal()")

            // check names the source that signed, the key and (temporary credentials) the expiry.
            let check = try await PGBackupBinary.run(["check", "--json"], environment: environment)
            let report = try #require(try JSONSerialization.jsonObject(with: Data(check.standardOutput.utf8)) as? [String: Any])
            let checks = try #require(report["checks"] as? [[String: Any]])
            let credentials = try #require(checks.first { $0["name"] as? String == "s3_credentials" }, "\(check.standardOutput)")
            let detail = try #require(credentials["detail"] as? String)
            #expect(credentials["ok"] as? Bool == true, "\(detail)")
            #expect(detail.hasPrefix(source.reported + ":"), "\(detail)")
            if source != .credentialProcess { #expect(detail.contains("expire"), "\(detail)") }
            #expect(!check.standardOutput.contains(moto.secretAccessKey) && !check.standardError.contains(moto.secretAccessKey))

            // The restored server fetches WAL as its own user, signed the same way.
            let counts = try await RestoreEndToEndTests.restoreAndCount(in: scratch, environment: environment, [], name: source.rawValue)
            #expect(counts == [1: 1000], "the backup's rows, restored to the end of its WAL")
            let written = try String(contentsOfFile: scratch.path + "/restored-\(source.rawValue).pgbackup.yaml", encoding: .utf8)
            #expect(written.contains("credentials: \"auto\""), "\(written)")
            if source == .webIdentity { #expect(written.contains("web_identity_token_file:") && written.contains("role_arn:"), "\(written)") }
            // Only the source's settings: never credentials it fetched.
            #expect(!written.contains("access_key_id") || source == .profileRole || source == .credentialProcess, "\(written)")
            if let endpoint {
                let served = try await endpoint.requestCounts()
                let path = source == .container ? endpoint.path : "/latest/api/token"
                #expect((served[path] ?? 0) >= 3, "init, backup, check and restore each fetched: \(served)")
            }
        }
    }

    /// Broken on purpose: each source's failure names the source and what it answered, exits 1
    /// (2 for a source that is not configured), and never prints a secret.
    @Test func everyBrokenSourceFailsClearly() async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let moto = try await MotoServer.shared()
        let base = Self.baseEnvironment(moto, scratch: scratch, cluster: nil)
        let role = try await moto.createRole(name: "pgbackup-broken-\(UUID().uuidString.prefix(8))")
        let expiredToken = WebIdentityToken.make(expiresAt: Date().addingTimeInterval(-60))
        let validToken = WebIdentityToken.make(expiresAt: Date().addingTimeInterval(3600))
        let expiredFile = try Self.write(expiredToken, "expired-token", in: scratch)
        let validFile = try Self.write(validToken, "valid-token", in: scratch)
        let unusedPort = try await CheckEndToEndTests.unusedPort()

        let imds = try await CredentialEndpoint.start(mode: .instanceMetadata(v1Only: true), moto: moto, roleARN: role)
        defer { Task { await imds.stop() } }
        let container = try await CredentialEndpoint.start(mode: .container(authorizationToken: "the-right-token", tokenFile: nil), moto: moto, roleARN: role)
        defer { Task { await container.stop() } }
        let wrongTokenFile = try Self.write("a-wrong-token", "container-token", in: scratch)
        _ = try Self.write("[profile failing]\ncredential_process = sh -c 'echo \"the SSO session has expired\" >&2; exit 2'\n", ".aws/config", in: scratch)

        let cases: [(String, [String: String], Int32, [String])] = [
            ("an expired token file", ["AWS_ROLE_ARN": role, "AWS_WEB_IDENTITY_TOKEN_FILE": expiredFile, "AWS_ENDPOINT_URL_STS": moto.endpoint],
             1, ["web identity", "ExpiredTokenException", "AssumeRoleWithWebIdentity", role]),
            ("a role that does not exist", ["AWS_ROLE_ARN": "arn:aws:iam::123456789012:role/no-such-role", "AWS_WEB_IDENTITY_TOKEN_FILE": validFile,
                                            "AWS_ENDPOINT_URL_STS": moto.endpoint],
             1, ["web identity", "AccessDenied", "no-such-role"]),
            ("a missing token file", ["AWS_ROLE_ARN": role, "AWS_WEB_IDENTITY_TOKEN_FILE": scratch.path + "/no-such-token", "AWS_ENDPOINT_URL_STS": moto.endpoint],
             1, ["web identity", "no-such-token", "no such file"]),
            ("an unreachable STS", ["AWS_ROLE_ARN": role, "AWS_WEB_IDENTITY_TOKEN_FILE": validFile, "AWS_ENDPOINT_URL_STS": "http://127.0.0.1:\(unusedPort)"],
             1, ["web identity", "unable to reach http://127.0.0.1:\(unusedPort)"]),
            ("an IMDSv1-only metadata service", ["AWS_EC2_METADATA_DISABLED": "false", "AWS_EC2_METADATA_SERVICE_ENDPOINT": imds.endpoint],
             1, ["instance metadata", "IMDSv2", "HTTP 404"]),
            ("a container endpoint refusing the token", ["AWS_CONTAINER_CREDENTIALS_FULL_URI": container.containerURI,
                                                          "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": wrongTokenFile],
             1, ["container credential endpoint", "HTTP 403", container.containerURI]),
            ("a container endpoint on another host over http", ["AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://192.0.2.1/creds"],
             2, ["container", "http://192.0.2.1/creds"]),
            ("a failing credential_process", ["AWS_PROFILE": "failing"], 1, ["credential_process of profile 'failing'", "exit status 2", "SSO session has expired"]),
            ("a pinned source that is not configured", ["PGBACKUP_S3_CREDENTIALS": "web-identity"], 2, ["AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"]),
            ("no source at all", [:], 2, ["AWS_ACCESS_KEY_ID", "AWS_PROFILE", "AWS_CONTAINER_CREDENTIALS_FULL_URI"]),
        ]
        for (what, variables, status, expected) in cases {
            let result = try await PGBackupBinary.run(["list"], environment: base.merging(variables) { $1 })
            let output = result.standardOutput + result.standardError
            if ProcessInfo.processInfo.environment["CREDENTIALS_E2E_PRINT"] != nil { print("[\(what)] exit \(result.status): \(output)") }
            #expect(result.status == status, "\(what): exit \(result.status): \(output)")
            for text in expected { #expect(output.contains(text), "\(what): '\(text)' not in: \(output)") }
            for secret in [expiredToken, validToken, "the-right-token", "a-wrong-token", moto.secretAccessKey] {
                #expect(!output.contains(secret), "\(what): a secret in the output: \(output)")
            }
        }
    }

    /// Every object of a repository under `prefix` as S3 stored it, asked with boto3 (a client
    /// that is not ours): `key: "algorithm key-id"`.
    static func storedEncryption(_ moto: MotoServer, prefix: String) async throws -> [String: String] {
        let script = """
            import boto3, json, sys
            s3 = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1")
            out = {}
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=sys.argv[2], Prefix=sys.argv[3]):
                for item in page.get("Contents", []):
                    head = s3.head_object(Bucket=sys.argv[2], Key=item["Key"])
                    out[item["Key"]] = f'{head.get("ServerSideEncryption")} {head.get("SSEKMSKeyId")}'
            print(json.dumps(out))
            """
        var environment = moto.clientEnvironment
        environment["PATH"] = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        let result = try await runProcess("/usr/bin/env", ["python3", "-c", script, moto.endpoint, moto.bucket, prefix], environment: environment).checked()
        return try JSONDecoder().decode([String: String].self, from: result.standardOutputData)
    }

    /// `s3.sse: aws:kms` with a key of moto's KMS, with and without client-side encryption: every
    /// object S3 holds (backup, chunks, WAL, repository.json) is stored with that key, `check`'s
    /// probe says so, and the backup restores. A key KMS does not know is S3's clear refusal.
    @Test(arguments: [false, true])
    func serverSideEncryptionWithAKMSKey(clientSide: Bool) async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let moto = try await MotoServer.shared()
        let key = try await moto.createKMSKey(alias: "alias/pgbackup-e2e-\(UUID().uuidString.prefix(8).lowercased())")
        try await withPostgresCluster(DaemonFixture.options) { cluster in
            var environment = Self.baseEnvironment(moto, scratch: scratch, cluster: cluster).merging(moto.clientEnvironment) { $1 }
            environment["PGBACKUP_REPO"] = "s3://\(moto.bucket)/sse-\(UUID().uuidString.prefix(8).lowercased())/repo"
            environment["PGBACKUP_S3_SSE"] = "aws:kms"
            environment["PGBACKUP_S3_SSE_KMS_KEY_ID"] = key.arn
            if clientSide {
                let keyFile = scratch.path + "/repository.key"
                try DurableFile.write(keyFile, contents: EncryptionKey.random().fileContents)
                environment["PGBACKUP_ENCRYPTION_KEY_FILE"] = keyFile
            }
            let initialized = try await PGBackupBinary.run(["init"], environment: environment)
            try #require(initialized.status == 0, "init: \(initialized.standardError)")
            try await cluster.sql("CREATE TABLE rows (batch int, id int)", "INSERT INTO rows SELECT 1, g FROM generate_series(1, 1000) g")
            let backup = try await PGBackupBinary.run(["backup"], environment: environment, timeout: .seconds(300))
            try #require(backup.status == 0, "backup: \(backup.standardError)")

            let prefix = String(try #require(environment["PGBACKUP_REPO"]).dropFirst("s3://\(moto.bucket)/".count))
            let stored = try await Self.storedEncryption(moto, prefix: prefix)
            #expect(stored.count > 5 && stored.keys.contains { $0.hasSuffix("/backup.json") } && stored.keys.contains { $0.hasSuffix("repository.json") })
            #expect(stored.values.allSatisfy { $0 == "aws:kms \(key.arn)" }, "\(stored)")

            let check = try await PGBackupBinary.run(["check", "--json"], environment: environment)
            let report = try #require(try JSONSerialization.jsonObject(with: Data(check.standardOutput.utf8)) as? [String: Any])
            let probe = try #require((report["checks"] as? [[String: Any]])?.first { $0["name"] as? String == "s3_encryption" }, "\(check.standardOutput)")
            #expect(probe["ok"] as? Bool == true, "\(probe)")
            #expect((probe["detail"] as? String)?.contains(key.arn) == true, "\(probe)")
            #expect(try await Self.storedEncryption(moto, prefix: prefix).count == stored.count, "the probe object is removed")

            let counts = try await RestoreEndToEndTests.restoreAndCount(in: scratch, environment: environment, [], name: "sse-\(clientSide)")
            #expect(counts == [1: 1000])

            // A key KMS does not know: S3 refuses the write, and the error says why.
            var unknown = environment
            unknown["PGBACKUP_S3_SSE_KMS_KEY_ID"] = "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000"
            let refused = try await PGBackupBinary.run(["backup"], environment: unknown, timeout: .seconds(120))
            #expect(refused.status == 1 && refused.standardError.contains("KMS.NotFoundException"), "\(refused.standardError)")
            let unhealthy = try await PGBackupBinary.run(["check", "--json"], environment: unknown)
            #expect(unhealthy.standardOutput.contains("KMS.NotFoundException"), "\(unhealthy.standardOutput)")
        }
    }
}
