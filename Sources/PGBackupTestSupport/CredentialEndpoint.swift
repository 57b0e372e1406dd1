import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A local credential source for tests of the AWS credential chain: an EC2 instance-metadata
/// service (IMDSv2) or an ECS / EKS Pod Identity container-credentials endpoint, on a free port
/// of 127.0.0.1.
///
/// It runs `scripts/credential-endpoint.py` (see the script for exactly what it answers). The
/// credentials it serves are real: each credentials request assumes `roleARN` on `moto`'s STS with
/// the moto bootstrap user's keys, so moto checks them and expires them (see
/// `MotoServer.start(credentialLifetime:)`).
///
/// Prefer `withCredentialEndpoint { … }`, which always stops it. One left running exits by itself
/// when the test process ends.
public final class CredentialEndpoint: Sendable {
    /// What the endpoint plays.
    public enum Mode: Sendable, Equatable {
        /// EC2 instance metadata: IMDSv2 (a token from `PUT /latest/api/token` required on every
        /// GET), or with `v1Only` a service without the token API (the PUT answers 404) that
        /// serves GETs without a token.
        case instanceMetadata(v1Only: Bool)
        /// Container credentials at `containerURI`; with `authorizationToken` (or the contents of
        /// `tokenFile`, re-read on every request) a request must carry exactly that
        /// `Authorization` header (missing: 401, another value: 403).
        case container(authorizationToken: String?, tokenFile: String?)
    }

    /// `http://127.0.0.1:PORT`
    public let endpoint: String
    public let port: Int
    public let mode: Mode
    /// The container-credentials path (container mode).
    public let path: String
    private let process: BackgroundProcess
    private let python: String

    /// What `AWS_CONTAINER_CREDENTIALS_FULL_URI` would hold: the endpoint and its path.
    public var containerURI: String { endpoint + path }

    /// What it has printed (its request log goes to standard error).
    public var log: String { process.standardError }

    private init(endpoint: String, port: Int, mode: Mode, path: String, process: BackgroundProcess, python: String) {
        self.endpoint = endpoint
        self.port = port
        self.mode = mode
        self.path = path
        self.process = process
        self.python = python
    }

    /// The project's launcher, found from this source file's place in the repository.
    public static let launcher: String = {
        let here = URL(fileURLWithPath: #filePath)  // Sources/PGBackupTestSupport/CredentialEndpoint.swift
        return here.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("scripts/credential-endpoint.py").path
    }()

    /// Starts an endpoint serving credentials for `roleARN` (see `MotoServer.createRole`);
    /// throws `CredentialEndpointError` (with the launcher's output) when it cannot.
    ///
    /// - Parameters:
    ///   - path: where container credentials are served.
    ///   - failAfter: after this many credential documents, every credentials request answers
    ///     500 (a source that breaks); nil never fails.
    public static func start(
        mode: Mode, moto: MotoServer, roleARN: String, path: String = "/creds", failAfter: Int? = nil,
        timeout: Duration = .seconds(30)
    ) async throws -> CredentialEndpoint {
        guard let python = MotoServer.findExecutable("python3") else { throw MotoServerError.pythonNotFound }
        guard FileManager.default.isReadableFile(atPath: launcher) else { throw CredentialEndpointError.launcherMissing(path: launcher) }
        var arguments = [launcher, "--moto", moto.endpoint, "--access-key-id", moto.accessKeyID,
                         "--secret-access-key", moto.secretAccessKey, "--role-arn", roleARN]
        switch mode {
        case let .instanceMetadata(v1Only):
            arguments += ["--mode", "imds"] + (v1Only ? ["--imds-v1-only"] : [])
        case let .container(authorizationToken, tokenFile):
            arguments += ["--mode", "container", "--path", path]
            if let authorizationToken { arguments += ["--authorization-token", authorizationToken] }
            if let tokenFile { arguments += ["--authorization-token-file", tokenFile] }
        }
        if let failAfter { arguments += ["--fail-after", String(failAfter)] }
        var environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("AWS_") }
        environment["PYTHONUNBUFFERED"] = "1"
        let process = try BackgroundProcess(python, arguments, environment: environment)

        let deadline = ContinuousClock.now + timeout
        while true {
            if let line = process.standardOutput.split(separator: "\n").first,
               let json = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Int],
               let port = json["port"] {
                return CredentialEndpoint(endpoint: "http://127.0.0.1:\(port)", port: port, mode: mode, path: path,
                                          process: process, python: python)
            }
            let reason: String? = !process.isRunning ? "it exited before listening"
                : ContinuousClock.now >= deadline ? "it did not listen within \(timeout)" : nil
            if let reason {
                process.send(SIGKILL)
                _ = try? await process.wait(timeout: .seconds(5))
                throw CredentialEndpointError.startFailed(reason: reason, output: process.standardError)
            }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    /// How many requests each path has had so far (`GET /_requests`), e.g.
    /// `["/latest/api/token": 1, "/creds": 2]`.
    public func requestCounts() async throws -> [String: Int] {
        let script = "import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1]).read().decode())"
        let result = try await runProcess(python, ["-c", script, endpoint + "/_requests"], timeout: .seconds(30))
        guard result.succeeded, let counts = try? JSONSerialization.jsonObject(with: result.standardOutputData) as? [String: Int] else {
            throw CredentialEndpointError.requestFailed(output: result.standardError + "\n--- endpoint log (tail) ---\n" + tail(log))
        }
        return counts
    }

    /// Stops it and waits for it.
    public func stop() async {
        process.send(SIGTERM)
        if (try? await process.wait(timeout: .seconds(5))) == nil {
            process.send(SIGKILL)
            _ = try? await process.wait(timeout: .seconds(5))
        }
    }
}

/// Runs `body` with a fresh credential endpoint, and always stops it.
public func withCredentialEndpoint<Result>(
    mode: CredentialEndpoint.Mode,
    moto: MotoServer,
    roleARN: String,
    failAfter: Int? = nil,
    isolation: isolated (any Actor)? = #isolation,
    _ body: (CredentialEndpoint) async throws -> Result
) async throws -> Result {
    let endpoint = try await CredentialEndpoint.start(mode: mode, moto: moto, roleARN: roleARN, failAfter: failAfter)
    do {
        let result = try await body(endpoint)
        await endpoint.stop()
        return result
    } catch {
        await endpoint.stop()
        throw error
    }
}

/// Why the test credential endpoint could not be started or asked.
public enum CredentialEndpointError: Error, CustomStringConvertible {
    case launcherMissing(path: String)
    case startFailed(reason: String, output: String)
    case requestFailed(output: String)

    public var description: String {
        switch self {
        case let .launcherMissing(path):
            return "unable to start the credential endpoint: the launcher \(path) is missing"
        case let .startFailed(reason, output):
            return "unable to start the credential endpoint: \(reason) (HINT: it needs python3 with boto3)\n--- output (tail) ---\n\(tail(output))"
        case let .requestFailed(output):
            return "unable to read the credential endpoint's request counts\n--- output (tail) ---\n\(tail(output))"
        }
    }
}
