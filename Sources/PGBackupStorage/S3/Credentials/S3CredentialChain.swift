import Foundation

/// Chooses the credential source: the pinned one, or with `auto` the first of the AWS SDKs'
/// chain that is configured (environment, web identity, profile, container, instance metadata),
/// as boto3 and the Java SDK do. A configured source that then fails is the error: the chain
/// does not fall through to the next one, so a broken role is never hidden by an instance
/// profile.
public enum S3CredentialChain {
    /// The provider for `settings`. Reads the shared files (to see whether the profile exists);
    /// sends no request.
    public static func provider(for settings: S3CredentialSettings) throws(S3CredentialError) -> any S3CredentialProvider {
        if settings.source != .auto { return try provider(settings.source, settings: settings, pinned: true)! }
        for source in S3CredentialSource.chain {
            if var instance = try provider(source, settings: settings, pinned: false) as? InstanceMetadataCredentialProvider {
                // Reached because nothing else is configured, unless its endpoint was named.
                instance.isLastResort = settings.metadataEndpoint == nil
                return instance
            } else if let provider = try provider(source, settings: settings, pinned: false) {
                return provider
            }
        }
        throw .notConfigured(source: .auto, reason: "none of the chain's sources is configured (HINT: \(configurationHint))")
    }

    /// What to set for each source, for messages.
    static let configurationHint = "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; AWS_ROLE_ARN and "
        + "AWS_WEB_IDENTITY_TOKEN_FILE; AWS_PROFILE with ~/.aws/credentials or ~/.aws/config; AWS_CONTAINER_CREDENTIALS_FULL_URI; "
        + "or run on EC2 with an instance profile, without AWS_EC2_METADATA_DISABLED"

    /// The provider of one source; nil when it is not configured and not `pinned` (a pinned
    /// source that is not configured is an error saying what it needs).
    private static func provider(_ source: S3CredentialSource, settings: S3CredentialSettings, pinned: Bool) throws(S3CredentialError) -> (any S3CredentialProvider)? {
        func missing(_ reason: String) throws(S3CredentialError) -> (any S3CredentialProvider)? {
            if pinned { throw .notConfigured(source: source, reason: reason) }
            return nil
        }
        switch source {
        case .auto:
            return try provider(for: settings)
        case .env:
            guard let keys = settings.staticKeys else {
                return try missing("set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or s3.access_key_id and s3.secret_access_key in the configuration file")
            }
            return StaticCredentialProvider(credentials: keys, origin: settings.staticKeysOrigin)
        case .webIdentity:
            guard let roleARN = settings.roleARN, let tokenFile = settings.webIdentityTokenFile else {
                return try missing("set AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE (s3.role_arn and s3.web_identity_token_file)")
            }
            return WebIdentityCredentialProvider(roleARN: roleARN, tokenFile: tokenFile, sessionName: settings.roleSessionName,
                                                 sts: STSClient(settings: settings, source: .webIdentity))
        case .profile:
            let files = try SharedConfigFiles(
                credentialsFile: settings.sharedCredentialsFile ?? NSHomeDirectory() + "/.aws/credentials",
                configFile: settings.configFile ?? NSHomeDirectory() + "/.aws/config")
            let name = settings.profile ?? "default"
            guard files.profile(name) != nil else {
                // A profile named explicitly must exist, even for `auto` (as in the SDKs).
                if settings.profile != nil || pinned {
                    throw .notConfigured(source: .profile, reason: "profile '\(name)' is in neither \(files.credentialsFile) nor \(files.configFile)")
                }
                return nil
            }
            let provider = ProfileCredentialProvider(name: name, files: files, settings: settings)
            // `auto` takes a profile only if it can give credentials; a config file that holds
            // just `region` for the default profile is not a credential source.
            if !pinned, settings.profile == nil, let profile = files.profile(name),
               !["role_arn", "aws_access_key_id", "credential_process"].contains(where: { profile[$0] != nil }) {
                return nil
            }
            return provider
        case .container:
            guard let uri = settings.containerCredentialsURI else {
                return try missing("set AWS_CONTAINER_CREDENTIALS_RELATIVE_URI or AWS_CONTAINER_CREDENTIALS_FULL_URI (s3.container_credentials_uri)")
            }
            guard ContainerCredentialProvider.isAllowed(uri) else {
                throw .notConfigured(source: .container, reason: "\(uri) is neither https:// nor http:// to a loopback address or the ECS/EKS link-local one")
            }
            return ContainerCredentialProvider(
                uri: uri, authorizationTokenFile: settings.containerAuthorizationTokenFile, authorizationToken: settings.containerAuthorizationToken,
                http: CredentialHTTP(source: .container, caFile: settings.caFile))
        case .instance:
            if settings.metadataDisabled { return try missing("AWS_EC2_METADATA_DISABLED is true") }
            return InstanceMetadataCredentialProvider(endpoint: metadataEndpoint(settings), http: metadataHTTP(settings))
        }
    }

    static func metadataEndpoint(_ settings: S3CredentialSettings) -> String {
        var endpoint = settings.metadataEndpoint ?? S3CredentialSettings.defaultMetadataEndpoint
        while endpoint.hasSuffix("/") { endpoint.removeLast() }
        return endpoint
    }

    /// IMDS answers on the instance itself: a one-second connection timeout, so that `auto` off
    /// EC2 fails at once; an answer may take longer on a loaded instance (five seconds), and a
    /// failed one is asked again twice.
    static func metadataHTTP(_ settings: S3CredentialSettings) -> CredentialHTTP {
        CredentialHTTP(source: .instance, caFile: settings.caFile, connectTimeout: .seconds(1), stallTimeout: .seconds(5), attempts: 3)
    }
}
