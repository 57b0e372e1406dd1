import Foundation
import Testing
import PGBackupFoundations
import PGBackupStorage
@testable import PGBackupServices

/// The credential sources' settings: the AWS SDKs' variables, the `s3:` keys they override, and
/// what `pgbackup restore` writes for the restored server's `restore_command`.
@Suite("configuration: S3 credential sources")
struct S3CredentialSettingsTests {
    let path = "/etc/pgbackup/pgbackup.yaml"

    func load(_ yaml: String?, env: [String: String] = [:]) throws -> Settings {
        try SettingsLoader.settings(yaml: yaml, path: path, environment: env, server: nil)
    }

    @Test func theSDKsVariablesSetTheSourcesAndWinOverTheFile() throws {
        let settings = try load("""
            repository: s3://bucket/prefix
            s3:
              credentials: web-identity
              role_arn: arn:aws:iam::1:role/from-file
              web_identity_token_file: /file/token
              sts_endpoint: https://sts.example.com
              sse: aws:kms
              sse_kms_key_id: alias/backups
            """, env: [
                "AWS_ROLE_ARN": "arn:aws:iam::1:role/from-env", "AWS_ENDPOINT_URL": "http://127.0.0.1:5000",
                "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/credentials/abc", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": "/var/run/token",
                "AWS_EC2_METADATA_DISABLED": "true", "AWS_PROFILE": "ops", "AWS_REGION": "eu-central-1", "HOME": "/home/ops",
            ])
        let credentials = settings.s3.credentialSettings
        #expect(credentials.source == .webIdentity)
        #expect(credentials.roleARN == "arn:aws:iam::1:role/from-env")
        #expect(credentials.webIdentityTokenFile == "/file/token")
        // The environment wins over the file, as for every setting (AWS_ENDPOINT_URL: every service's).
        #expect(credentials.stsEndpoint == "http://127.0.0.1:5000")
        #expect(credentials.containerCredentialsURI == "http://169.254.170.2/v2/credentials/abc")
        #expect(credentials.containerAuthorizationTokenFile == "/var/run/token")
        #expect(credentials.metadataDisabled && credentials.profile == "ops")
        #expect(credentials.sharedCredentialsFile == "/home/ops/.aws/credentials" && credentials.configFile == "/home/ops/.aws/config")
        #expect(settings.s3.region == "eu-central-1" && credentials.region == "eu-central-1")
        #expect(settings.s3.endpoint == "http://127.0.0.1:5000")  // AWS_ENDPOINT_URL: every service's endpoint
        #expect(try settings.s3.serverSideEncryption() == .kms(keyID: "alias/backups"))
        // AWS_ENDPOINT_URL_STS and AWS_ENDPOINT_URL_S3 are more specific than AWS_ENDPOINT_URL.
        let specific = try load(nil, env: ["AWS_ENDPOINT_URL": "http://all", "AWS_ENDPOINT_URL_STS": "http://sts", "AWS_ENDPOINT_URL_S3": "http://s3",
                                            "PGBACKUP_S3_REGION": "us-west-2", "AWS_REGION": "eu-west-1"])
        #expect(specific.s3.stsEndpoint == "http://sts" && specific.s3.endpoint == "http://s3" && specific.s3.region == "us-west-2")
        #expect(try load(nil, env: ["AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE": "IPv6"]).s3.ec2MetadataEndpoint == "http://[fd00:ec2::254]")
    }

    @Test func unknownSourcesAndAlgorithmsAreRefusedNamingTheSetting() {
        #expect { try load(nil, env: ["PGBACKUP_S3_CREDENTIALS": "iam"]) } throws: { error in
            "\(error)".contains("PGBACKUP_S3_CREDENTIALS") && "\(error)".contains("web-identity")
        }
        #expect { try load("s3:\n  sse: aws:kms:dsse\n") } throws: { error in "\(error)".contains("s3.sse") && "\(error)".contains("AES256") }
        #expect { try load("s3:\n  role: x\n") } throws: { error in "\(error)".contains("role_arn") }
    }

    /// `restore` writes every credential setting in effect, so the restored server's
    /// restore_command (another user, another environment, another $HOME) signs the same way;
    /// secrets only in that mode-0600 file, never in a description.
    @Test func theRestoreConfigurationReproducesTheSource() throws {
        let environment = [
            "PGBACKUP_REPO": "s3://bucket/prefix", "AWS_ROLE_ARN": "arn:aws:iam::1:role/r", "AWS_WEB_IDENTITY_TOKEN_FILE": "/var/run/token",
            "AWS_ENDPOINT_URL_STS": "http://127.0.0.1:5000", "AWS_ROLE_SESSION_NAME": "restore", "AWS_PROFILE": "p", "HOME": "/root",
            "AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://127.0.0.1:9/creds", "AWS_CONTAINER_AUTHORIZATION_TOKEN": "container-secret",
            "AWS_EC2_METADATA_SERVICE_ENDPOINT": "http://127.0.0.1:8", "PGBACKUP_S3_SSE": "AES256", "PGBACKUP_S3_CREDENTIALS": "container",
        ]
        let original = try load(nil, env: environment)
        let yaml = original.repositoryConfigurationYAML(comment: "test")
        let reread = try load(yaml, env: ["HOME": "/var/lib/postgresql"])
        #expect(reread.s3.credentialSettings == original.s3.credentialSettings)
        #expect(try reread.s3.serverSideEncryption() == .aes256)
        #expect(!"\(original)".contains("container-secret") && !"\(original.s3)".contains("container-secret"))
    }
}
