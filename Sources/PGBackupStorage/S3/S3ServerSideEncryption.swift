/// Server-side encryption of stored objects (`s3.sse`): S3-managed keys, or a KMS key.
/// Independent of pgbackup's client-side encryption; both may be on.
public enum S3ServerSideEncryption: Sendable, Hashable, CustomStringConvertible {
    /// `AES256`: S3's own keys (SSE-S3).
    case aes256
    /// `aws:kms` with a key id, ARN or alias; nil: the account's `aws/s3` key (SSE-KMS).
    case kms(keyID: String?)

    /// The value of `x-amz-server-side-encryption`.
    public var algorithm: String {
        switch self {
        case .aes256: "AES256"
        case .kms: "aws:kms"
        }
    }

    /// The headers that ask for it on a PUT or CreateMultipartUpload (signed with the request).
    var requestHeaders: [(name: String, value: String)] {
        var headers = [(name: "x-amz-server-side-encryption", value: algorithm)]
        if case let .kms(keyID?) = self { headers.append((name: "x-amz-server-side-encryption-aws-kms-key-id", value: keyID)) }
        return headers
    }

    /// Whether an object's answer headers (names lower-cased) show this encryption: the
    /// algorithm, and for a KMS key given by id or ARN, that key (S3 answers with the key's ARN;
    /// an alias cannot be compared and is taken as given).
    func isShown(by headers: [String: String]) -> Bool {
        guard headers["x-amz-server-side-encryption"] == algorithm else { return false }
        guard case let .kms(keyID?) = self, !keyID.hasPrefix("alias/"), !keyID.contains(":alias/") else { return true }
        guard let answered = headers["x-amz-server-side-encryption-aws-kms-key-id"] else { return false }
        return answered == keyID || answered.hasSuffix(":key/" + keyID)
    }

    public var description: String {
        switch self {
        case .aes256: "AES256"
        case let .kms(keyID): "aws:kms" + (keyID.map { " (key \($0))" } ?? "")
        }
    }
}
