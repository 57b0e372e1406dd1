/// Where S3 credentials come from: the sources of the AWS SDKs' default chain, in their order.
public enum S3CredentialSource: String, Sendable, CaseIterable, Hashable {
    /// The first source of the chain that is configured (the SDKs' default).
    case auto
    /// Static keys: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` (`AWS_SESSION_TOKEN`), or
    /// `s3.access_key_id` and `s3.secret_access_key` in the configuration file.
    case env
    /// STS `AssumeRoleWithWebIdentity` with `AWS_ROLE_ARN` and `AWS_WEB_IDENTITY_TOKEN_FILE`
    /// (EKS IRSA).
    case webIdentity = "web-identity"
    /// A profile of `~/.aws/credentials` and `~/.aws/config` (`AWS_PROFILE`).
    case profile
    /// The container credential endpoint (`AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` or
    /// `_FULL_URI`): ECS task roles, EKS Pod Identity.
    case container
    /// The EC2 instance metadata service, IMDSv2.
    case instance

    /// The sources `auto` tries, in order.
    public static let chain: [S3CredentialSource] = [.env, .webIdentity, .profile, .container, .instance]
}

/// Everything the credential sources read: pgbackup's settings with the standard AWS variables
/// already applied. Values, not lookups: `S3CredentialChain` decides from these alone.
public struct S3CredentialSettings: Sendable, Hashable {
    /// The pinned source, or `auto`.
    public var source: S3CredentialSource = .auto
    /// Static keys, and where they were set (`AWS_ACCESS_KEY_ID`, `s3.access_key_id in FILE`).
    public var staticKeys: S3Credentials?
    public var staticKeysOrigin = "AWS_ACCESS_KEY_ID"

    /// `AWS_ROLE_ARN`, `AWS_WEB_IDENTITY_TOKEN_FILE`, `AWS_ROLE_SESSION_NAME`.
    public var roleARN: String?
    public var webIdentityTokenFile: String?
    public var roleSessionName: String?
    /// STS's endpoint (`AWS_ENDPOINT_URL_STS`, then `AWS_ENDPOINT_URL`); nil: the regional one.
    public var stsEndpoint: String?
    /// The region whose STS endpoint is used and whose scope signs `AssumeRole`.
    public var region = "us-east-1"

    /// `AWS_PROFILE` (default `default`), `AWS_SHARED_CREDENTIALS_FILE` and `AWS_CONFIG_FILE`
    /// (default `~/.aws/credentials` and `~/.aws/config`).
    public var profile: String?
    public var sharedCredentialsFile: String?
    public var configFile: String?

    /// The container endpoint's whole URL (`AWS_CONTAINER_CREDENTIALS_FULL_URI`, or
    /// `http://169.254.170.2` + `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`).
    public var containerCredentialsURI: String?
    /// `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE` (re-read at every refresh) or
    /// `AWS_CONTAINER_AUTHORIZATION_TOKEN`, sent as `Authorization`.
    public var containerAuthorizationTokenFile: String?
    public var containerAuthorizationToken: String?

    /// `AWS_EC2_METADATA_SERVICE_ENDPOINT` (default `http://169.254.169.254`);
    /// `AWS_EC2_METADATA_DISABLED=true` turns the source off.
    public var metadataEndpoint: String?
    public var metadataDisabled = false

    /// A CA bundle for HTTPS credential endpoints (the S3 one's).
    public var caFile: String?

    public init() {}

    /// The relative URI's host: ECS's and EKS Pod Identity's fixed link-local address.
    public static let containerHost = "http://169.254.170.2"
    public static let defaultMetadataEndpoint = "http://169.254.169.254"
}
