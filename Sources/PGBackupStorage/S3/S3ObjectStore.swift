import Foundation
import PGBackupFoundations
import Synchronization

/// The `s3://bucket/prefix` driver: objects are S3 objects under `prefix/`, requests are sent by
/// libcurl and signed by `SigV4`.
///
/// The protocol's contract holds as S3 gives it: an object appears only when its PUT or its
/// CompleteMultipartUpload succeeds, so readers never see a prefix; an aborted writer aborts its
/// multipart upload. Small objects (up to `partSize`) go up in one PUT with their SHA-256 in
/// `x-amz-checksum-sha256`; larger ones in parts uploaded in parallel. Every request body's
/// SHA-256 is signed (`x-amz-content-sha256`), so S3 refuses a body damaged on the way.
/// Reads stream in ranged GETs of `readChunkSize`, pinned to the first answer's ETag, so an
/// object replaced mid-read is an error rather than a mix of two versions.
///
/// Errors are `StorageError`s: `.notFound` for a missing key, `.unusableStore` for a missing bucket
/// or refused credentials (naming the bucket and the endpoint, never the secret), `.failed` for
/// the rest, with S3's code, message and request id.
public struct S3ObjectStore: ObjectStore {
    let client: S3Client
    /// Set once a bucket-level request has succeeded: from then on an answer without a body
    /// (HEAD's 404) means the key is missing, not the bucket.
    private let bucketSeen: BucketSeen

    public var configuration: S3Configuration { client.configuration }
    public var location: String { client.configuration.location }
    public var endpoint: String { client.endpoint }

    /// A store for `configuration`; sends no request. Throws `StorageError.unusableStore` for an
    /// endpoint, region or credentials that cannot work.
    public init(configuration: S3Configuration) throws {
        try configuration.validate()
        client = S3Client(configuration: configuration)
        bucketSeen = BucketSeen()
    }

    // MARK: keys

    /// The key inside the bucket: the store's prefix, `/`, the key.
    func objectKey(_ key: String) throws -> String {
        try validateObjectKey(key)
        return configuration.prefix.isEmpty ? key : configuration.prefix + "/" + key
    }

    /// The store's key for a key inside the bucket; nil when outside the store's prefix.
    func storeKey(_ objectKey: String) -> String? {
        let prefix = configuration.prefix
        if prefix.isEmpty { return objectKey }
        guard objectKey.hasPrefix(prefix + "/") else { return nil }
        return String(objectKey.dropFirst(prefix.count + 1))
    }

    // MARK: ObjectStore

    public func writer(for key: String) async throws -> any ObjectWriter {
        S3ObjectWriter(store: self, key: key, objectKey: try objectKey(key))
    }

    public func reader(for key: String) async throws -> any ObjectReader {
        try await S3ObjectReader.open(store: self, key: key, objectKey: try objectKey(key))
    }

    public func head(_ key: String) async throws -> ObjectInfo {
        let request = S3HTTPRequest(method: .head, url: client.urls.url(key: try objectKey(key)), headers: Self.emptyPayload)
        do {
            let response = try await client.send(request)
            guard response.isSuccess else { throw try await explain(response) }
            guard let size = response.headers["content-length"].flatMap({ Int64($0) }) else {
                throw S3Error.malformedResponse(reason: "HEAD without Content-Length", endpoint: endpoint)
            }
            guard let modified = response.headers["last-modified"].flatMap(S3Dates.parseHTTP) else {
                throw S3Error.malformedResponse(reason: "HEAD without a valid Last-Modified", endpoint: endpoint)
            }
            return ObjectInfo(key: key, size: size, modified: modified)
        } catch {
            throw storageError(error, operation: "read the size of", key: key)
        }
    }

    public func list(prefix: String) async throws -> [ObjectInfo] {
        let fullPrefix = configuration.prefix.isEmpty ? prefix : configuration.prefix + "/" + prefix
        var result: [ObjectInfo] = []
        var token: String?
        do {
            repeat {
                var query = [("list-type", "2"), ("max-keys", String(configuration.listPageSize)), ("prefix", fullPrefix)]
                if let token { query.append(("continuation-token", token)) }
                let response = try await client.sendExpectingSuccess(
                    S3HTTPRequest(method: .get, url: client.urls.url(key: nil, query: query), headers: Self.emptyPayload))
                guard let page = S3XML.listPage(response.body) else {
                    throw S3Error.malformedResponse(reason: "ListObjectsV2 answer is not a ListBucketResult", endpoint: endpoint)
                }
                bucketSeen.set()
                for object in page.objects {
                    guard let key = storeKey(object.key) else { continue }
                    result.append(ObjectInfo(key: key, size: object.size, modified: object.modified))
                }
                token = page.nextContinuationToken
            } while token != nil
        } catch {
            throw storageError(error, operation: "list", key: prefix)
        }
        return result.sorted { $0.key < $1.key }
    }

    public func delete(_ keys: [String]) async throws {
        let objectKeys = try keys.map { try objectKey($0) }
        for start in stride(from: 0, to: objectKeys.count, by: configuration.deleteBatchSize) {
            let batch = Array(objectKeys[start..<min(start + configuration.deleteBatchSize, objectKeys.count)])
            let body = S3XML.deleteRequest(batch)
            // DeleteObjects is the one request S3 refuses without a body checksum: Content-MD5,
            // which every S3-compatible server understands.
            let request = S3HTTPRequest(
                method: .post, url: client.urls.url(key: nil, query: [("delete", "")]),
                headers: Self.payloadHeaders(body) + [("Content-Type", "application/xml"), ("Content-MD5", MD5.base64Digest(body))],
                body: body)
            do {
                let response = try await client.sendExpectingSuccess(request)
                guard let errors = S3XML.deleteErrors(response.body) else {
                    throw S3Error.malformedResponse(reason: "DeleteObjects answer is not a DeleteResult", endpoint: endpoint)
                }
                let failures = errors.filter { $0.code != "NoSuchKey" }
                if let first = failures.first {
                    let listed = failures.prefix(5).map { "\(storeKey($0.key) ?? $0.key): \($0.code) \($0.message)" }.joined(separator: "; ")
                    throw StorageError.failed(
                        operation: "delete", key: storeKey(first.key) ?? first.key, store: location,
                        reason: "\(failures.count) of \(batch.count) keys were not deleted by \(endpoint): \(listed)")
                }
            } catch {
                throw storageError(error, operation: "delete", key: storeKey(batch[0]) ?? batch[0])
            }
        }
    }

    // MARK: multipart housekeeping

    /// Multipart uploads under the store's prefix (`keyPrefix` inside it) that were neither
    /// completed nor aborted: what a crashed writer leaves behind. They are invisible, but S3
    /// keeps (and bills) their parts until they are aborted.
    public func pendingUploads(keyPrefix: String = "") async throws -> [S3PendingUpload] {
        let fullPrefix = configuration.prefix.isEmpty ? keyPrefix : configuration.prefix + "/" + keyPrefix
        var result: [S3PendingUpload] = []
        var markers: (key: String, uploadID: String)?
        do {
            repeat {
                var query = [("uploads", ""), ("prefix", fullPrefix)]
                if let markers { query += [("key-marker", markers.key), ("upload-id-marker", markers.uploadID)] }
                let response = try await client.sendExpectingSuccess(
                    S3HTTPRequest(method: .get, url: client.urls.url(key: nil, query: query), headers: Self.emptyPayload))
                guard let page = S3XML.uploadsPage(response.body) else {
                    throw S3Error.malformedResponse(reason: "ListMultipartUploads answer is not a ListMultipartUploadsResult", endpoint: endpoint)
                }
                result += page.uploads
                markers = page.nextKeyMarker.map { ($0, page.nextUploadIDMarker ?? "") }
            } while markers != nil
        } catch {
            throw storageError(error, operation: "list the pending uploads of", key: keyPrefix)
        }
        return result
    }

    /// Aborts pending multipart uploads older than `age` (younger ones may belong to a writer
    /// still at work); returns how many.
    @discardableResult
    public func abortAbandonedUploads(olderThan age: TimeInterval = 86_400) async throws -> Int {
        let deadline = Date().addingTimeInterval(-age)
        var aborted = 0
        for upload in try await pendingUploads() where upload.initiated < deadline {
            try await client.abortUpload(objectKey: upload.key, uploadID: upload.uploadID)
            aborted += 1
        }
        return aborted
    }

    // MARK: errors

    /// The error behind an error answer: HEAD answers carry no body, so a 403 or 404 there is
    /// explained by a bucket-level listing, which does (NoSuchBucket, SignatureDoesNotMatch, …).
    func explain(_ response: S3HTTPResponse) async throws -> S3Error {
        let error = client.serverError(response)
        guard error.code == nil, response.status == 403 || response.status == 404 else { return error }
        if response.status == 404 && bucketSeen.value {
            return .server(status: 404, code: "NoSuchKey", message: nil, requestID: response.requestID, endpoint: endpoint, attempts: response.attempts)
        }
        let probe = S3HTTPRequest(method: .get, url: client.urls.url(key: nil, query: [("list-type", "2"), ("max-keys", "1")]),
                                  headers: Self.emptyPayload)
        let answer = try await client.send(probe)
        guard answer.isSuccess else { return client.serverError(answer) }
        bucketSeen.set()
        return .server(status: response.status, code: response.status == 404 ? "NoSuchKey" : "AccessDenied", message: nil,
                       requestID: response.requestID, endpoint: endpoint, attempts: response.attempts)
    }

    /// `error` as the `StorageError` an operator can act on. Names the store (bucket and prefix),
    /// the endpoint and the key; never a secret.
    func storageError(_ error: any Error, operation: String, key: String) -> any Error {
        if let credentialError = error as? S3CredentialError {
            return StorageError.unusableStore(store: location, reason: credentialError.description)
        }
        guard let s3Error = error as? S3Error else { return error }
        let bucket = configuration.bucket
        let signer = credentialsInUse
        switch s3Error {
        case let .server(status, code, _, _, endpoint, _):
            if code == "NoSuchKey" { return StorageError.notFound(key: key, store: location) }
            if code == "NoSuchBucket" {
                return StorageError.unusableStore(
                    store: location,
                    reason: "bucket '\(bucket)' does not exist at \(endpoint) (HINT: create it, or check the repository URL and PGBACKUP_S3_ENDPOINT)")
            }
            if let code, S3Error.credentialCodes.contains(code) {
                return StorageError.unusableStore(
                    store: location,
                    reason: "\(endpoint) refused the credentials of \(signer) for bucket '\(bucket)': \(s3Error) (HINT: \(credentialHint))")
            }
            if status == 403 || code == "AccessDenied" {
                return StorageError.failed(
                    operation: operation, key: key, store: location,
                    reason: "\(s3Error) (HINT: the policy of \(signer) must allow this action on bucket '\(bucket)')")
            }
            return StorageError.failed(operation: operation, key: key, store: location, reason: "\(s3Error)")
        case let .transport(reason, _, _, _):
            let hint = reason.contains("SSL") || reason.contains("certificate")
                ? "HINT: for a private certificate authority set PGBACKUP_S3_CA_FILE (s3.ca_file)"
                : "HINT: check PGBACKUP_S3_ENDPOINT and that the server is reachable from here"
            return StorageError.failed(operation: operation, key: key, store: location, reason: "\(s3Error) (\(hint))")
        case .malformedResponse, .ambiguousConditionalWrite:
            return StorageError.failed(operation: operation, key: key, store: location, reason: "\(s3Error)")
        }
    }

    /// `access key 'AKIA…'` and, for a source that fetches, where the key came from.
    private var credentialsInUse: String {
        let status = configuration.credentials.status
        let key = status.accessKeyID.map { "access key '\($0)'" } ?? "the credentials"
        return status.source == .env ? key : "\(key) (from \(status.source.rawValue): \(status.detail))"
    }

    private var credentialHint: String {
        switch configuration.credentials.status.source {
        case .env, .auto:
            return "check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN, or s3.access_key_id and s3.secret_access_key in the configuration file"
        case .webIdentity: return "check that the role may be assumed with this token and AWS_ROLE_ARN"
        case .profile: return "check the profile in the shared AWS files"
        case .container: return "check the task's or pod's role"
        case .instance: return "check the instance profile's role"
        }
    }

    // MARK: server-side encryption

    /// Writes a small probe object, reads back how S3 stored it and removes it: whether the
    /// configured server-side encryption is applied. nil when none is configured; otherwise the
    /// headers S3 answered for the probe (`x-amz-server-side-encryption…`) and whether they match.
    public func probeServerSideEncryption() async throws -> (matches: Bool, answered: String)? {
        guard let encryption = configuration.serverSideEncryption else { return nil }
        let key = ".pgbackup-sse-probe-\(UInt64.random(in: 0...UInt64.max))"
        let objectKey = try objectKey(key)
        do {
            try await client.putObject(objectKey: objectKey, body: Array("pgbackup server-side encryption probe\n".utf8))
            let head = try await client.sendExpectingSuccess(
                S3HTTPRequest(method: .head, url: client.urls.url(key: objectKey), headers: Self.emptyPayload))
            try? await delete([key])
            let answered = [head.headers["x-amz-server-side-encryption"] ?? "(no x-amz-server-side-encryption)",
                            head.headers["x-amz-server-side-encryption-aws-kms-key-id"].map { "key \($0)" }]
                .compactMap { $0 }.joined(separator: ", ")
            return (encryption.isShown(by: head.headers), answered)
        } catch {
            try? await delete([key])
            throw storageError(error, operation: "write a server-side encryption probe as", key: key)
        }
    }

    // MARK: payload headers

    /// `x-amz-content-sha256` for a request without a body. SigV4 signs it, and
    /// S3 refuses a signed request without it.
    static let emptyPayload: [(name: String, value: String)] = [("x-amz-content-sha256", SHA256Hasher.hash([UInt8]()).description)]

    /// `x-amz-content-sha256` for `body`: signed, so S3 refuses a body damaged on the way.
    static func payloadHeaders(_ body: [UInt8]) -> [(name: String, value: String)] {
        [("x-amz-content-sha256", SHA256Hasher.hash(body).description)]
    }
}

/// A flag set once, read often, shared by copies of the store.
final class BucketSeen: Sendable {
    private let flag = Atomic<Bool>(false)
    var value: Bool { flag.load(ordering: .relaxed) }
    func set() { flag.store(true, ordering: .relaxed) }
}
