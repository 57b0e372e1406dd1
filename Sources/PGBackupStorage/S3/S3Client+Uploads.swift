import Crypto
import Foundation
import PGBackupFoundations

/// The object requests: one-shot PUT, the four steps of a multipart upload, ranged GET. They throw
/// `S3Error`; the store maps it to a `StorageError` naming the key.
extension S3Client {
    /// PUT of a whole object. Its SHA-256 goes both in the signature (`x-amz-content-sha256`,
    /// hex) and in `x-amz-checksum-sha256` (base64), which S3 checks and keeps with the object.
    ///
    /// With `ifAbsent`, `If-None-Match: *` (signed like every header): S3 stores the object only
    /// if the key is free, and answers 412 PreconditionFailed otherwise, or 409
    /// ConditionalRequestConflict to the losers of simultaneous conditional writes; both are
    /// thrown as `S3Error.server`. A 412/409 to a *retry* may mean that an earlier attempt,
    /// whose answer was lost, stored the object: the object is then read back, and if it holds
    /// exactly `body` the put counts as done. (So two writers of identical bytes cannot tell
    /// each other apart in that case: callers that need exclusivity write unique content.)
    func putObject(objectKey: String, body: [UInt8], ifAbsent: Bool = false) async throws {
        let digest = SHA256Hasher.hash(body)
        var headers: [(name: String, value: String)] = [
            ("x-amz-content-sha256", digest.description),
            ("x-amz-checksum-sha256", Data(digest.bytes).base64EncodedString()),
            ("Content-Type", "application/octet-stream")]
        headers += configuration.serverSideEncryption?.requestHeaders ?? []
        if ifAbsent { headers.append(("If-None-Match", "*")) }
        let response = try await send(S3HTTPRequest(method: .put, url: urls.url(key: objectKey), headers: headers, body: body))
        if response.isSuccess { return }
        if ifAbsent, Self.isConditionalFailure(status: response.status, code: Self.errorDetails(response).code), response.attempts > 1,
           try await storedObject(objectKey, holds: body) {
            return
        }
        throw serverError(response)
    }

    /// The answers to a conditional write whose condition failed: 412 PreconditionFailed (the
    /// key is taken) and 409 ConditionalRequestConflict (a simultaneous conditional write won).
    /// (Other 409s, such as OperationAborted, are not.)
    static func isConditionalFailure(status: Int, code: String?) -> Bool {
        status == 412 || (status == 409 && code == "ConditionalRequestConflict")
    }

    /// Whether the object `objectKey` holds exactly `body` (one ranged GET, one byte longer
    /// than `body`, so a longer object is told apart without reading it all).
    private func storedObject(_ objectKey: String, holds body: [UInt8]) async throws -> Bool {
        if body.isEmpty {
            let head = try await send(S3HTTPRequest(method: .head, url: urls.url(key: objectKey), headers: S3ObjectStore.emptyPayload))
            return head.isSuccess && head.headers["content-length"] == "0"
        }
        let answer = try await getRange(objectKey: objectKey, offset: 0, length: body.count + 1, ifMatch: nil)
        return answer.isSuccess && answer.body == body
    }

    /// CreateMultipartUpload: the upload id. Not idempotent: a retried create whose first answer
    /// was lost leaves one empty upload behind (`S3ObjectStore.abortAbandonedUploads` clears it).
    func createUpload(objectKey: String) async throws -> String {
        let request = S3HTTPRequest(
            method: .post, url: urls.url(key: objectKey, query: [("uploads", "")]),
            headers: S3ObjectStore.emptyPayload + [("Content-Type", "application/octet-stream")]
                + (configuration.serverSideEncryption?.requestHeaders ?? []))
        let response = try await sendExpectingSuccess(request)
        guard let id = S3XML.uploadID(response.body) else {
            throw S3Error.malformedResponse(reason: "CreateMultipartUpload answer has no UploadId", endpoint: endpoint)
        }
        return id
    }

    /// UploadPart: the part's ETag, which CompleteMultipartUpload needs.
    func uploadPart(objectKey: String, uploadID: String, number: Int, body: [UInt8]) async throws -> String {
        let request = S3HTTPRequest(
            method: .put, url: urls.url(key: objectKey, query: [("partNumber", String(number)), ("uploadId", uploadID)]),
            headers: S3ObjectStore.payloadHeaders(body), body: body)
        let response = try await sendExpectingSuccess(request)
        guard let etag = response.headers["etag"], !etag.isEmpty else {
            throw S3Error.malformedResponse(reason: "UploadPart answer has no ETag", endpoint: endpoint)
        }
        return etag
    }

    /// CompleteMultipartUpload: the object appears, whole. S3 may answer 200 with an `<Error>`
    /// body (it sends the status before it has finished): that is a failure, retried like a 5xx.
    /// When a retry finds the upload gone (`NoSuchUpload`), an earlier attempt whose answer was
    /// lost completed it; the object's size confirms that.
    ///
    /// With `ifAbsent`, `If-None-Match: *`, as for `putObject`; a 412/409 to a retry cannot be
    /// told apart from a foreign object without reading it all, and is thrown as
    /// `S3Error.ambiguousConditionalWrite`.
    func completeUpload(objectKey: String, uploadID: String, etags: [String], expectedSize: Int64, ifAbsent: Bool = false) async throws {
        let body = S3XML.completeRequest(etags)
        var headers = S3ObjectStore.payloadHeaders(body) + [("Content-Type", "application/xml")]
        if ifAbsent { headers.append(("If-None-Match", "*")) }
        let request = S3HTTPRequest(
            method: .post, url: urls.url(key: objectKey, query: [("uploadId", uploadID)]), headers: headers, body: body)
        var generator = SystemRandomNumberGenerator()
        var attempt = 0
        while true {
            attempt += 1
            let response = try await send(request)
            if response.isSuccess {
                guard let failure = S3XML.error(response.body) else { return }
                let error = S3Error.server(status: 200, code: failure.code, message: failure.message, requestID: failure.requestID,
                                           endpoint: endpoint, attempts: attempt)
                guard S3RetryPolicy.isRetryable(status: 500, code: failure.code), attempt < configuration.retryPolicy.maxAttempts else {
                    throw error
                }
                try await Task.sleep(for: configuration.retryPolicy.delay(afterAttempt: attempt, using: &generator))
                continue
            }
            let error = serverError(response)
            if ifAbsent, Self.isConditionalFailure(status: response.status, code: error.code), attempt > 1 || response.attempts > 1 {
                throw S3Error.ambiguousConditionalWrite(endpoint: endpoint)
            }
            if error.code == "NoSuchUpload" && (attempt > 1 || response.attempts > 1) {
                let head = try await send(S3HTTPRequest(method: .head, url: urls.url(key: objectKey), headers: S3ObjectStore.emptyPayload))
                if head.isSuccess, head.headers["content-length"] == String(expectedSize) { return }
            }
            throw error
        }
    }

    /// AbortMultipartUpload: the parts are discarded. An upload already gone counts as aborted.
    func abortUpload(objectKey: String, uploadID: String) async throws {
        let request = S3HTTPRequest(method: .delete, url: urls.url(key: objectKey, query: [("uploadId", uploadID)]),
                                    headers: S3ObjectStore.emptyPayload)
        let response = try await send(request)
        guard response.isSuccess || serverError(response).code == "NoSuchUpload" else { throw serverError(response) }
    }

    /// GET of the bytes `[offset, offset + length)` of an object, only if its ETag is still
    /// `etag` (when given). The answer is returned whatever its status (`S3ObjectReader` reads it).
    func getRange(objectKey: String, offset: Int64, length: Int, ifMatch etag: String?) async throws -> S3HTTPResponse {
        var headers = S3ObjectStore.emptyPayload + [("Range", "bytes=\(offset)-\(offset + Int64(length) - 1)")]
        if let etag { headers.append(("If-Match", etag)) }
        return try await send(S3HTTPRequest(method: .get, url: urls.url(key: objectKey), headers: headers, responseLimit: length))
    }
}

/// MD5 in base64, for Content-MD5 (what DeleteObjects requires); not used for anything secret.
enum MD5 {
    static func base64Digest(_ bytes: [UInt8]) -> String {
        Data(Insecure.MD5.hash(data: bytes)).base64EncodedString()
    }
}
