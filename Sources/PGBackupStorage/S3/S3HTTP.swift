/// One HTTP request to S3, ready to send: the signing is left to libcurl.
struct S3HTTPRequest: Sendable {
    enum Method: String, Sendable {
        case get = "GET", put = "PUT", post = "POST", delete = "DELETE", head = "HEAD"
    }

    var method: Method
    /// The whole URL, path and query already encoded the way SigV4 signs them (`S3URL`).
    var url: String
    /// Extra headers, signed with the request (curl signs every header it is given).
    var headers: [(name: String, value: String)] = []
    var body: [UInt8] = []
    /// The most response-body bytes to accept; a longer answer is a malformed response.
    var responseLimit: Int = 16 << 20

    init(method: Method, url: String, headers: [(name: String, value: String)] = [], body: [UInt8] = [], responseLimit: Int = 16 << 20) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.responseLimit = responseLimit
    }
}

/// What came back: the final status, its headers (names lower-cased) and body.
struct S3HTTPResponse: Sendable {
    var status: Int
    var headers: [String: String]
    var body: [UInt8]
    /// Attempts it took, this one included.
    var attempts = 1

    var isSuccess: Bool { (200..<300).contains(status) }
    var requestID: String? { headers["x-amz-request-id"] }
}

/// A transport failure of one attempt: curl's error code and its explanation.
struct CurlFailure: Error, Sendable {
    var code: Int32
    var message: String
    /// Whether another attempt may succeed (reset, refused, timeout, stall, truncation).
    var isRetryable: Bool
    var timedOut: Bool
}
