import PGBackupStorage
import Testing
@testable import PGBackupServices

@Suite("StoreFactory")
struct StoreFactoryTests {
    @Test func s3RepositoriesOpenTheS3DriverWithTheSettings() throws {
        var settings = Settings()
        settings.repository = try RepositoryLocation(parsing: "s3://my-bucket/backups/prod")
        settings.s3.endpoint = "http://127.0.0.1:9000"
        settings.s3.region = "eu-west-1"
        settings.s3.pathStyle = true
        settings.s3.accessKeyID = "AKIAEXAMPLE"
        settings.s3.secretAccessKey = Secret("the-secret")
        settings.s3.caFile = "/etc/ssl/ca.pem"
        let store = try #require(try StoreFactory.open(settings) as? S3ObjectStore)
        #expect(store.location == "s3://my-bucket/backups/prod")
        #expect(store.configuration.bucket == "my-bucket" && store.configuration.prefix == "backups/prod")
        #expect(store.configuration.effectiveEndpoint == "http://127.0.0.1:9000")
        #expect(store.configuration.region == "eu-west-1" && store.configuration.pathStyle)
        #expect(store.configuration.caFile == "/etc/ssl/ca.pem")
    }

    /// With no source configured (and the instance metadata service off, as off EC2 one sets
    /// it), the chain has nothing to try: a configuration error listing every source.
    @Test func s3WithoutCredentialsIsAConfigurationError() throws {
        var settings = Settings()
        settings.repository = try RepositoryLocation(parsing: "s3://my-bucket")
        settings.s3.ec2MetadataDisabled = true
        settings.s3.home = "/nonexistent"
        #expect {
            _ = try StoreFactory.open(settings)
        } throws: { error in
            error is ConfigurationError && ["AWS_ACCESS_KEY_ID", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_PROFILE", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_EC2_METADATA_DISABLED"]
                .allSatisfy { "\(error)".contains($0) }
        }
    }

    /// Without static keys or any other source, `auto` ends at the instance metadata service.
    @Test func theChainEndsAtTheInstanceMetadataService() throws {
        var settings = Settings()
        settings.repository = try RepositoryLocation(parsing: "s3://my-bucket")
        settings.s3.home = "/nonexistent"
        settings.s3.ec2MetadataEndpoint = "http://127.0.0.1:1"
        #expect(try StoreFactory.credentials(settings).provider.source == .instance)
        settings.s3.accessKeyID = "AKIAEXAMPLE"
        settings.s3.secretAccessKey = Secret("the-secret")
        #expect(try StoreFactory.credentials(settings).provider.source == .env)
    }

    /// One cache per credential configuration for the whole process: every store shares it.
    @Test func storesOfTheSameSettingsShareOneCredentialCache() throws {
        var settings = Settings()
        settings.repository = try RepositoryLocation(parsing: "s3://my-bucket")
        settings.s3.accessKeyID = "AKIASHARED"
        settings.s3.secretAccessKey = Secret("the-secret")
        let first = try #require(try StoreFactory.open(settings) as? S3ObjectStore)
        let second = try #require(try StoreFactory.open(settings) as? S3ObjectStore)
        #expect(first.configuration.credentials === second.configuration.credentials)
        settings.s3.secretAccessKey = Secret("another-secret")
        let third = try #require(try StoreFactory.open(settings) as? S3ObjectStore)
        #expect(first.configuration.credentials !== third.configuration.credentials)
    }

    @Test func aKMSKeyWithAES256IsRefused() throws {
        var settings = Settings()
        settings.repository = try RepositoryLocation(parsing: "s3://my-bucket")
        settings.s3.accessKeyID = "AKIAEXAMPLE"
        settings.s3.secretAccessKey = Secret("the-secret")
        settings.s3.sseKMSKeyID = "1234abcd-12ab-34cd-56ef-1234567890ab"
        let store = try #require(try StoreFactory.open(settings) as? S3ObjectStore)
        #expect(store.configuration.serverSideEncryption == .kms(keyID: "1234abcd-12ab-34cd-56ef-1234567890ab"))
        settings.s3.sse = .aes256
        #expect(throws: ConfigurationError.self) { _ = try StoreFactory.open(settings) }
    }
}
