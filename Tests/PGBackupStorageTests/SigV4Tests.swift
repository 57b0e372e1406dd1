import Foundation
import Testing
@testable import PGBackupStorage

/// SigV4 against AWS's own published examples (the S3 API reference's "Signature Calculations
/// for the Authorization Header" and the IAM user guide's), byte for byte.
@Suite("SigV4")
struct SigV4Tests {
    static let example = S3Credentials(accessKeyID: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    /// 2013-05-24T00:00:00Z
    static let exampleDate = Date(timeIntervalSince1970: 1_369_353_600)

    static func authorization(_ headers: [(name: String, value: String)]) -> String? {
        headers.first { $0.name == "Authorization" }?.value
    }

    @Test func s3GetObjectExample() {
        let signer = SigV4(credentials: Self.example, region: "us-east-1", service: "s3")
        let headers = signer.headers(
            method: "GET", url: "https://examplebucket.s3.amazonaws.com/test.txt",
            headers: [("Range", "bytes=0-9"), ("x-amz-content-sha256", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")],
            body: [], date: Self.exampleDate)
        #expect(Self.authorization(headers) == "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
            + "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
    }

    @Test func s3ListObjectsExampleSortsTheQuery() {
        let signer = SigV4(credentials: Self.example, region: "us-east-1", service: "s3")
        let headers = signer.headers(
            method: "GET", url: "https://examplebucket.s3.amazonaws.com/?prefix=J&max-keys=2",
            headers: [("x-amz-content-sha256", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")],
            body: [], date: Self.exampleDate)
        #expect(Self.authorization(headers)?.hasSuffix("Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7") == true,
                "\(Self.authorization(headers) ?? "")")
    }

    /// The prefix case libcurl 7.88 gets wrong: `x-amz-server-side-encryption` sorts before
    /// `x-amz-server-side-encryption-aws-kms-key-id` in SignedHeaders.
    @Test func headersWhoseNamesExtendOthersSortByName() {
        let signer = SigV4(credentials: Self.example, region: "us-east-1", service: "s3")
        let headers = signer.headers(
            method: "PUT", url: "https://examplebucket.s3.amazonaws.com/k",
            headers: [("x-amz-server-side-encryption-aws-kms-key-id", "key"), ("x-amz-server-side-encryption", "aws:kms"),
                      ("x-amz-content-sha256", "UNSIGNED-PAYLOAD")],
            body: [], date: Self.exampleDate)
        #expect(Self.authorization(headers)?.contains(
            "SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-server-side-encryption;x-amz-server-side-encryption-aws-kms-key-id,") == true)
    }

    @Test func temporaryCredentialsSignTheirToken() {
        var credentials = Self.example
        credentials.sessionToken = "the-token"
        let headers = SigV4(credentials: credentials, region: "eu-west-1", service: "sts").headers(
            method: "POST", url: "https://sts.eu-west-1.amazonaws.com/", headers: [("Content-Type", "application/x-www-form-urlencoded")],
            body: Array("Action=AssumeRole".utf8), date: Self.exampleDate)
        #expect(headers.contains { $0.name == "x-amz-security-token" && $0.value == "the-token" })
        #expect(headers.contains { $0.name == "x-amz-date" && $0.value == "20130524T000000Z" })
        #expect(Self.authorization(headers)?.contains("/20130524/eu-west-1/sts/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-security-token,") == true)
    }
}
