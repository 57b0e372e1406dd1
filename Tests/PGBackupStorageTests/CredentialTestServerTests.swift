import Foundation
import PGBackupTestSupport
import Testing

/// The test servers for the AWS credential chain (moto's STS, KMS and S3 as patched by
/// scripts/moto-server.py, and scripts/credential-endpoint.py) answer as AWS does. Driven through
/// python3 + boto3 and plain HTTP, never through pgbackup's own client, so that a fault here is
/// the server's.
@Suite("credential test servers", .serialized)
struct CredentialTestServerTests {
    /// Runs `body` (python, after a preamble) with `sys.argv[1]` the moto endpoint and
    /// `sys.argv[2...]` `arguments`; returns the `out` dictionary the script fills. The preamble's
    /// `attempt(name, f)` records "ok" or "STATUS CODE: MESSAGE" under `name`.
    func python(_ body: String, _ arguments: [String] = [], moto: MotoServer,
                environment extra: [String: String]? = nil) async throws -> [String: String] {
        let preamble = """
            import base64, json, sys, time, urllib.error, urllib.request
            import boto3, botocore, botocore.config
            endpoint = sys.argv[1]
            out = {}
            def attempt(name, f):
                try:
                    result = f()
                    out[name] = "ok"
                    return result
                except botocore.exceptions.ClientError as e:
                    out[name] = f'{e.response["ResponseMetadata"]["HTTPStatusCode"]} {e.response["Error"]["Code"]}: {e.response["Error"].get("Message", "")}'
            def client(service, credentials=None, unsigned=False, secret=None):
                options = {"endpoint_url": endpoint, "region_name": "us-east-1"}
                if unsigned:
                    options["config"] = botocore.config.Config(signature_version=botocore.UNSIGNED)
                if credentials is not None:
                    options.update(aws_access_key_id=credentials["AccessKeyId"],
                                   aws_secret_access_key=secret or credentials["SecretAccessKey"],
                                   aws_session_token=credentials.get("SessionToken") or credentials.get("Token"))
                return boto3.client(service, **options)
            def http(method, url, headers={}):
                request = urllib.request.Request(url, method=method, headers=headers)
                try:
                    with urllib.request.urlopen(request) as response:
                        return response.status, response.read().decode()
                except urllib.error.HTTPError as e:
                    return e.code, e.read().decode()

            """
        var environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("AWS_") }
        if let extra {
            environment.merge(extra) { $1 }
        } else {
            environment["AWS_ACCESS_KEY_ID"] = moto.accessKeyID
            environment["AWS_SECRET_ACCESS_KEY"] = moto.secretAccessKey
        }
        let result = try await runProcess("/usr/bin/env", ["python3", "-c", preamble + body + "\nprint(json.dumps(out))\n", moto.endpoint] + arguments,
                                          environment: environment, timeout: .seconds(120)).checked()
        let lastLine = result.standardOutput.split(separator: "\n").last.map(String.init) ?? ""
        guard let out = try? JSONSerialization.jsonObject(with: Data(lastLine.utf8)) as? [String: String] else {
            Issue.record("the script printed no result\n\(result.standardOutput)\n\(result.standardError)")
            return [:]
        }
        return out
    }

    func uniqueName(_ prefix: String) -> String {
        "\(prefix)-\(UUID().uuidString.prefix(8).lowercased())"
    }

    func writeTokenFile(_ token: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("pgbackup-token-\(UUID().uuidString)").path
        try Data(token.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    // MARK: STS AssumeRoleWithWebIdentity

    @Test func webIdentityCredentialsFromBotocoresOwnChainSignAnS3PutThatMotoChecks() async throws {
        let moto = try await MotoServer.shared()
        let roleName = uniqueName("web")
        let role = try await moto.createRole(name: roleName)
        let tokenFile = try writeTokenFile(WebIdentityToken.make(expiresAt: Date().addingTimeInterval(600)))
        defer { try? FileManager.default.removeItem(atPath: tokenFile) }
        // botocore's own credential chain: no keys, only the token file and the role.
        let out = try await python("""
            session = boto3.session.Session(region_name="us-east-1")
            s3 = session.client("s3", endpoint_url=endpoint)
            attempt("put", lambda: s3.put_object(Bucket=sys.argv[2], Key=sys.argv[3], Body=b"signed by the role"))
            out["caller"] = session.client("sts", endpoint_url=endpoint).get_caller_identity()["Arn"]
            credentials = session.get_credentials().get_frozen_credentials()
            forged = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=credentials.access_key,
                                  aws_secret_access_key="wrong" + credentials.secret_key, aws_session_token=credentials.token)
            attempt("wrong secret", lambda: forged.head_object(Bucket=sys.argv[2], Key=sys.argv[3]))
            """, [moto.bucket, uniqueName("web-identity")], moto: moto,
            environment: ["AWS_WEB_IDENTITY_TOKEN_FILE": tokenFile, "AWS_ROLE_ARN": role, "AWS_ROLE_SESSION_NAME": "pgbackup-test",
                          "AWS_ENDPOINT_URL_STS": moto.endpoint,
                          "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"])
        #expect(out["put"] == "ok")
        #expect(out["caller"]?.hasSuffix(":assumed-role/\(roleName)/pgbackup-test") == true)
        #expect(out["wrong secret"]?.hasPrefix("403 ") == true)
    }

    @Test func anExpiredOrMalformedWebIdentityTokenIsRefusedAsSTSRefusesIt() async throws {
        let moto = try await MotoServer.shared()
        let role = try await moto.createRole(name: uniqueName("web"))
        let expired = try writeTokenFile(WebIdentityToken.make(expiresAt: Date().addingTimeInterval(-60)))
        defer { try? FileManager.default.removeItem(atPath: expired) }
        let out = try await python("""
            sts = client("sts", unsigned=True)
            token = open(sys.argv[3]).read()
            attempt("expired", lambda: sts.assume_role_with_web_identity(RoleArn=sys.argv[2], RoleSessionName="s1", WebIdentityToken=token))
            attempt("malformed", lambda: sts.assume_role_with_web_identity(RoleArn=sys.argv[2], RoleSessionName="s1", WebIdentityToken="an.opaque-access-token"))
            """, [role, expired], moto: moto)
        #expect(out["expired"]?.hasPrefix("400 ExpiredTokenException: Token expired: current date/time ") == true)
        #expect(out["malformed"] == "400 InvalidIdentityToken: The ID Token provided is not a valid JWT. (You may see this error if you sent an Access Token)")
    }

    @Test func aWebIdentityForAnUnknownRoleIsDenied() async throws {
        let moto = try await MotoServer.shared()
        let token = WebIdentityToken.make(expiresAt: Date().addingTimeInterval(600))
        let out = try await python("""
            sts = client("sts", unsigned=True)
            attempt("unknown", lambda: sts.assume_role_with_web_identity(RoleArn=sys.argv[2], RoleSessionName="s1", WebIdentityToken=sys.argv[3]))
            """, ["arn:aws:iam::123456789012:role/\(uniqueName("nobody"))", token], moto: moto)
        #expect(out["unknown"] == "403 AccessDenied: Not authorized to perform sts:AssumeRoleWithWebIdentity")
    }

    // MARK: STS AssumeRole and credential lifetime

    @Test func assumeRoleSignedWithTheUsersKeysWorksAndAWrongSecretIsRefused() async throws {
        let moto = try await MotoServer.shared()
        let role = try await moto.createRole(name: uniqueName("assume"))
        let out = try await python("""
            answer = attempt("assume", lambda: client("sts").assume_role(RoleArn=sys.argv[2], RoleSessionName="s1"))
            out["caller"] = client("sts", answer["Credentials"]).get_caller_identity()["Arn"]
            user = {"AccessKeyId": boto3.session.Session().get_credentials().access_key, "SecretAccessKey": "wrong"}
            attempt("wrong secret", lambda: client("sts", user).assume_role(RoleArn=sys.argv[2], RoleSessionName="s1"))
            """, [role], moto: moto)
        #expect(out["assume"] == "ok")
        #expect(out["caller"]?.contains(":assumed-role/") == true)
        #expect(out["wrong secret"]?.hasPrefix("403 SignatureDoesNotMatch") == true)
    }

    @Test func credentialsPastTheirLifetimeAreRefusedWithExpiredToken() async throws {
        try await withMotoServer(credentialLifetime: .seconds(3)) { moto in
            let role = try await moto.createRole(name: "short-lived")
            let token = WebIdentityToken.make(expiresAt: Date().addingTimeInterval(600))
            // Waits for the expiration the server announced, then one more second: the server's
            // own clock decides, not a guess at how long the first requests took.
            let out = try await python("""
                answer = client("sts", unsigned=True).assume_role_with_web_identity(RoleArn=sys.argv[2], RoleSessionName="s1", WebIdentityToken=sys.argv[3])
                answered = time.time()  # after the server issued them, however long that took
                credentials = answer["Credentials"]
                out["lifetime within 3 s"] = str(credentials["Expiration"].timestamp() <= answered + 3 + 1)
                s3 = client("s3", credentials)
                attempt("put before", lambda: s3.put_object(Bucket=sys.argv[4], Key="before", Body=b"x"))
                time.sleep(max(0, credentials["Expiration"].timestamp() - time.time()) + 1)
                attempt("put after", lambda: s3.put_object(Bucket=sys.argv[4], Key="after", Body=b"x"))
                attempt("assume after", lambda: client("sts", credentials).assume_role(RoleArn=sys.argv[2], RoleSessionName="s2"))
                """, [role, token, moto.bucket], moto: moto)
            #expect(out["lifetime within 3 s"] == "True")
            #expect(out["put before"] == "ok")
            #expect(out["put after"] == "400 ExpiredToken: The provided token has expired.")
            #expect(out["assume after"] == "403 ExpiredToken: The security token included in the request is expired")
        }
    }

    // MARK: SSE-KMS

    @Test func sseKMSWithAKnownKeyIsStoredAndShownAndAnUnknownKeyIsRefused() async throws {
        let moto = try await MotoServer.shared()
        let alias = "alias/\(uniqueName("pgbackup"))"
        let key = try await moto.createKMSKey(alias: alias)
        let out = try await python("""
            s3 = client("s3")
            bucket, key_id, alias, key_arn = sys.argv[2:6]
            attempt("put by id", lambda: s3.put_object(Bucket=bucket, Key="sse/id", Body=b"x", ServerSideEncryption="aws:kms", SSEKMSKeyId=key_id))
            head = s3.head_object(Bucket=bucket, Key="sse/id")
            out["head encryption"] = head.get("ServerSideEncryption", "")
            out["head key"] = head.get("SSEKMSKeyId", "")
            attempt("put by alias", lambda: s3.put_object(Bucket=bucket, Key="sse/alias", Body=b"x", ServerSideEncryption="aws:kms", SSEKMSKeyId=alias))
            attempt("put by arn", lambda: s3.put_object(Bucket=bucket, Key="sse/arn", Body=b"x", ServerSideEncryption="aws:kms", SSEKMSKeyId=key_arn))
            attempt("multipart by id", lambda: s3.create_multipart_upload(Bucket=bucket, Key="sse/mp", ServerSideEncryption="aws:kms", SSEKMSKeyId=key_id))
            attempt("put unknown", lambda: s3.put_object(Bucket=bucket, Key="sse/unknown", Body=b"x", ServerSideEncryption="aws:kms", SSEKMSKeyId="no-such-key"))
            attempt("multipart unknown", lambda: s3.create_multipart_upload(Bucket=bucket, Key="sse/unknown", ServerSideEncryption="aws:kms", SSEKMSKeyId="alias/no-such-alias"))
            attempt("other region", lambda: s3.put_object(Bucket=bucket, Key="sse/unknown", Body=b"x", ServerSideEncryption="aws:kms", SSEKMSKeyId=key_arn.replace(":us-east-1:", ":eu-west-1:")))
            out["unknown stored"] = str(any(o["Key"] == "sse/unknown" for o in s3.list_objects_v2(Bucket=bucket, Prefix="sse/").get("Contents", [])))
            """, [moto.bucket, key.keyID, alias, key.arn], moto: moto)
        #expect(out["put by id"] == "ok")
        #expect(out["head encryption"] == "aws:kms")
        #expect(out["head key"] == key.keyID)
        #expect(out["put by alias"] == "ok")
        #expect(out["put by arn"] == "ok")
        #expect(out["multipart by id"] == "ok")
        #expect(out["put unknown"] == "400 KMS.NotFoundException: Invalid keyId no-such-key")
        #expect(out["multipart unknown"] == "400 KMS.NotFoundException: Invalid keyId alias/no-such-alias")
        #expect(out["other region"]?.hasPrefix("400 KMS.NotFoundException") == true)
        #expect(out["unknown stored"] == "False")
    }

    // MARK: EC2 instance metadata

    @Test func imdsV2ServesCredentialsOnlyWithASessionToken() async throws {
        let moto = try await MotoServer.shared()
        let roleName = uniqueName("instance")
        let role = try await moto.createRole(name: roleName)
        try await withCredentialEndpoint(mode: .instanceMetadata(v1Only: false), moto: moto, roleARN: role) { imds in
            let out = try await python("""
                base = sys.argv[2] + "/latest/"
                status, token = http("PUT", base + "api/token", {"X-aws-ec2-metadata-token-ttl-seconds": "60"})
                out["token"] = str(status)
                out["bad ttl"] = str(http("PUT", base + "api/token", {"X-aws-ec2-metadata-token-ttl-seconds": "21601"})[0])
                out["no ttl"] = str(http("PUT", base + "api/token")[0])
                out["list without token"] = str(http("GET", base + "meta-data/iam/security-credentials/")[0])
                out["list with wrong token"] = str(http("GET", base + "meta-data/iam/security-credentials/", {"X-aws-ec2-metadata-token": "forged"})[0])
                status, role = http("GET", base + "meta-data/iam/security-credentials/", {"X-aws-ec2-metadata-token": token})
                out["role"] = f"{status} {role}"
                status, document = http("GET", base + "meta-data/iam/security-credentials/" + role, {"X-aws-ec2-metadata-token": token})
                credentials = json.loads(document)
                out["document"] = f'{status} {credentials["Code"]} {credentials["Type"]} {sorted(credentials)}'
                out["caller"] = client("sts", credentials).get_caller_identity()["Arn"]
                """, [imds.endpoint], moto: moto)
            #expect(out["token"] == "200")
            #expect(out["bad ttl"] == "400")
            #expect(out["no ttl"] == "400")
            #expect(out["list without token"] == "401")
            #expect(out["list with wrong token"] == "401")
            #expect(out["role"] == "200 \(roleName)")
            #expect(out["document"] == "200 Success AWS-HMAC ['AccessKeyId', 'Code', 'Expiration', 'LastUpdated', 'SecretAccessKey', 'Token', 'Type']")
            #expect(out["caller"]?.contains(":assumed-role/\(roleName)/") == true)
            let counts = try await imds.requestCounts()
            #expect(counts["/latest/api/token"] == 3)
            #expect(counts["/latest/meta-data/iam/security-credentials/\(roleName)"] == 1)
        }
    }

    @Test func imdsV1OnlyRefusesTheTokenAndServesWithoutOne() async throws {
        let moto = try await MotoServer.shared()
        let roleName = uniqueName("instance")
        let role = try await moto.createRole(name: roleName)
        try await withCredentialEndpoint(mode: .instanceMetadata(v1Only: true), moto: moto, roleARN: role) { imds in
            let out = try await python("""
                base = sys.argv[2] + "/latest/"
                out["token"] = str(http("PUT", base + "api/token", {"X-aws-ec2-metadata-token-ttl-seconds": "60"})[0])
                status, document = http("GET", base + "meta-data/iam/security-credentials/" + sys.argv[3])
                out["document"] = str(status)
                out["caller"] = client("sts", json.loads(document)).get_caller_identity()["Arn"]
                """, [imds.endpoint, roleName], moto: moto)
            #expect(out["token"] == "404")
            #expect(out["document"] == "200")
            #expect(out["caller"]?.contains(":assumed-role/\(roleName)/") == true)
        }
    }

    // MARK: Container credentials

    @Test func containerCredentialsNeedExactlyTheAuthorizationToken() async throws {
        let moto = try await MotoServer.shared()
        let role = try await moto.createRole(name: uniqueName("task"))
        try await withCredentialEndpoint(mode: .container(authorizationToken: "Bearer s3cr3t", tokenFile: nil), moto: moto, roleARN: role) { endpoint in
            let out = try await python("""
                uri = sys.argv[2]
                out["missing"] = str(http("GET", uri)[0])
                out["wrong"] = str(http("GET", uri, {"Authorization": "Bearer guess"})[0])
                status, document = http("GET", uri, {"Authorization": "Bearer s3cr3t"})
                credentials = json.loads(document)
                out["right"] = f'{status} {sorted(credentials)} {credentials["RoleArn"]}'
                attempt("put", lambda: client("s3", credentials).put_object(Bucket=sys.argv[3], Key=sys.argv[4], Body=b"x"))
                """, [endpoint.containerURI, moto.bucket, uniqueName("container")], moto: moto)
            #expect(out["missing"] == "401")
            #expect(out["wrong"] == "403")
            #expect(out["right"] == "200 ['AccessKeyId', 'Expiration', 'RoleArn', 'SecretAccessKey', 'Token'] \(role)")
            #expect(out["put"] == "ok")
            #expect(try await endpoint.requestCounts()["/creds"] == 3)
        }
    }

    @Test func containerTokenFileIsReadOnEveryRequest() async throws {
        let moto = try await MotoServer.shared()
        let role = try await moto.createRole(name: uniqueName("pod"))
        let tokenFile = try writeTokenFile("first-token\n")
        defer { try? FileManager.default.removeItem(atPath: tokenFile) }
        try await withCredentialEndpoint(mode: .container(authorizationToken: nil, tokenFile: tokenFile), moto: moto, roleARN: role) { endpoint in
            let out = try await python("""
                uri, token_file = sys.argv[2:4]
                out["first"] = str(http("GET", uri, {"Authorization": "first-token"})[0])
                open(token_file, "w").write("second-token\\n")
                out["first after rotation"] = str(http("GET", uri, {"Authorization": "first-token"})[0])
                out["second after rotation"] = str(http("GET", uri, {"Authorization": "second-token"})[0])
                """, [endpoint.containerURI, tokenFile], moto: moto)
            #expect(out["first"] == "200")
            #expect(out["first after rotation"] == "403")
            #expect(out["second after rotation"] == "200")
        }
    }

    @Test func aSourceSetToFailAnswers500AfterItsQuota() async throws {
        let moto = try await MotoServer.shared()
        let role = try await moto.createRole(name: uniqueName("failing"))
        try await withCredentialEndpoint(mode: .container(authorizationToken: nil, tokenFile: nil), moto: moto, roleARN: role, failAfter: 1) { endpoint in
            let out = try await python("""
                out["first"] = str(http("GET", sys.argv[2])[0])
                out["second"] = str(http("GET", sys.argv[2])[0])
                """, [endpoint.containerURI], moto: moto)
            #expect(out["first"] == "200")
            #expect(out["second"] == "500")
            #expect(try await endpoint.requestCounts()["/creds"] == 2)
        }
    }
}
