import PGBackupFoundations
import Synchronization

/// Sends signed requests to one S3 endpoint: a bounded number at a time, each on a reused curl
/// handle (so connections stay open), each retried per the `S3RetryPolicy`.
final class S3Client: Sendable {
    let configuration: S3Configuration
    let urls: S3URL
    private let settings: CurlEasyHandle.Settings
    private let pool = Mutex<[CurlEasyHandle]>([])
    private let permits: AsyncSemaphore

    init(configuration: S3Configuration) {
        self.configuration = configuration
        urls = S3URL(endpoint: configuration.effectiveEndpoint, bucket: configuration.bucket, pathStyle: configuration.pathStyle)
        settings = .init(caFile: configuration.caFile, connectTimeout: configuration.connectTimeout, stallTimeout: configuration.stallTimeout)
        permits = AsyncSemaphore(configuration.maxConcurrentRequests)
    }

    var endpoint: String { configuration.effectiveEndpoint }

    /// Sends `request` until it gets a final answer: a success, an error that retrying cannot fix
    /// (returned, not thrown, so the caller can read a 404 or a 412), or the last attempt's
    /// retryable failure (thrown as `S3Error`). Each attempt signs with the credentials current
    /// at that moment; an answer that the credentials expired (`ExpiredToken`) refreshes them and
    /// is retried once at once. Throws `S3CredentialError` when no credentials can be had.
    func send(_ request: S3HTTPRequest) async throws -> S3HTTPResponse {
        let policy = configuration.retryPolicy
        var generator = SystemRandomNumberGenerator()
        var attempt = 0
        var refreshedAfterRejection = false
        while true {
            attempt += 1
            try Task.checkCancellation()
            let credentials = try await configuration.credentials.current()
            let outcome: Result<S3HTTPResponse, CurlFailure>
            do {
                outcome = .success(try await attemptOnce(request, credentials: credentials))
            } catch let failure as CurlFailure {
                outcome = .failure(failure)
            }
            switch outcome {
            case var .success(response):
                response.attempts = attempt
                if response.isSuccess { return response }
                let code = Self.errorDetails(response).code
                if let code, S3Error.expiredCredentialCodes.contains(code), !refreshedAfterRejection {
                    refreshedAfterRejection = true
                    if try await configuration.credentials.refreshAfterRejection(of: credentials) != nil {
                        attempt -= 1  // not the request's fault: the retry does not use up an attempt
                        continue
                    }
                }
                if !S3RetryPolicy.isRetryable(status: response.status, code: code) || attempt >= policy.maxAttempts {
                    return response
                }
            case let .failure(failure):
                if !failure.isRetryable || attempt >= policy.maxAttempts {
                    throw S3Error.transport(reason: failure.message, endpoint: endpoint, attempts: attempt, timedOut: failure.timedOut)
                }
            }
            try await Task.sleep(for: policy.delay(afterAttempt: attempt, using: &generator))
        }
    }

    /// Like `send`, but any answer other than 2xx is thrown as `S3Error.server`.
    func sendExpectingSuccess(_ request: S3HTTPRequest) async throws -> S3HTTPResponse {
        let response = try await send(request)
        guard response.isSuccess else { throw serverError(response) }
        return response
    }

    /// The `S3Error` that an error answer stands for.
    func serverError(_ response: S3HTTPResponse) -> S3Error {
        let details = Self.errorDetails(response)
        return .server(status: response.status, code: details.code, message: details.message,
                       requestID: details.requestID ?? response.requestID, endpoint: endpoint, attempts: response.attempts)
    }

    /// S3's error code and message from an error answer's XML body (HEAD answers have none).
    static func errorDetails(_ response: S3HTTPResponse) -> (code: String?, message: String?, requestID: String?) {
        S3XML.error(response.body) ?? (nil, nil, nil)
    }

    private func attemptOnce(_ request: S3HTTPRequest, credentials: S3Credentials) async throws -> S3HTTPResponse {
        await permits.acquire()
        defer { permits.release() }
        let handle = pool.withLock { $0.popLast() } ?? CurlEasyHandle()
        guard let handle else {
            throw CurlFailure(code: -1, message: "curl_easy_init failed (out of memory?)", isRetryable: false, timedOut: false)
        }
        // A handle that failed keeps no broken connection (curl closes it); reuse it either way.
        defer { pool.withLock { $0.append(handle) } }
        let settings = self.settings
        let signing = CurlEasyHandle.Signing(credentials: credentials, region: configuration.region, service: "s3")
        return try await BlockingIO.runLong { () throws -> S3HTTPResponse in try handle.perform(request, signing: signing, settings: settings) }
    }
}

/// At most `count` holders at a time; the others wait in line (first come, first served).
final class AsyncSemaphore: Sendable {
    private struct State {
        var available: Int
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state: Mutex<State>

    init(_ count: Int) { state = Mutex(State(available: count)) }

    func acquire() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let acquired = state.withLock { state -> Bool in
                if state.available > 0 {
                    state.available -= 1
                    return true
                }
                state.waiters.append(continuation)
                return false
            }
            if acquired { continuation.resume() }
        }
    }

    func release() {
        let next = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if state.waiters.isEmpty {
                state.available += 1
                return nil
            }
            return state.waiters.removeFirst()
        }
        next?.resume()
    }
}
