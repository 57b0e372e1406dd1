import Foundation

/// Credentials for S3 request signing. The secret and the session token never appear in a
/// description: printing a configuration or an error cannot leak them.
public struct S3Credentials: Sendable, Hashable, CustomStringConvertible {
    public var accessKeyID: String
    public var secretAccessKey: String
    /// The token of temporary credentials (`AWS_SESSION_TOKEN`), sent as `x-amz-security-token`.
    public var sessionToken: String?
    /// When temporary credentials stop working; nil for long-lived keys.
    public var expiration: Date?

    public init(accessKeyID: String, secretAccessKey: String, sessionToken: String? = nil, expiration: Date? = nil) {
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
        self.expiration = expiration
    }

    public var description: String {
        "access_key_id=\(accessKeyID) secret_access_key=********" + (sessionToken == nil ? "" : " session_token=********")
            + (expiration.map { " expires=\(CredentialDates.format($0))" } ?? "")
    }
}

/// The time format of credential answers: ISO 8601 with `Z` or an offset, with or without
/// fractions (`2026-12-07T22:00:00Z`, `2026-12-07T22:00:00.123+00:00`).
enum CredentialDates {
    static func parse(_ text: String) -> Date? {
        let text = text.trimmingCharacters(in: .whitespaces)
        return (try? Date.ISO8601FormatStyle().parse(text)) ?? (try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(text))
    }

    /// `2026-12-07T22:00:00Z`.
    static func format(_ date: Date) -> String { date.formatted(Date.ISO8601FormatStyle()) }
}
