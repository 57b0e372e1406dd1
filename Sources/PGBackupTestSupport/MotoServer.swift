import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A real S3-compatible server for integration tests: `moto_server` on a free port of 127.0.0.1,
/// with SigV4 signature checking and IAM policies switched on, so a wrong secret really fails.
///
/// It runs `scripts/moto-server.py` (stock moto plus one fix to its signature check, see the
/// script) with `INITIAL_NO_AUTH_ACTION_COUNT=3`, waits for the port by TCP connect (an HTTP probe
/// would use up one of the three unauthenticated requests), spends the three on an IAM user, its
/// access key and an allow-all policy, and creates `bucket` with those credentials.
///
/// Prefer `withMotoServer { … }`, which always stops the server, or `MotoServer.shared()` for a
/// suite that shares one server per test process. A server left running exits by itself when
/// the test process ends (the launcher watches its parent).
public final class MotoServer: Sendable {
    /// `http://127.0.0.1:PORT`
    public let endpoint: String
    public let port: Int
    /// The signing region moto expects.
    public let region = "us-east-1"
    public let accessKeyID: String
    public let secretAccessKey: String
    /// A bucket created at start.
    public let bucket: String
    private let process: BackgroundProcess
    /// The python3 that runs the server and the boto3 helpers.
    let python: String

    private init(endpoint: String, port: Int, accessKeyID: String, secretAccessKey: String, bucket: String,
                 process: BackgroundProcess, python: String) {
        self.endpoint = endpoint
        self.port = port
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.bucket = bucket
        self.process = process
        self.python = python
    }

    /// The project's launcher, found from this source file's place in the repository.
    public static let launcher: String = {
        let here = URL(fileURLWithPath: #filePath)  // Sources/PGBackupTestSupport/MotoServer.swift
        return here.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("scripts/moto-server.py").path
    }()

    /// Starts a server with a bucket called `bucket`; throws `MotoServerError` (with moto's own
    /// output) when it cannot.
    ///
    /// - Parameter credentialLifetime: when set, every credential its STS issues (AssumeRole,
    ///   AssumeRoleWithWebIdentity, GetSessionToken) expires after at most this long, rounded up
    ///   to whole seconds, and is then refused with `ExpiredToken`; nil keeps moto's lifetimes.
    public static func start(
        bucket: String = "pgbackup-test", credentialLifetime: Duration? = nil, timeout: Duration = .seconds(60)
    ) async throws -> MotoServer {
        guard let python = findExecutable("python3") else { throw MotoServerError.pythonNotFound }
        guard FileManager.default.isReadableFile(atPath: launcher) else { throw MotoServerError.launcherMissing(path: launcher) }
        var lastError: (any Error)?
        for _ in 0..<3 {
            let port = try freeTCPPort()
            var environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("AWS_") }
            environment["INITIAL_NO_AUTH_ACTION_COUNT"] = "3"
            environment["PYTHONUNBUFFERED"] = "1"
            environment["PGBACKUP_TEST_STS_EXPIRE_FILE"] = expireFile(port: port)
            if let credentialLifetime {
                let (seconds, attoseconds) = credentialLifetime.components
                environment["PGBACKUP_TEST_STS_LIFETIME_SECONDS"] = String(max(1, seconds + (attoseconds > 0 ? 1 : 0)))
            }
            let process = try BackgroundProcess(python, [launcher, "-H", "127.0.0.1", "-p", String(port)], environment: environment)
            do {
                try await waitForPort(port, process: process, timeout: timeout)
            } catch {
                process.send(SIGKILL)
                _ = try? await process.wait(timeout: .seconds(5))
                lastError = error
                if process.standardError.contains("Address already in use") { continue }
                throw error
            }
            let endpoint = "http://127.0.0.1:\(port)"
            do {
                let bootstrap = try await runProcess(python, [launcher, "--bootstrap", endpoint], environment: environment, timeout: timeout)
                guard bootstrap.succeeded,
                      let json = try? JSONSerialization.jsonObject(with: bootstrap.standardOutputData) as? [String: String],
                      let keyID = json["AccessKeyId"], let secret = json["SecretAccessKey"]
                else {
                    throw MotoServerError.startFailed(reason: "the IAM bootstrap failed\n\(bootstrap.standardError)", serverOutput: process.standardError)
                }
                let server = MotoServer(endpoint: endpoint, port: port, accessKeyID: keyID, secretAccessKey: secret, bucket: bucket,
                                        process: process, python: python)
                try await server.createBucket(bucket)
                return server
            } catch {
                process.send(SIGKILL)
                _ = try? await process.wait(timeout: .seconds(5))
                throw error
            }
        }
        throw lastError ?? MotoServerError.startFailed(reason: "no free port", serverOutput: "")
    }

    /// Creates another bucket.
    public func createBucket(_ name: String) async throws {
        let script = """
            import boto3, sys
            s3 = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1")
            s3.create_bucket(Bucket=sys.argv[2])
            """
        let result = try await runBoto3(script, [name])
        guard result.succeeded else {
            throw MotoServerError.startFailed(reason: "unable to create bucket '\(name)'\n\(result.standardError)", serverOutput: process.standardError)
        }
    }

    /// Runs a python3 `script` with `sys.argv[1]` the endpoint and then `arguments`, boto3
    /// signing with the bootstrap user's keys (allowed everything) from the environment.
    func runBoto3(_ script: String, _ arguments: [String]) async throws -> ProcessResult {
        var environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("AWS_") }
        environment["AWS_ACCESS_KEY_ID"] = accessKeyID
        environment["AWS_SECRET_ACCESS_KEY"] = secretAccessKey
        environment["AWS_DEFAULT_REGION"] = region
        return try await runProcess(python, ["-c", script, endpoint] + arguments, environment: environment, timeout: .seconds(60))
    }

    /// The environment the `aws` CLI (or the pgbackup binary) needs to reach this server.
    public var clientEnvironment: [String: String] {
        ["AWS_ACCESS_KEY_ID": accessKeyID, "AWS_SECRET_ACCESS_KEY": secretAccessKey, "AWS_DEFAULT_REGION": region,
         "PGBACKUP_S3_ENDPOINT": endpoint, "PGBACKUP_S3_REGION": region, "PGBACKUP_S3_PATH_STYLE": "true"]
    }

    /// The file whose modification time expires the credentials STS issued before it
    /// (scripts/moto-server.py, PGBACKUP_TEST_STS_EXPIRE_FILE).
    private static func expireFile(port: Int) -> String { NSTemporaryDirectory() + "pgbackup-moto-\(port)-expire" }

    /// Makes every credential its STS has issued so far expired, at once (S3 then answers
    /// `ExpiredToken`); those issued afterwards are valid. An event the test causes, whatever
    /// the load, where a short lifetime would race the server's answers.
    public func expireIssuedCredentials() throws {
        let path = Self.expireFile(port: port)
        try Data("expired \(Date())".utf8).write(to: URL(fileURLWithPath: path))
        // The modification time must move even within the file system's time granularity.
        try FileManager.default.setAttributes([.modificationDate: Date()], ofItemAtPath: path)
    }

    /// What the server has printed (its request log goes to standard error).
    public var log: String { process.standardError }

    /// Stops the server and waits for it.
    public func stop() async {
        process.send(SIGTERM)
        if (try? await process.wait(timeout: .seconds(5))) == nil {
            process.send(SIGKILL)
            _ = try? await process.wait(timeout: .seconds(5))
        }
    }

    private static let sharedServer = Mutex<Task<MotoServer, any Error>?>(nil)

    /// One server for the whole test process, started on first use and never stopped (it exits
    /// with the test process). Tests that share it use their own prefixes or buckets.
    public static func shared() async throws -> MotoServer {
        let task = sharedServer.withLock { task in
            if let task { return task }
            let started = Task { try await MotoServer.start() }
            task = started
            return started
        }
        return try await task.value
    }

    private static func waitForPort(_ port: Int, process: BackgroundProcess, timeout: Duration) async throws {
        let deadline = ContinuousClock.now + timeout
        while true {
            if canConnect(port: port) { return }
            if !process.isRunning {
                throw MotoServerError.startFailed(reason: "moto_server exited before listening on port \(port)", serverOutput: process.standardError)
            }
            if ContinuousClock.now >= deadline {
                throw MotoServerError.startFailed(reason: "moto_server did not listen on port \(port) within \(timeout)", serverOutput: process.standardError)
            }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    static func findExecutable(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        return path.split(separator: ":").map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }
}

/// Whether something accepts TCP connections on 127.0.0.1:`port`.
public func canConnect(port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    return withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    } == 0
}

/// Runs `body` with a fresh moto server, and always stops it.
public func withMotoServer<Result>(
    bucket: String = "pgbackup-test",
    credentialLifetime: Duration? = nil,
    isolation: isolated (any Actor)? = #isolation,
    _ body: (MotoServer) async throws -> Result
) async throws -> Result {
    let server = try await MotoServer.start(bucket: bucket, credentialLifetime: credentialLifetime)
    do {
        let result = try await body(server)
        await server.stop()
        return result
    } catch {
        await server.stop()
        throw error
    }
}

/// Why the test S3 server could not be started.
public enum MotoServerError: Error, CustomStringConvertible {
    case pythonNotFound
    case launcherMissing(path: String)
    case startFailed(reason: String, serverOutput: String)
    /// A request to the running server (creating a role, a key) failed; `output` is the client's.
    case requestFailed(action: String, output: String)

    public var description: String {
        switch self {
        case .pythonNotFound:
            return "unable to start moto_server: no python3 on PATH (HINT: scripts/install-deps test installs it with moto[server])"
        case let .launcherMissing(path):
            return "unable to start moto_server: the launcher \(path) is missing"
        case let .startFailed(reason, serverOutput):
            return "unable to start moto_server: \(reason) (HINT: scripts/install-deps test installs moto[server])\n--- moto output (tail) ---\n\(tail(serverOutput))"
        case let .requestFailed(action, output):
            return "unable to \(action) on moto_server\n--- boto3 output (tail) ---\n\(tail(output))"
        }
    }
}
