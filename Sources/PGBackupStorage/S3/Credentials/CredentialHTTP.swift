import Foundation
import PGBackupFoundations

/// The HTTP requests of credential sources (STS, the container endpoint, IMDS): few and small,
/// each on a fresh curl handle, retried a few times on a transport failure or a 5xx or 429.
struct CredentialHTTP: Sendable {
    var source: S3CredentialSource
    var caFile: String?
    var connectTimeout: Duration = .seconds(2)
    var stallTimeout: Duration = .seconds(10)
    var attempts = 3

    /// The final answer to `request` (any status), or `.unreachable` when none came back.
    func send(_ request: S3HTTPRequest, signing: CurlEasyHandle.Signing? = nil, endpoint: String) async throws(S3CredentialError) -> S3HTTPResponse {
        let settings = CurlEasyHandle.Settings(caFile: caFile, connectTimeout: connectTimeout, stallTimeout: stallTimeout)
        var attempt = 0
        while true {
            attempt += 1
            let outcome: Result<S3HTTPResponse, CurlFailure>
            do {
                outcome = .success(try await BlockingIO.runLong { () throws -> S3HTTPResponse in
                    guard let handle = CurlEasyHandle() else {
                        throw CurlFailure(code: -1, message: "curl_easy_init failed (out of memory?)", isRetryable: false, timedOut: false)
                    }
                    return try handle.perform(request, signing: signing, settings: settings)
                })
            } catch let failure as CurlFailure {
                outcome = .failure(failure)
            } catch {
                outcome = .failure(CurlFailure(code: -1, message: "\(error)", isRetryable: false, timedOut: false))
            }
            switch outcome {
            case let .success(response):
                if !([429, 500, 502, 503, 504].contains(response.status)) || attempt >= attempts { return response }
            case let .failure(failure):
                if !failure.isRetryable || attempt >= attempts {
                    throw .unreachable(source: source, endpoint: endpoint, reason: failure.message + (attempt > 1 ? " (after \(attempt) attempts)" : ""))
                }
            }
            try? await Task.sleep(for: .milliseconds(100 << attempt))
        }
    }

    /// The first `Error` element, however deep (STS nests it in `ErrorResponse`, some servers in
    /// `ErrorResponse/Errors`).
    static func firstError(_ element: S3XMLElement) -> S3XMLElement? {
        if element.name == "Error" { return element }
        for child in element.children { if let found = firstError(child) { return found } }
        return nil
    }

    /// A short, secret-free account of an error answer: status and the body's first line(s),
    /// for messages (credential endpoints answer errors in JSON, XML or text).
    static func summary(_ response: S3HTTPResponse) -> String {
        var text = "HTTP \(response.status)"
        if let error = S3XML.error(response.body), error.code != nil || error.message != nil {
            text += [error.code, error.message].compactMap { $0 }.map { " " + $0 }.joined(separator: ":")
        } else if let stsError = S3XMLElement.parse(response.body).flatMap(Self.firstError) {
            text += [stsError.value("Code"), stsError.value("Message")].compactMap { $0 }.map { " " + $0 }.joined(separator: ":")
        } else {
            let body = String(decoding: response.body.prefix(300), as: UTF8.self)
                .split(whereSeparator: \.isNewline).prefix(3).joined(separator: " ")
                .trimmingCharacters(in: .whitespaces)
            if !body.isEmpty { text += ": " + body }
        }
        return text
    }
}

/// The JSON shape of credentials from the container endpoint, IMDS and `credential_process`.
struct CredentialJSON: Decodable {
    var AccessKeyId: String?
    var SecretAccessKey: String?
    var Token: String?
    var SessionToken: String?
    var Expiration: String?
    var Code: String?
    var Message: String?
    var Version: Int?

    /// The credentials, or why the document holds none.
    static func credentials(_ bytes: [UInt8], source: S3CredentialSource, from: String) throws(S3CredentialError) -> S3Credentials {
        let document: CredentialJSON
        do {
            document = try JSONDecoder().decode(CredentialJSON.self, from: Data(bytes))
        } catch {
            throw .invalidAnswer(source: source, from: from, reason: "not a JSON credentials document")
        }
        if let code = document.Code, code != "Success" {
            throw .refused(source: source, by: from, answer: code + (document.Message.map { ": \($0)" } ?? ""))
        }
        guard let keyID = document.AccessKeyId, !keyID.isEmpty, let secret = document.SecretAccessKey, !secret.isEmpty else {
            throw .invalidAnswer(source: source, from: from, reason: "no AccessKeyId and SecretAccessKey")
        }
        var expiration: Date?
        if let text = document.Expiration {
            guard let date = CredentialDates.parse(text) else {
                throw .invalidAnswer(source: source, from: from, reason: "Expiration '\(text)' is not an ISO 8601 time")
            }
            expiration = date
        }
        return S3Credentials(accessKeyID: keyID, secretAccessKey: secret, sessionToken: document.Token ?? document.SessionToken, expiration: expiration)
    }
}
