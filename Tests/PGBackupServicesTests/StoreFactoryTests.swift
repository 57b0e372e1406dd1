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

    @Test func s3WithoutCredentialsIsAConfigurationError() throws {
        var settings = Settings()
        settings.repository = try RepositoryLocation(parsing: "s3://my-bucket")
        #expect {
            _ = try StoreFactory.open(settings)
        } throws: { error in
            error is ConfigurationError && "\(error)".contains("AWS_ACCESS_KEY_ID")
        }
    }
}
