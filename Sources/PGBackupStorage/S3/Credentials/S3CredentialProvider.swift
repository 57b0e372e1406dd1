import Foundation

/// One source of S3 credentials. `fetch` asks the source again each time (a token file is
/// re-read, an endpoint asked anew); `S3CredentialCache` decides when.
public protocol S3CredentialProvider: Sendable {
    var source: S3CredentialSource { get }
    /// What the source is, for `check` and messages: `role arn:… with token file /var/run/…`.
    var detail: String { get }
    func fetch() async throws(S3CredentialError) -> S3Credentials
}

/// Keys that do not change: the environment's or the configuration file's.
struct StaticCredentialProvider: S3CredentialProvider {
    var credentials: S3Credentials
    var origin: String
    var source: S3CredentialSource { .env }
    var detail: String { "access key \(credentials.accessKeyID) from \(origin)" }
    func fetch() async throws(S3CredentialError) -> S3Credentials { credentials }
}

/// EKS IRSA and any OIDC federation: STS `AssumeRoleWithWebIdentity` with the token file's
/// content, re-read at every refresh (the kubelet rotates it).
struct WebIdentityCredentialProvider: S3CredentialProvider {
    var roleARN: String
    var tokenFile: String
    var sessionName: String?
    var sts: STSClient
    var source: S3CredentialSource { .webIdentity }
    var detail: String { "role \(roleARN) with the token in \(tokenFile), through STS at \(sts.endpoint)" }

    func fetch() async throws(S3CredentialError) -> S3Credentials {
        let token = try readToken(tokenFile, source: source)
        return try await sts.assumeRoleWithWebIdentity(roleARN: roleARN, sessionName: sessionName ?? defaultSessionName(), token: token)
    }
}

/// ECS task roles and EKS Pod Identity: a GET of the endpoint, with the authorization token
/// (the file re-read each time: EKS rotates it) when one is configured.
struct ContainerCredentialProvider: S3CredentialProvider {
    var uri: String
    var authorizationTokenFile: String?
    var authorizationToken: String?
    var http: CredentialHTTP
    var source: S3CredentialSource { .container }
    var detail: String { "the endpoint \(uri)" + (authorizationTokenFile.map { " with the token in \($0)" } ?? (authorizationToken == nil ? "" : " with AWS_CONTAINER_AUTHORIZATION_TOKEN")) }

    func fetch() async throws(S3CredentialError) -> S3Credentials {
        var headers: [(name: String, value: String)] = [("Accept", "application/json")]
        if let file = authorizationTokenFile {
            headers.append(("Authorization", try readToken(file, source: source)))
        } else if let token = authorizationToken {
            headers.append(("Authorization", token))
        }
        let response = try await http.send(S3HTTPRequest(method: .get, url: uri, headers: headers, responseLimit: 1 << 20), endpoint: uri)
        guard response.isSuccess else { throw .refused(source: source, by: uri, answer: CredentialHTTP.summary(response)) }
        return try CredentialJSON.credentials(response.body, source: source, from: uri)
    }

    /// Whether the SDKs allow `uri`: HTTPS anywhere; plain HTTP only to loopback and to the
    /// ECS and EKS link-local addresses (a token must not cross a network in clear).
    static func isAllowed(_ uri: String) -> Bool {
        if uri.hasPrefix("https://") { return true }
        guard uri.hasPrefix("http://") else { return false }
        let rest = uri.dropFirst(7)
        let authority = rest.prefix { $0 != "/" && $0 != "?" }
        var host = String(authority)
        if host.hasPrefix("[") { host = String(host.dropFirst().prefix { $0 != "]" }) } else if let colon = host.lastIndex(of: ":") { host = String(host[..<colon]) }
        return host == "localhost" || host.hasPrefix("127.") || host == "::1" || host == "169.254.170.2" || host == "169.254.170.23"
            || host.lowercased() == "fd00:ec2::23"
    }
}

/// EC2 instance profiles: IMDSv2 only. A session token first (PUT), then the role's name and its
/// credentials (GETs that carry the token).
struct InstanceMetadataCredentialProvider: S3CredentialProvider {
    var endpoint: String
    var http: CredentialHTTP
    /// Chosen by `auto` because no other source is configured: a failure says so, since off EC2
    /// the cause is the missing configuration, not the metadata service.
    var isLastResort = false
    var source: S3CredentialSource { .instance }
    var detail: String { "the instance metadata service at \(endpoint) (IMDSv2)" + (isLastResort ? ", the chain's last source: no other is configured" : "") }

    func fetch() async throws(S3CredentialError) -> S3Credentials {
        do {
            return try await fetchFromService()
        } catch where isLastResort {
            throw .notConfigured(
                source: .auto,
                reason: "no source of the chain is configured, and the last one, \(error) (HINT: " + S3CredentialChain.configurationHint + ")")
        }
    }

    private func fetchFromService() async throws(S3CredentialError) -> S3Credentials {
        let tokenURL = endpoint + "/latest/api/token"
        let tokenAnswer = try await http.send(
            S3HTTPRequest(method: .put, url: tokenURL, headers: [("X-aws-ec2-metadata-token-ttl-seconds", "21600")], responseLimit: 4096),
            endpoint: endpoint)
        guard tokenAnswer.isSuccess else {
            let hint = [403, 404, 405].contains(tokenAnswer.status)
                ? " (it hands out no IMDSv2 session token: pgbackup uses IMDSv2 only; set the instance's metadata option HttpTokens to required or optional)" : ""
            throw .refused(source: source, by: "the instance metadata service at \(tokenURL)", answer: CredentialHTTP.summary(tokenAnswer) + hint)
        }
        let token = String(decoding: tokenAnswer.body, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        let headers = [("X-aws-ec2-metadata-token", token), ("Accept", "application/json")]
        let rolesURL = endpoint + "/latest/meta-data/iam/security-credentials/"
        let roles = try await http.send(S3HTTPRequest(method: .get, url: rolesURL, headers: headers, responseLimit: 1 << 16), endpoint: endpoint)
        guard roles.isSuccess else {
            let hint = roles.status == 404 ? " (the instance has no IAM instance profile attached)" : ""
            throw .refused(source: source, by: rolesURL, answer: CredentialHTTP.summary(roles) + hint)
        }
        guard let role = String(decoding: roles.body, as: UTF8.self).split(whereSeparator: \.isNewline).first.map(String.init),
              !role.isEmpty, !role.contains("/")
        else { throw .invalidAnswer(source: source, from: rolesURL, reason: "no role name") }
        let credentialsURL = rolesURL + S3URL.encode(role, keepSlash: false)
        let answer = try await http.send(S3HTTPRequest(method: .get, url: credentialsURL, headers: headers, responseLimit: 1 << 20), endpoint: endpoint)
        guard answer.isSuccess else { throw .refused(source: source, by: credentialsURL, answer: CredentialHTTP.summary(answer)) }
        return try CredentialJSON.credentials(answer.body, source: source, from: credentialsURL)
    }
}

/// A token file's content without surrounding white space; an empty or unreadable file is an
/// error naming it.
func readToken(_ path: String, source: S3CredentialSource) throws(S3CredentialError) -> String {
    guard let data = FileManager.default.contents(atPath: path) else {
        let reason = FileManager.default.fileExists(atPath: path) ? "permission denied" : "no such file"
        throw .unreadableFile(source: source, path: path, reason: reason)
    }
    let token = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    guard !token.isEmpty else { throw .unreadableFile(source: source, path: path, reason: "the file is empty") }
    return token
}

/// `pgbackup-<unix seconds>`: STS's session name, seen in CloudTrail.
func defaultSessionName() -> String { "pgbackup-\(Int(Date().timeIntervalSince1970))" }
