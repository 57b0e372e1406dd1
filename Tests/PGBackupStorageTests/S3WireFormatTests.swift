import Foundation
import Testing
@testable import PGBackupStorage

/// The pure parts of the S3 driver: URL encoding as SigV4 signs it, the XML it reads and writes.
@Suite("s3:// wire format")
struct S3WireFormatTests {
    @Test func urlsAreInSigV4CanonicalForm() {
        let path = S3URL(endpoint: "http://127.0.0.1:9000", bucket: "bk", pathStyle: true)
        #expect(path.url(key: "p/a b+c%~é") == "http://127.0.0.1:9000/bk/p/a%20b%2Bc%25~%C3%A9")
        #expect(path.url(key: nil, query: [("prefix", "wal/"), ("list-type", "2"), ("continuation-token", "a+b/=")])
                == "http://127.0.0.1:9000/bk?continuation-token=a%2Bb%2F%3D&list-type=2&prefix=wal%2F")
        #expect(path.url(key: "k", query: [("uploads", "")]) == "http://127.0.0.1:9000/bk/k?uploads=")
        #expect(path.url(key: "k", query: [("uploadId", "x"), ("partNumber", "3")]) == "http://127.0.0.1:9000/bk/k?partNumber=3&uploadId=x")
        let virtual = S3URL(endpoint: "https://s3.eu-west-1.amazonaws.com", bucket: "bk", pathStyle: false)
        #expect(virtual.url(key: "a/b") == "https://bk.s3.eu-west-1.amazonaws.com/a/b")
        #expect(virtual.url(key: nil, query: [("delete", "")]) == "https://bk.s3.eu-west-1.amazonaws.com/?delete=")
    }

    @Test func listingsParse() throws {
        let xml = """
            <?xml version="1.0" encoding="UTF-8"?>
            <ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>bk</Name><Prefix>p/</Prefix>
              <Contents><Key>p/a &amp; b&lt;&#233;</Key><LastModified>2026-11-22T07:43:08.500Z</LastModified><ETag>&quot;x&quot;</ETag><Size>12</Size></Contents>
              <Contents><Key><![CDATA[p/c]]></Key><LastModified>2026-11-22T07:43:09Z</LastModified><Size>0</Size></Contents>
              <IsTruncated>true</IsTruncated><NextContinuationToken>tok/en=</NextContinuationToken>
            </ListBucketResult>
            """
        let page = try #require(S3XML.listPage(Array(xml.utf8)))
        #expect(page.objects.map(\.key) == ["p/a & b<é", "p/c"])
        #expect(page.objects.map(\.size) == [12, 0])
        #expect(page.objects[0].modified == Date(timeIntervalSince1970: 1_795_333_388.5))
        #expect(page.nextContinuationToken == "tok/en=")
        #expect(S3XML.listPage(Array("<ListBucketResult><Contents>".utf8)) == nil)
    }

    /// An object's or an upload's time that does not parse is never replaced by the epoch or by
    /// now: a listing with one is malformed; an upload with one is left out (never taken for old).
    @Test func datesThatDoNotParseAreNeverMadeUp() throws {
        let listing = "<ListBucketResult><Contents><Key>k</Key><LastModified>yesterday</LastModified><Size>1</Size></Contents></ListBucketResult>"
        #expect(S3XML.listPage(Array(listing.utf8)) == nil)
        let uploads = """
            <ListMultipartUploadsResult>
              <Upload><Key>a</Key><UploadId>1</UploadId><Initiated>not a date</Initiated></Upload>
              <Upload><Key>b</Key><UploadId>2</UploadId><Initiated>2026-11-22T07:43:08Z</Initiated></Upload>
              <IsTruncated>false</IsTruncated>
            </ListMultipartUploadsResult>
            """
        let page = try #require(S3XML.uploadsPage(Array(uploads.utf8)))
        #expect(page.uploads.map(\.key) == ["b"])
        #expect(page.uploads[0].initiated == Date(timeIntervalSince1970: 1_795_333_388))
    }

    @Test func errorsAndDeleteResultsParse() throws {
        let error = try #require(S3XML.error(Array("<Error><Code>NoSuchBucket</Code><Message>gone</Message><RequestId>R1</RequestId></Error>".utf8)))
        #expect(error.code == "NoSuchBucket" && error.message == "gone" && error.requestID == "R1")
        let deleted = try #require(S3XML.deleteErrors(Array("<DeleteResult><Error><Key>k</Key><Code>AccessDenied</Code><Message>no</Message></Error></DeleteResult>".utf8)))
        #expect(deleted.map(\.key) == ["k"])
        #expect(S3XML.deleteErrors(Array("<DeleteResult/>".utf8))?.isEmpty == true)
        #expect(String(decoding: S3XML.deleteRequest(["a&b"]), as: UTF8.self).contains("<Key>a&amp;b</Key>"))
    }

    @Test func httpDatesParse() {
        #expect(S3Dates.parseHTTP("Sun, 22 Nov 2026 07:43:08 GMT") == Date(timeIntervalSince1970: 1_795_333_388))
        #expect(S3Dates.parseHTTP("garbage") == nil)
    }
}
