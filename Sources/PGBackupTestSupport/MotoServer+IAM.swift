import Foundation

extension MotoServer {
    /// Creates an IAM role that anyone may assume (its trust policy allows `sts:AssumeRole` and
    /// `sts:AssumeRoleWithWebIdentity` to every principal) and that may do everything (an
    /// allow-all inline policy). Returns its ARN.
    public func createRole(name: String) async throws -> String {
        let script = """
            import boto3, json, sys
            iam = boto3.client("iam", endpoint_url=sys.argv[1])
            trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                     "Principal": {"AWS": "*", "Federated": "*"},
                     "Action": ["sts:AssumeRole", "sts:AssumeRoleWithWebIdentity"]}]}
            role = iam.create_role(RoleName=sys.argv[2], AssumeRolePolicyDocument=json.dumps(trust))["Role"]
            allow = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
            iam.put_role_policy(RoleName=sys.argv[2], PolicyName="allow-all", PolicyDocument=json.dumps(allow))
            print(role["Arn"])
            """
        let result = try await runBoto3(script, [name])
        let arn = result.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
        guard result.succeeded, arn.hasPrefix("arn:") else {
            throw MotoServerError.requestFailed(action: "create role '\(name)'", output: result.standardError)
        }
        return arn
    }

    /// Creates a symmetric KMS key in the server's region, and the alias `alias` (`alias/…`) for
    /// it when given.
    public func createKMSKey(alias: String? = nil) async throws -> (keyID: String, arn: String) {
        let script = """
            import boto3, json, sys
            kms = boto3.client("kms", endpoint_url=sys.argv[1])
            key = kms.create_key(Description="pgbackup test key")["KeyMetadata"]
            if len(sys.argv) > 2:
                kms.create_alias(AliasName=sys.argv[2], TargetKeyId=key["KeyId"])
            print(json.dumps({"KeyId": key["KeyId"], "Arn": key["Arn"]}))
            """
        let result = try await runBoto3(script, alias.map { [$0] } ?? [])
        guard result.succeeded,
              let json = try? JSONSerialization.jsonObject(with: result.standardOutputData) as? [String: String],
              let keyID = json["KeyId"], let arn = json["Arn"]
        else {
            throw MotoServerError.requestFailed(action: "create a KMS key" + (alias.map { " with alias '\($0)'" } ?? ""),
                                                output: result.standardError)
        }
        return (keyID, arn)
    }
}
