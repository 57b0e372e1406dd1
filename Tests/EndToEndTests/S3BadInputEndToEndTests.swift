import Foundation
import Testing
import PGBackupTestSupport

/// Wrong S3 settings through the binary: a clear error naming what to fix, exit 1, and never a
/// secret in the output.
@Suite("pgbackup with bad S3 settings, end to end")
struct S3BadInputEndToEndTests {
    @Test func aWrongSecretAMissingBucketAndAnUnreachableEndpointFailClearlyWithoutShowingTheSecret() async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        try await withPostgresCluster { cluster in
            // A good repository, so that only the one setting under test is wrong.
            let fixture = try await DaemonFixture(.s3, cluster: cluster, scratch: scratch)
            let moto = try #require(fixture.repository.moto)
            let wrongSecret = "wrong-secret-\(UUID().uuidString)"
            let missingBucket = "pgbackup-missing-\(UUID().uuidString.prefix(8).lowercased())"
            let unreachable = "http://127.0.0.1:\(try freeTCPPort())"

            var wrongCredentials = fixture.environment
            wrongCredentials["AWS_SECRET_ACCESS_KEY"] = wrongSecret
            var noBucket = fixture.environment
            noBucket["PGBACKUP_REPO"] = "s3://\(missingBucket)/repo"
            var nobodyListens = fixture.environment
            nobodyListens["PGBACKUP_S3_ENDPOINT"] = unreachable

            let cases: [(name: String, environment: [String: String], messages: [String])] = [
                ("wrong secret", wrongCredentials, [
                    "\(moto.endpoint) refused the credentials of access key '\(moto.accessKeyID)' for bucket '\(moto.bucket)'",
                    "SignatureDoesNotMatch", "HINT: check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY",
                ]),
                ("missing bucket", noBucket, ["bucket '\(missingBucket)' does not exist at \(moto.endpoint)", "HINT"]),
                ("unreachable endpoint", nobodyListens, ["unable to reach \(unreachable)", "s3://\(moto.bucket)/", "HINT: check PGBACKUP_S3_ENDPOINT"]),
            ]
            let commands = [["init"], ["backup"], ["list"], ["wal-fetch", "000000010000000000000001", scratch.path + "/RECOVERYXLOG"]]
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (name, environment, messages) in cases {
                    for command in commands {
                        group.addTask {
                            // The most talkative log level: whatever it prints must not hold a secret either.
                            let result = try await PGBackupBinary.run(command + ["--log-level", "trace"], environment: environment)
                            let output = result.standardOutput + result.standardError
                            #expect(result.status == 1, "\(name), \(command[0]): \(output)")
                            for message in messages {
                                #expect(result.standardError.contains(message), "\(name), \(command[0]): expected '\(message)' in: \(result.standardError)")
                            }
                            #expect(!output.contains(wrongSecret) && !output.contains(moto.secretAccessKey), "\(name), \(command[0]) shows a secret")
                        }
                    }
                }
                try await group.waitForAll()
            }
            #expect(!FileManager.default.fileExists(atPath: scratch.path + "/RECOVERYXLOG"))
            // Nothing was created in the bucket that does not exist, nor anything changed in the good repository.
            #expect(try await fixture.repository.keys(under: "") == ["main/repository.json"])
        }
    }
}
