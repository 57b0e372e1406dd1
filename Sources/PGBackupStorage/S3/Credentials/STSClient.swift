import Foundation

/// The two STS actions the credential sources use, over STS's query API: unsigned
/// `AssumeRoleWithWebIdentity` (the token is the credential) and `AssumeRole` signed by the
/// source profile's credentials.
struct STSClient: Sendable {
    var endpoint: String
    var region: String
    var http: CredentialHTTP

    /// `https://sts.REGION.amazonaws.com`, or the configured endpoint without a trailing `/`.
    init(settings: S3CredentialSettings, source: S3CredentialSource) {
        var endpoint = settings.stsEndpoint ?? "https://sts.\(settings.region).amazonaws.com"
        while endpoint.hasSuffix("/") { endpoint.removeLast() }
        self.endpoint = endpoint
        region = settings.region
        http = CredentialHTTP(source: source, caFile: settings.caFile)
    }

    func assumeRoleWithWebIdentity(roleARN: String, sessionName: String, token: String) async throws(S3CredentialError) -> S3Credentials {
        let form = S3URL.canonicalQuery([
            ("Action", "AssumeRoleWithWebIdentity"), ("Version", "2011-06-15"), ("RoleArn", roleARN),
            ("RoleSessionName", sessionName), ("WebIdentityToken", token),
        ])
        let request = S3HTTPRequest(
            method: .post, url: endpoint + "/", headers: [("Content-Type", "application/x-www-form-urlencoded; charset=utf-8"), ("Accept", "application/xml")],
            body: Array(form.utf8), responseLimit: 1 << 20)
        return try await credentials(from: request, signing: nil, action: "AssumeRoleWithWebIdentity", roleARN: roleARN)
    }

    /// `AssumeRole`, a form signed (SigV4, service `sts`) by the source profile's credentials.
    func assumeRole(roleARN: String, sessionName: String, externalID: String?, with credentials: S3Credentials) async throws(S3CredentialError) -> S3Credentials {
        var form = [("Action", "AssumeRole"), ("Version", "2011-06-15"), ("RoleArn", roleARN), ("RoleSessionName", sessionName)]
        if let externalID { form.append(("ExternalId", externalID)) }
        let request = S3HTTPRequest(
            method: .post, url: endpoint + "/", headers: [("Content-Type", "application/x-www-form-urlencoded; charset=utf-8"), ("Accept", "application/xml")],
            body: Array(S3URL.canonicalQuery(form).utf8), responseLimit: 1 << 20)
        return try await self.credentials(
            from: request, signing: .init(credentials: credentials, region: region, service: "sts"), action: "AssumeRole", roleARN: roleARN)
    }

    private func credentials(from request: S3HTTPRequest, signing: CurlEasyHandle.Signing?, action: String, roleARN: String) async throws(S3CredentialError) -> S3Credentials {
        let response = try await http.send(request, signing: signing, endpoint: endpoint)
        let who = "STS at \(endpoint) (\(action) of \(roleARN))"
        guard response.isSuccess else { throw .refused(source: http.source, by: who, answer: CredentialHTTP.summary(response)) }
        guard let document = S3XMLElement.parse(response.body),
              let result = document.child("\(action)Result"), let found = result.child("Credentials")
        else { throw .invalidAnswer(source: http.source, from: who, reason: "no \(action)Result with Credentials") }
        guard let keyID = found.value("AccessKeyId"), let secret = found.value("SecretAccessKey"), !keyID.isEmpty, !secret.isEmpty else {
            throw .invalidAnswer(source: http.source, from: who, reason: "Credentials without AccessKeyId and SecretAccessKey")
        }
        let expiration = found.value("Expiration").flatMap(CredentialDates.parse)
        return S3Credentials(accessKeyID: keyID, secretAccessKey: secret, sessionToken: found.value("SessionToken"), expiration: expiration)
    }
}
