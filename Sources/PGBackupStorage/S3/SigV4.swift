import Crypto
import Foundation

/// AWS Signature Version 4 of one request, computed here rather than by libcurl: libcurl before
/// 8.10 (Debian 12 ships 7.88) sorts the signed headers by whole `name:value` lines, so a header
/// whose name extends another's (`x-amz-server-side-encryption-aws-kms-key-id` after
/// `x-amz-server-side-encryption`, SSE-KMS with a key) comes first and S3 refuses the signature
/// (curl/curl#14370). The canonical request follows the SigV4 reference exactly, and the tests
/// check it against AWS's published examples.
struct SigV4 {
    var credentials: S3Credentials
    var region: String
    var service: String

    /// The headers to add to `headers` for `method` on `url`: `host`, `x-amz-date`,
    /// `x-amz-security-token` for temporary credentials, and `Authorization`. Every header given
    /// is signed. The payload's hash is `x-amz-content-sha256` when given, else the body's.
    func headers(method: String, url: String, headers: [(name: String, value: String)], body: [UInt8], date: Date) -> [(name: String, value: String)] {
        let (host, path, query) = Self.split(url)
        let timestamp = Self.timestamp(date)
        let day = String(timestamp.prefix(8))
        var added: [(name: String, value: String)] = [("host", host), ("x-amz-date", timestamp)]
        if let token = credentials.sessionToken { added.append(("x-amz-security-token", token)) }

        var canonical: [String: String] = [:]
        for header in headers + added {
            let name = header.name.lowercased()
            let value = header.value.split(whereSeparator: { $0 == " " || $0 == "\t" }).joined(separator: " ")
            canonical[name] = canonical[name].map { $0 + "," + value } ?? value
        }
        let names = canonical.keys.sorted()
        let signedHeaders = names.joined(separator: ";")
        let payloadHash = canonical["x-amz-content-sha256"] ?? Self.hex(SHA256.hash(data: body))
        let canonicalRequest = [
            method, path, Self.canonicalQuery(query),
            names.map { "\($0):\(canonical[$0]!)\n" }.joined(), signedHeaders, payloadHash,
        ].joined(separator: "\n")

        let scope = "\(day)/\(region)/\(service)/aws4_request"
        let stringToSign = ["AWS4-HMAC-SHA256", timestamp, scope, Self.hex(SHA256.hash(data: Array(canonicalRequest.utf8)))].joined(separator: "\n")
        var key = SymmetricKey(data: Array(("AWS4" + credentials.secretAccessKey).utf8))
        for part in [day, region, service, "aws4_request"] { key = SymmetricKey(data: Self.hmac(key, part)) }
        let signature = Self.hex(Self.hmac(key, stringToSign))
        added.append(("Authorization", "AWS4-HMAC-SHA256 Credential=\(credentials.accessKeyID)/\(scope), SignedHeaders=\(signedHeaders), Signature=\(signature)"))
        return added
    }

    /// The URL's authority (as the Host header carries it), its path (already encoded, `/` when
    /// empty) and its query.
    static func split(_ url: String) -> (host: String, path: String, query: String) {
        var rest = Substring(url)
        if let scheme = rest.range(of: "://") { rest = rest[scheme.upperBound...] }
        let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" } ?? rest.endIndex
        let host = String(rest[..<authorityEnd])
        rest = rest[authorityEnd...]
        let queryStart = rest.firstIndex(of: "?")
        let path = String(rest[..<(queryStart ?? rest.endIndex)])
        let query = queryStart.map { String(rest[rest.index(after: $0)...]) } ?? ""
        return (host, path.isEmpty ? "/" : path, query)
    }

    /// Parameters (already encoded as SigV4 encodes them) sorted by name, then value; a
    /// parameter without `=` gets one.
    static func canonicalQuery(_ query: String) -> String {
        guard !query.isEmpty else { return "" }
        var pairs: [(name: String, value: String)] = []
        for pair in query.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            pairs.append((String(parts[0]), parts.count > 1 ? String(parts[1]) : ""))
        }
        pairs.sort { first, second in first.name == second.name ? first.value < second.value : first.name < second.name }
        return pairs.map { $0.name + "=" + $0.value }.joined(separator: "&")
    }

    /// `20261207T215654Z`.
    static func timestamp(_ date: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let parts = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        func two(_ value: Int?) -> String {
            let value = value ?? 0
            return value < 10 ? "0" + String(value) : String(value)
        }
        let day = String(parts.year ?? 1970) + two(parts.month) + two(parts.day)
        return day + "T" + two(parts.hour) + two(parts.minute) + two(parts.second) + "Z"
    }

    private static func hmac(_ key: SymmetricKey, _ text: String) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: Array(text.utf8), using: key))
    }

    private static func hex<D: Sequence>(_ bytes: D) -> String where D.Element == UInt8 {
        bytes.map { String(format: "%02x", $0) }.joined()
    }
}
