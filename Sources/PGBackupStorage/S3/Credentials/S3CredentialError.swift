/// Why no credentials could be had from a source. Descriptions name the source, the file or
/// endpoint, and what it answered; never a secret (no key, token or secret is ever put in one).
public enum S3CredentialError: Error, Sendable, CustomStringConvertible, Equatable {
    /// The pinned source (or every source `auto` tries) lacks what it needs.
    case notConfigured(source: S3CredentialSource, reason: String)
    /// A file the source reads (token file, shared file) cannot be read or used.
    case unreadableFile(source: S3CredentialSource, path: String, reason: String)
    /// The endpoint (STS, container, IMDS) or process refused: its status and message.
    case refused(source: S3CredentialSource, by: String, answer: String)
    /// No answer from the endpoint.
    case unreachable(source: S3CredentialSource, endpoint: String, reason: String)
    /// An answer that holds no usable credentials.
    case invalidAnswer(source: S3CredentialSource, from: String, reason: String)

    public var source: S3CredentialSource {
        switch self {
        case let .notConfigured(source, _), let .unreadableFile(source, _, _), let .refused(source, _, _),
             let .unreachable(source, _, _), let .invalidAnswer(source, _, _):
            return source
        }
    }

    public var description: String {
        switch self {
        case let .notConfigured(source, reason):
            return "no S3 credentials from \(source.label): \(reason)"
        case let .unreadableFile(source, path, reason):
            return "S3 credentials from \(source.label): unable to read \(path): \(reason)"
        case let .refused(source, by, answer):
            return "S3 credentials from \(source.label): \(by) refused: \(answer)"
        case let .unreachable(source, endpoint, reason):
            return "S3 credentials from \(source.label): unable to reach \(endpoint): \(reason)"
        case let .invalidAnswer(source, from, reason):
            return "S3 credentials from \(source.label): unexpected answer from \(from): \(reason)"
        }
    }
}

extension S3CredentialSource {
    /// `the web identity source (s3.credentials: web-identity)`, for messages.
    public var label: String {
        switch self {
        case .auto: "the credential chain (s3.credentials: auto)"
        case .env: "static keys (s3.credentials: env)"
        case .webIdentity: "web identity (s3.credentials: web-identity)"
        case .profile: "the shared AWS files (s3.credentials: profile)"
        case .container: "the container credential endpoint (s3.credentials: container)"
        case .instance: "the EC2 instance metadata service (s3.credentials: instance)"
        }
    }
}
