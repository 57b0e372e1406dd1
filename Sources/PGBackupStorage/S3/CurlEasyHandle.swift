import CCurlShim
import Foundation

/// One libcurl easy handle, reused request after request so that its connection (and TLS
/// session) stays open: that is libcurl's connection reuse.
///
/// `@unchecked Sendable`: a handle moves between threads but is only ever used by one at a time.
/// `S3Client` checks it out of its pool for exactly one blocking `perform` and puts it back
/// afterwards, so no two threads touch the same `CURL *` concurrently, which is all libcurl asks.
final class CurlEasyHandle: @unchecked Sendable {
    private let handle: UnsafeMutableRawPointer

    /// `curl_global_init` once per process, before the first handle (it is not thread-safe itself;
    /// a lazy static is initialized exactly once, under a lock).
    private static let globalInit: Void = { _ = curl_global_init(Int(CURL_GLOBAL_DEFAULT)) }()

    init?() {
        _ = Self.globalInit
        guard let handle = curl_easy_init() else { return nil }
        self.handle = handle
    }

    deinit { curl_easy_cleanup(handle) }

    /// The settings every request shares: TLS and timeouts.
    struct Settings: Sendable {
        var caFile: String?
        var connectTimeout: Duration
        var stallTimeout: Duration
    }

    /// How a request is signed (`SigV4`): the credentials, the region and the service (`s3`,
    /// `sts`) of the signature's scope.
    struct Signing: Sendable {
        var credentials: S3Credentials
        var region: String
        var service: String
    }

    /// Sends `request`, signed by `signing` (nil: unsigned), and waits for the whole answer.
    /// Blocks the calling thread: call it through `BlockingIO.runLong`. Throws `CurlFailure` when
    /// no HTTP answer came back.
    func perform(_ request: S3HTTPRequest, signing: Signing?, settings: Settings) throws(CurlFailure) -> S3HTTPResponse {
        // Keeps the connection cache and session IDs; forgets every option of the last request.
        curl_easy_reset(handle)
        let transfer = Transfer(body: request.body, limit: request.responseLimit)
        var headerList: UnsafeMutablePointer<curl_slist>?
        var headers = request.headers
        if let signing {
            headers += SigV4(credentials: signing.credentials, region: signing.region, service: signing.service)
                .headers(method: request.method.rawValue, url: request.url, headers: request.headers, body: request.body, date: Date())
        }
        for header in headers {
            headerList = curl_slist_append(headerList, "\(header.name): \(header.value)")
        }
        defer { curl_slist_free_all(headerList) }
        var errorBuffer = [CChar](repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)

        let code: CURLcode = errorBuffer.withUnsafeMutableBufferPointer { errorPointer in
            withExtendedLifetime(transfer) {
                let context = Unmanaged.passUnretained(transfer).toOpaque()
                var status = CURLE_OK
                func set(_ result: CURLcode) { if status == CURLE_OK { status = result } }
                set(pgb_curl_setopt_string(handle, CURLOPT_URL, request.url))
                set(pgb_curl_setopt_long(handle, CURLOPT_NOSIGNAL, 1))
                set(pgb_curl_setopt_pointer(handle, CURLOPT_ERRORBUFFER, errorPointer.baseAddress))
                set(pgb_curl_setopt_slist(handle, CURLOPT_HTTPHEADER, headerList))
                set(pgb_curl_setopt_long(handle, CURLOPT_HTTP_VERSION, Int(CURL_HTTP_VERSION_1_1)))
                set(pgb_curl_setopt_long(handle, CURLOPT_SSL_VERIFYPEER, 1))
                set(pgb_curl_setopt_long(handle, CURLOPT_SSL_VERIFYHOST, 2))
                if let caFile = settings.caFile { set(pgb_curl_setopt_string(handle, CURLOPT_CAINFO, caFile)) }
                set(pgb_curl_setopt_long(handle, CURLOPT_CONNECTTIMEOUT_MS, Self.milliseconds(settings.connectTimeout)))
                // A stall: fewer than 1 byte/s, either way, for stallTimeout.
                set(pgb_curl_setopt_long(handle, CURLOPT_LOW_SPEED_LIMIT, 1))
                set(pgb_curl_setopt_long(handle, CURLOPT_LOW_SPEED_TIME, max(1, Self.milliseconds(settings.stallTimeout) / 1000)))
                set(pgb_curl_setopt_write_callback(handle, curlWriteBody))
                set(pgb_curl_setopt_pointer(handle, CURLOPT_WRITEDATA, context))
                set(pgb_curl_setopt_header_callback(handle, curlCollectHeader))
                set(pgb_curl_setopt_pointer(handle, CURLOPT_HEADERDATA, context))
                switch request.method {
                case .get:
                    break
                case .head:
                    set(pgb_curl_setopt_long(handle, CURLOPT_NOBODY, 1))
                case .delete:
                    set(pgb_curl_setopt_string(handle, CURLOPT_CUSTOMREQUEST, "DELETE"))
                case .put, .post:
                    // Every body goes through the read callback with its length known up front
                    // (no chunked encoding, which S3 refuses without aws-chunked signing).
                    set(pgb_curl_setopt_long(handle, CURLOPT_UPLOAD, 1))
                    set(pgb_curl_setopt_off(handle, CURLOPT_INFILESIZE_LARGE, curl_off_t(request.body.count)))
                    set(pgb_curl_setopt_read_callback(handle, curlReadBody))
                    set(pgb_curl_setopt_pointer(handle, CURLOPT_READDATA, context))
                    if request.method == .post { set(pgb_curl_setopt_string(handle, CURLOPT_CUSTOMREQUEST, "POST")) }
                }
                guard status == CURLE_OK else { return status }
                return curl_easy_perform(handle)
            }
        }
        if transfer.exceededLimit {
            throw CurlFailure(code: Int32(CURLE_WRITE_ERROR.rawValue),
                              message: "the answer was longer than the expected \(request.responseLimit) bytes",
                              isRetryable: false, timedOut: false)
        }
        guard code == CURLE_OK else {
            let detail = String(decoding: errorBuffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            let summary = String(cString: curl_easy_strerror(code))
            throw CurlFailure(code: Int32(code.rawValue), message: detail.isEmpty ? summary : "\(summary): \(detail)",
                              isRetryable: Self.retryableCodes.contains(code), timedOut: code == CURLE_OPERATION_TIMEDOUT)
        }
        guard transfer.headersComplete else {
            throw CurlFailure(code: Int32(CURLE_PARTIAL_FILE.rawValue), message: "the connection closed in the middle of the answer's headers",
                              isRetryable: true, timedOut: false)
        }
        var status = 0
        _ = pgb_curl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
        return S3HTTPResponse(status: status, headers: transfer.headers, body: transfer.received)
    }

    /// Failures that a fresh attempt may not meet: the network, the server going away, timeouts.
    /// Not retried: bad URLs, TLS verification failures, our own callbacks refusing data.
    private static let retryableCodes: Set<CURLcode> = [
        CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_CONNECT, CURLE_OPERATION_TIMEDOUT, CURLE_SEND_ERROR,
        CURLE_RECV_ERROR, CURLE_GOT_NOTHING, CURLE_PARTIAL_FILE, CURLE_SSL_CONNECT_ERROR, CURLE_HTTP2,
        CURLE_HTTP2_STREAM, CURLE_WEIRD_SERVER_REPLY,
    ]

    private static func milliseconds(_ duration: Duration) -> Int {
        Int(duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000)
    }
}

/// The state one transfer's callbacks share: the body to send and what has come back.
private final class Transfer {
    let body: [UInt8]
    var sent = 0
    let limit: Int
    var received: [UInt8] = []
    var headers: [String: String] = [:]
    /// Whether the last response's header block ended with its blank line: a connection cut
    /// inside the headers can still look like a success to curl (a HEAD has no body to miss).
    var headersComplete = false
    var exceededLimit = false

    init(body: [UInt8], limit: Int) {
        self.body = body
        self.limit = limit
    }
}

private func curlReadBody(_ buffer: UnsafeMutablePointer<CChar>?, _ size: Int, _ count: Int, _ context: UnsafeMutableRawPointer?) -> Int {
    guard let buffer, let context else { return 0 }
    let transfer = Unmanaged<Transfer>.fromOpaque(context).takeUnretainedValue()
    let length = min(size * count, transfer.body.count - transfer.sent)
    guard length > 0 else { return 0 }
    transfer.body.withUnsafeBytes { raw in
        UnsafeMutableRawPointer(buffer).copyMemory(from: raw.baseAddress! + transfer.sent, byteCount: length)
    }
    transfer.sent += length
    return length
}

private func curlWriteBody(_ buffer: UnsafeMutablePointer<CChar>?, _ size: Int, _ count: Int, _ context: UnsafeMutableRawPointer?) -> Int {
    guard let context else { return 0 }
    let transfer = Unmanaged<Transfer>.fromOpaque(context).takeUnretainedValue()
    let length = size * count
    guard transfer.received.count + length <= transfer.limit else {
        transfer.exceededLimit = true
        return 0  // makes curl stop with CURLE_WRITE_ERROR
    }
    if let buffer, length > 0 {
        transfer.received.append(contentsOf: UnsafeRawBufferPointer(start: buffer, count: length))
    }
    return length
}

private func curlCollectHeader(_ buffer: UnsafeMutablePointer<CChar>?, _ size: Int, _ count: Int, _ context: UnsafeMutableRawPointer?) -> Int {
    guard let buffer, let context else { return 0 }
    let transfer = Unmanaged<Transfer>.fromOpaque(context).takeUnretainedValue()
    let length = size * count
    let line = String(decoding: UnsafeRawBufferPointer(start: buffer, count: length), as: UTF8.self)
    if line.hasPrefix("HTTP/") {
        // A new response (after `100 Continue`, or a redirect): only the last one's headers count.
        transfer.headers = [:]
        transfer.headersComplete = false
    } else if line == "\r\n" || line == "\n" {
        transfer.headersComplete = true
    } else if let colon = line.firstIndex(of: ":") {
        let name = line[..<colon].lowercased()
        let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespacesAndNewlines)
        transfer.headers[name] = value
    }
    return length
}
