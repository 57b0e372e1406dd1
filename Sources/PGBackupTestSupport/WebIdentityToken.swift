import Foundation

/// Web identity tokens (the JWTs an EKS service account or another OIDC provider hands out) for
/// the test STS, which checks that a token is a JWT and that its `exp` is in the future, not its
/// signature.
public enum WebIdentityToken {
    /// A JWT with an RS256 header, a payload with `iss`, `sub`, `aud`, `iat` and `exp`
    /// (`expiresAt` in unix seconds) and a placeholder signature.
    public static func make(subject: String = "system:serviceaccount:db:pgbackup", expiresAt: Date) -> String {
        let header: [String: Any] = ["alg": "RS256", "typ": "JWT"]
        let payload: [String: Any] = [
            "iss": "https://oidc.eks.us-east-1.amazonaws.com/id/PGBACKUPTEST",
            "sub": subject,
            "aud": "sts.amazonaws.com",
            "iat": Int(Date().timeIntervalSince1970),
            "exp": Int(expiresAt.timeIntervalSince1970.rounded(.down)),
        ]
        return [base64URL(json(header)), base64URL(json(payload)), base64URL(Data("not-a-real-signature".utf8))]
            .joined(separator: ".")
    }

    private static func json(_ object: [String: Any]) -> Data {
        // Only strings and integers: serialization cannot fail.
        (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
    }

    private static func base64URL(_ data: Data) -> String {
        data.base64EncodedString()
            .replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}
