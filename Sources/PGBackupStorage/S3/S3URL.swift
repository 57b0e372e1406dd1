/// Builds request URLs exactly as SigV4 signs them.
///
/// libcurl signs the path and the query as they appear in the URL, so they must already be in
/// SigV4's canonical form: every byte except the unreserved `A–Z a–z 0–9 - _ . ~` percent-encoded
/// (upper-case hex), `/` kept in paths, query parameters sorted by name, and a parameter without
/// a value written `name=` (`?uploads=`).
struct S3URL: Sendable {
    /// `scheme://host[:port]`, no trailing `/`.
    let endpoint: String
    let bucket: String
    let pathStyle: Bool

    /// The URL of an object (`key` is the whole key inside the bucket), or of the bucket itself
    /// when `key` is nil, with `query` in canonical order.
    func url(key: String?, query: [(String, String)] = []) -> String {
        var url: String
        if pathStyle {
            url = endpoint + "/" + bucket
            if let key { url += "/" + Self.encode(key, keepSlash: true) }
        } else {
            let scheme = endpoint.hasPrefix("https://") ? "https://" : "http://"
            url = scheme + bucket + "." + endpoint.dropFirst(scheme.count) + "/"
            if let key { url += Self.encode(key, keepSlash: true) }
        }
        if !query.isEmpty { url += "?" + Self.canonicalQuery(query) }
        return url
    }

    /// `a=1&b=2`, parameters sorted by encoded name (then value), each part encoded.
    static func canonicalQuery(_ parameters: [(String, String)]) -> String {
        parameters
            .map { (encode($0.0, keepSlash: false), encode($0.1, keepSlash: false)) }
            .sorted { $0.0 == $1.0 ? $0.1 < $1.1 : $0.0 < $1.0 }
            .map { "\($0.0)=\($0.1)" }
            .joined(separator: "&")
    }

    /// SigV4's URI encoding of UTF-8 bytes.
    static func encode(_ text: String, keepSlash: Bool) -> String {
        let hex: [UInt8] = Array("0123456789ABCDEF".utf8)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"):
                bytes.append(byte)
            case UInt8(ascii: "/") where keepSlash:
                bytes.append(byte)
            default:
                bytes += [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 0xF)]]
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
