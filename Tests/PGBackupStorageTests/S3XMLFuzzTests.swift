import Foundation
import PGBackupTestSupport
import Testing
@testable import PGBackupStorage

/// The S3 XML reader on answers no server should send: seeded mutations of valid ones. Whatever
/// the bytes, every reader returns a value or nil (a malformed answer), never crashes or hangs;
/// and listings made from generated keys read back as those keys. A failure names its seed.
@Suite("s3:// XML reader, fuzzed")
struct S3XMLFuzzTests {
    static let valid: [String] = [
        """
        <?xml version="1.0" encoding="UTF-8"?>
        <ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>bk</Name><Prefix>p/</Prefix>
          <Contents><Key>p/a &amp; b&lt;&#233;</Key><LastModified>2026-11-22T07:43:08.500Z</LastModified><ETag>&quot;x&quot;</ETag><Size>12</Size></Contents>
          <Contents><Key><![CDATA[p/c]]></Key><LastModified>2026-11-22T07:43:09Z</LastModified><Size>0</Size></Contents>
          <!-- a comment --><IsTruncated>true</IsTruncated><NextContinuationToken>tok/en=</NextContinuationToken>
        </ListBucketResult>
        """,
        "<Error><Code>NoSuchBucket</Code><Message>gone</Message><RequestId>R1</RequestId></Error>",
        "<DeleteResult><Error><Key>k</Key><Code>AccessDenied</Code><Message>no</Message></Error><Deleted><Key>j</Key></Deleted></DeleteResult>",
        "<InitiateMultipartUploadResult><Bucket>bk</Bucket><Key>k</Key><UploadId>VXBsb2Fk</UploadId></InitiateMultipartUploadResult>",
        """
        <ListMultipartUploadsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
          <Upload><Key>a</Key><UploadId>1</UploadId><Initiated>2026-11-22T07:43:08Z</Initiated></Upload>
          <IsTruncated>true</IsTruncated><NextKeyMarker>a</NextKeyMarker><NextUploadIdMarker>1</NextUploadIdMarker>
        </ListMultipartUploadsResult>
        """,
    ]

    /// Pieces a mutation inserts: deep or huge elements, odd entities and references, invalid
    /// UTF-8, unclosed constructs.
    static let splices: [[UInt8]] = [
        Array(String(repeating: "<a>", count: 5000).utf8),
        Array(String(repeating: "</a>", count: 50).utf8),
        Array(("<Key>" + String(repeating: "x", count: 200_000) + "</Key>").utf8),
        Array(String(repeating: "<", count: 2000).utf8),
        Array("&#x110000;&#xD800;&#99999999999999999999;&#;&#x;&amp&lt;&unknown;&".utf8),
        Array("<![CDATA[".utf8), Array("<!--".utf8), Array("<?".utf8), Array("<!DOCTYPE x [<!ENTITY e \"&e;&e;\">]>".utf8),
        Array("<x:y:z a='1' b=\"2\"/>".utf8), Array("</>".utf8), Array("<>".utf8), Array("<".utf8), Array(">".utf8),
        [0xFF, 0xFE], [0xC0, 0x80], [0xED, 0xA0, 0x80], [0x80, 0x80, 0x80], [0xF4, 0x90, 0x80, 0x80], [0],
    ]

    /// Every reader of the driver on `bytes`; each returns nil or a value.
    static func readAll(_ bytes: [UInt8]) {
        _ = S3XMLElement.parse(bytes)
        _ = S3XML.listPage(bytes)
        _ = S3XML.deleteErrors(bytes)
        _ = S3XML.uploadID(bytes)
        _ = S3XML.uploadsPage(bytes)
        _ = S3XML.error(bytes)
    }

    static func mutate(_ original: [UInt8], using rng: inout SeededGenerator) -> [UInt8] {
        var bytes = original
        for _ in 0..<Int.random(in: 1...6, using: &rng) {
            switch Int.random(in: 0..<5, using: &rng) {
            case 0 where !bytes.isEmpty:  // flip bytes
                bytes[Int.random(in: 0..<bytes.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            case 1:  // cut short
                bytes = Array(bytes.prefix(Int.random(in: 0...bytes.count, using: &rng)))
            case 2:  // splice a hostile piece in
                let piece = splices[Int.random(in: 0..<splices.count, using: &rng)]
                bytes.insert(contentsOf: piece, at: Int.random(in: 0...bytes.count, using: &rng))
            case 3 where !bytes.isEmpty:  // duplicate a stretch
                let start = Int.random(in: 0..<bytes.count, using: &rng)
                let end = Int.random(in: start...min(bytes.count, start + 200), using: &rng)
                bytes.insert(contentsOf: bytes[start..<end], at: Int.random(in: 0...bytes.count, using: &rng))
            default:  // drop a stretch
                guard !bytes.isEmpty else { continue }
                let start = Int.random(in: 0..<bytes.count, using: &rng)
                bytes.removeSubrange(start..<Int.random(in: start...min(bytes.count, start + 50), using: &rng))
            }
        }
        return bytes
    }

    // The time limit is a hang guard: 400 documents of at most a few hundred kB each.
    @Test(.timeLimit(.minutes(3))) func mutatedAnswersNeverCrashOrHang() {
        for seed in UInt64(0)..<400 {
            var rng = SeededGenerator(seed: seed)
            let original = Array(Self.valid[Int(seed) % Self.valid.count].utf8)
            Self.readAll(Self.mutate(original, using: &rng))
        }
    }

    /// A tree nested 100,000 deep crashed the process when released (each level recursed once,
    /// overflowing the stack): a server, or anything between it and us, could crash pgbackup with
    /// a ~700 kB answer. Documents deeper than `maximumDepth` are refused before the tree grows.
    @Test func deeplyNestedDocumentsAreRefusedNotACrash() throws {
        let deep = String(repeating: "<a>", count: 100_000) + "x" + String(repeating: "</a>", count: 100_000)
        #expect(S3XMLElement.parse(Array(deep.utf8)) == nil)
        let limit = S3XMLElement.maximumDepth
        let deepest = String(repeating: "<a>", count: limit) + "x" + String(repeating: "</a>", count: limit)
        #expect(S3XMLElement.parse(Array(deepest.utf8))?.name == "a")
        let tooDeep = String(repeating: "<a>", count: limit + 1) + "x" + String(repeating: "</a>", count: limit + 1)
        #expect(S3XMLElement.parse(Array(tooDeep.utf8)) == nil)
    }

    @Test func hostileDocumentsAreReadOrRefused() throws {
        // Unclosed nesting far deeper than any answer: refused (the open elements are a flat stack).
        #expect(S3XMLElement.parse(Array(String(repeating: "<a>", count: 100_000).utf8)) == nil)
        // Nesting deeper than any answer: refused.
        let nested = String(repeating: "<a>", count: 1000) + "x" + String(repeating: "</a>", count: 1000)
        #expect(S3XMLElement.parse(Array(nested.utf8)) == nil)
        // References outside Unicode, surrogates, overflowing numbers: kept as written.
        let error = try #require(S3XML.error(Array("<Error><Code>&#x110000;&#xD800;&#99999999999999999999;&amp;</Code></Error>".utf8)))
        #expect(error.code == "&#x110000;&#xD800;&#99999999999999999999;&")
        // Invalid UTF-8 in a key: replaced, never a crash.
        let listing = [UInt8]("<ListBucketResult><Contents><Key>a".utf8) + [0xFF, 0xC0, 0x80]
            + [UInt8]("</Key><LastModified>2026-11-22T07:43:08Z</LastModified><Size>1</Size></Contents></ListBucketResult>".utf8)
        let page = try #require(S3XML.listPage(listing))
        #expect(page.objects.map(\.key) == ["a\u{FFFD}\u{FFFD}\u{FFFD}"])
        // Unclosed constructs refuse the whole answer.
        for text in ["<Error><Code>x", "<Error><![CDATA[x</Error>", "<Error><!-- x</Error>", "<Error", "<Error></Code>"] {
            #expect(S3XML.error(Array(text.utf8)) == nil, "\(text)")
        }
    }

    /// A key of S3's alphabet and beyond: XML's five special characters, spaces, non-ASCII.
    static func key(using rng: inout SeededGenerator) -> String {
        let alphabet = Array("abcXYZ019/-_.~ &<>\"'é世😀%+=")
        let length = Int.random(in: 1...40, using: &rng)
        return String((0..<length).map { _ in alphabet[Int.random(in: 0..<alphabet.count, using: &rng)] })
    }

    @Test func generatedListingsReadBackAsGenerated() throws {
        for seed in UInt64(0)..<200 {
            var rng = SeededGenerator(seed: seed)
            let objects = (0..<Int.random(in: 0...20, using: &rng)).map { _ in
                (key: Self.key(using: &rng), size: Int64.random(in: 0...(1 << 40), using: &rng),
                 seconds: Int.random(in: 0...4_000_000_000, using: &rng))
            }
            let truncated = Bool.random(using: &rng)
            let token = Self.key(using: &rng)
            var xml = #"<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">"#
            for object in objects {
                // Either escaped text or, as some servers send, CDATA (where nothing is escaped).
                let key = Bool.random(using: &rng) || object.key.contains("]]>")
                    ? S3XMLElement.escape(object.key) : "<![CDATA[\(object.key)]]>"
                let date = Date(timeIntervalSince1970: Double(object.seconds))
                xml += "<Contents><Key>\(key)</Key><LastModified>\(Self.iso8601(date))</LastModified>"
                    + "<ETag>&quot;e&quot;</ETag><Size>\(object.size)</Size></Contents>"
            }
            xml += "<IsTruncated>\(truncated)</IsTruncated>"
            if truncated { xml += "<NextContinuationToken>\(S3XMLElement.escape(token))</NextContinuationToken>" }
            xml += "</ListBucketResult>"

            let page = try #require(S3XML.listPage(Array(xml.utf8)), "seed \(seed): \(xml)")
            #expect(page.objects.map(\.key) == objects.map(\.key), "seed \(seed)")
            #expect(page.objects.map(\.size) == objects.map(\.size), "seed \(seed)")
            #expect(page.objects.map(\.modified) == objects.map { Date(timeIntervalSince1970: Double($0.seconds)) }, "seed \(seed)")
            #expect(page.nextContinuationToken == (truncated ? token : nil), "seed \(seed)")
        }
    }

    @Test func generatedErrorsAndDeleteResultsReadBack() throws {
        for seed in UInt64(0)..<200 {
            var rng = SeededGenerator(seed: seed)
            let (code, message, requestID) = (Self.key(using: &rng), Self.key(using: &rng), Self.key(using: &rng))
            let xml = "<Error><Code>\(S3XMLElement.escape(code))</Code><Message>\(S3XMLElement.escape(message))</Message>"
                + "<RequestId>\(S3XMLElement.escape(requestID))</RequestId></Error>"
            let error = try #require(S3XML.error(Array(xml.utf8)), "seed \(seed)")
            #expect(error.code == code && error.message == message && error.requestID == requestID, "seed \(seed)")

            let keys = (0..<Int.random(in: 1...10, using: &rng)).map { _ in Self.key(using: &rng) }
            // The request the driver writes, answered as S3 answers a failed delete of each key.
            let request = String(decoding: S3XML.deleteRequest(keys), as: UTF8.self)
            let requested = try #require(S3XMLElement.parse(Array(request.utf8)), "seed \(seed)")
            #expect(requested.children("Object").compactMap { $0.value("Key") } == keys, "seed \(seed)")
            let answer = "<DeleteResult>" + keys.map { "<Error><Key>\(S3XMLElement.escape($0))</Key><Code>AccessDenied</Code></Error>" }.joined()
                + "</DeleteResult>"
            #expect(S3XML.deleteErrors(Array(answer.utf8))?.map(\.key) == keys, "seed \(seed)")
        }
    }

    static func iso8601(_ date: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02d.000Z", c.year!, c.month!, c.day!, c.hour!, c.minute!, c.second!)
    }
}
