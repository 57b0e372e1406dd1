import Foundation
import PGBackupFoundations
import Synchronization

/// A named profile of the shared AWS files, resolved the way the SDKs do: a role to assume
/// (`role_arn` with `source_profile`, `credential_source` or `web_identity_token_file`), else
/// static keys, else `credential_process`. Source profiles chain (at most five deep, no cycles).
struct ProfileCredentialProvider: S3CredentialProvider {
    var name: String
    var files: SharedConfigFiles
    var settings: S3CredentialSettings
    var source: S3CredentialSource { .profile }
    var detail: String { "profile '\(name)' of \(files.credentialsFile) and \(files.configFile)" }

    func fetch() async throws(S3CredentialError) -> S3Credentials {
        try await credentials(for: name, visited: [])
    }

    private func credentials(for name: String, visited: [String]) async throws(S3CredentialError) -> S3Credentials {
        guard let profile = files.profile(name) else {
            throw .notConfigured(source: source, reason: "profile '\(name)' is in neither \(files.credentialsFile) nor \(files.configFile)")
        }
        let path = (visited + [name]).joined(separator: " → ")
        if let roleARN = profile["role_arn"] {
            guard visited.count < 5, !visited.contains(name) || profile["source_profile"] == name else {
                throw .notConfigured(source: source, reason: "the source profiles of '\(self.name)' form a loop or a chain longer than five: \(path)")
            }
            let sts = STSClient(settings: settings, source: source)
            let sessionName = profile["role_session_name"] ?? defaultSessionName()
            if let tokenFile = profile["web_identity_token_file"] {
                return try await WebIdentityCredentialProvider(roleARN: roleARN, tokenFile: tokenFile, sessionName: sessionName, sts: sts).fetch()
            }
            let base: S3Credentials
            if let sourceProfile = profile["source_profile"] {
                if sourceProfile == name {
                    // A profile that is its own source: its own static keys sign the AssumeRole.
                    base = try staticKeys(profile, name: name)
                } else {
                    base = try await credentials(for: sourceProfile, visited: visited + [name])
                }
            } else if let credentialSource = profile["credential_source"] {
                base = try await fromCredentialSource(credentialSource, profile: name)
            } else {
                throw .notConfigured(source: source, reason: "profile '\(name)' has role_arn but neither source_profile, credential_source nor web_identity_token_file")
            }
            return try await sts.assumeRole(roleARN: roleARN, sessionName: sessionName, externalID: profile["external_id"], with: base)
        }
        if profile["aws_access_key_id"] != nil { return try staticKeys(profile, name: name) }
        if let command = profile["credential_process"] { return try await CredentialProcess(command: command, profile: name).run() }
        throw .notConfigured(source: source, reason: "profile '\(name)' has no aws_access_key_id, role_arn or credential_process (\(path))")
    }

    private func staticKeys(_ profile: [String: String], name: String) throws(S3CredentialError) -> S3Credentials {
        guard let keyID = profile["aws_access_key_id"], !keyID.isEmpty, let secret = profile["aws_secret_access_key"], !secret.isEmpty else {
            throw .notConfigured(source: source, reason: "profile '\(name)' has no aws_access_key_id and aws_secret_access_key")
        }
        return S3Credentials(accessKeyID: keyID, secretAccessKey: secret, sessionToken: profile["aws_session_token"])
    }

    private func fromCredentialSource(_ name: String, profile: String) async throws(S3CredentialError) -> S3Credentials {
        switch name {
        case "Environment":
            guard let keys = settings.staticKeys else {
                throw .notConfigured(source: source, reason: "profile '\(profile)' takes its keys from the environment, which has no AWS_ACCESS_KEY_ID")
            }
            return keys
        case "Ec2InstanceMetadata":
            return try await InstanceMetadataCredentialProvider(
                endpoint: S3CredentialChain.metadataEndpoint(settings), http: S3CredentialChain.metadataHTTP(settings)).fetch()
        case "EcsContainer":
            guard let uri = settings.containerCredentialsURI else {
                throw .notConfigured(source: source, reason: "profile '\(profile)' uses the container endpoint, but AWS_CONTAINER_CREDENTIALS_RELATIVE_URI and _FULL_URI are unset")
            }
            return try await ContainerCredentialProvider(
                uri: uri, authorizationTokenFile: settings.containerAuthorizationTokenFile, authorizationToken: settings.containerAuthorizationToken,
                http: CredentialHTTP(source: .profile, caFile: settings.caFile)).fetch()
        default:
            throw .notConfigured(source: source, reason: "profile '\(profile)' has credential_source = \(name); expected Environment, Ec2InstanceMetadata or EcsContainer")
        }
    }
}

/// `credential_process`: a command (run by `/bin/sh -c`, as the SDKs do on Unix) that prints
/// `{"Version": 1, "AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration"}`.
struct CredentialProcess: Sendable {
    var command: String
    var profile: String

    func run() async throws(S3CredentialError) -> S3Credentials {
        let who = "credential_process of profile '\(profile)'"
        let command = self.command
        let outcome: (status: Int32, output: Data, errors: Data)
        do {
            outcome = try await BlockingIO.runLong { () throws -> (Int32, Data, Data) in
                let process = Process()
                process.executableURL = URL(fileURLWithPath: "/bin/sh")
                process.arguments = ["-c", command]
                let output = Pipe(), errors = Pipe()
                process.standardOutput = output
                process.standardError = errors
                process.standardInput = FileHandle.nullDevice
                try process.run()
                // Both pipes are drained before the wait, so a chatty process cannot block on a
                // full pipe; standard error is read on another thread.
                let errorBytes = Mutex<Data>(Data())
                let drained = DispatchGroup()
                DispatchQueue.global().async(group: drained) { errorBytes.withLock { $0 = errors.fileHandleForReading.readDataToEndOfFile() } }
                let data = output.fileHandleForReading.readDataToEndOfFile()
                process.waitUntilExit()
                drained.wait()
                return (process.terminationStatus, data, errorBytes.withLock { $0 })
            }
        } catch {
            throw .unreachable(source: .profile, endpoint: who, reason: "unable to start /bin/sh: \(error)")
        }
        guard outcome.status == 0 else {
            // Its standard error, never its output: the output may hold half a secret.
            let said = String(decoding: outcome.errors.prefix(300), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            throw .refused(source: .profile, by: who, answer: "exit status \(outcome.status)" + (said.isEmpty ? "" : ": \(said)"))
        }
        let document = try? JSONDecoder().decode(CredentialJSON.self, from: outcome.output)
        if let version = document?.Version, version != 1 {
            throw .invalidAnswer(source: .profile, from: who, reason: "Version \(version); expected 1")
        }
        return try CredentialJSON.credentials(Array(outcome.output), source: .profile, from: who)
    }
}
