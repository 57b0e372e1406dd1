/// Why one S3 request failed, after any retries. The driver turns it into a `StorageError` that
/// names the operation, the key and the store; descriptions name the endpoint and the bucket,
/// never a secret (requests carry credentials only in curl's signing options, never in a URL).
enum S3Error: Error, Sendable, CustomStringConvertible {
    /// The server answered with an HTTP error; `code` is S3's error code when the body had one.
    case server(status: Int, code: String?, message: String?, requestID: String?, endpoint: String, attempts: Int)
    /// No usable answer: connection refused or reset, DNS, TLS, timeout, stall, truncated body.
    case transport(reason: String, endpoint: String, attempts: Int, timedOut: Bool)
    /// An answer that is not what S3 sends (unparsable XML, a missing header).
    case malformedResponse(reason: String, endpoint: String)
    /// A retried create-if-absent multipart upload found the key taken: an earlier attempt,
    /// whose answer was lost, may have stored it, or another writer did.
    case ambiguousConditionalWrite(endpoint: String)

    var description: String {
        switch self {
        case let .server(status, code, message, requestID, endpoint, attempts):
            var text = "\(endpoint) answered HTTP \(status)"
            if let code { text += " \(code)" }
            if let message, !message.isEmpty { text += ": \(message)" }
            if let requestID { text += " (request id \(requestID))" }
            if attempts > 1 { text += ", after \(attempts) attempts" }
            return text
        case let .transport(reason, endpoint, attempts, _):
            return "unable to reach \(endpoint): \(reason)" + (attempts > 1 ? " (after \(attempts) attempts)" : "")
        case let .malformedResponse(reason, endpoint):
            return "unexpected answer from \(endpoint): \(reason)"
        case let .ambiguousConditionalWrite(endpoint):
            return "\(endpoint) refused a retried create-if-absent upload: the object exists, and it may be this upload's "
                + "(an earlier attempt's answer was lost) or another writer's (HINT: read the object to tell)"
        }
    }

    var status: Int? {
        if case let .server(status, _, _, _, _, _) = self { return status }
        return nil
    }

    var code: String? {
        if case let .server(_, code, _, _, _, _) = self { return code }
        return nil
    }

    /// S3's codes for temporary credentials that have expired: refreshed, and the request retried.
    static let expiredCredentialCodes: Set<String> = ["ExpiredToken", "TokenRefreshRequired"]

    /// S3's codes for credentials the server does not accept.
    static let credentialCodes: Set<String> = [
        "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken", "TokenRefreshRequired",
        "InvalidClientTokenId", "AuthorizationHeaderMalformed",
    ]
}
