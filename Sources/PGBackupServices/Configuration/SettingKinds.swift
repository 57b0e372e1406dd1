import PGBackupFoundations
import PGBackupStorage

/// What a setting's text must be, and the value it becomes. The file and the environment give
/// text alike (Yams hands every YAML scalar over as its text: `true` and `5` included), so both
/// go through the same `parse`.
protocol SettingKind {
    associatedtype Value: Sendable
    /// The value, or the reason the text is not one (what is allowed).
    static func parse(_ text: String) throws(InvalidSettingText) -> Value
    /// Whether the text is a secret, never to be echoed in an error.
    static var isSecret: Bool { get }
}

extension SettingKind {
    static var isSecret: Bool { false }
}

/// Why a setting's text is refused: what is allowed instead.
public struct InvalidSettingText: Error {
    public var reason: String
}

/// A setting of the configuration file, decoded by Yams and parsed by its kind.
struct FileValue<Kind: SettingKind>: Decodable {
    let value: Kind.Value

    init(from decoder: any Decoder) throws {
        let text: String
        do {
            text = try decoder.singleValueContainer().decode(String.self)
        } catch {
            throw InvalidFileValue(codingPath: decoder.codingPath, text: nil, reason: "expected a single value (text, number or true/false)")
        }
        do {
            value = try Kind.parse(text)
        } catch {
            throw InvalidFileValue(codingPath: decoder.codingPath, text: Kind.isSecret ? nil : text, reason: error.reason)
        }
    }
}

/// A value of the file that its kind refused; `text` is nil when it is not to be shown (a secret,
/// or not a single value).
struct InvalidFileValue: Error {
    var codingPath: [any CodingKey]
    var text: String?
    var reason: String
}

// MARK: the kinds

/// Any text.
enum TextSetting: SettingKind {
    static func parse(_ text: String) -> String { text }
}

/// Any text, never shown.
enum SecretSetting: SettingKind {
    static func parse(_ text: String) -> Secret { Secret(text) }
    static var isSecret: Bool { true }
}

enum RepositorySetting: SettingKind {
    static func parse(_ text: String) throws(InvalidSettingText) -> RepositoryLocation {
        do { return try RepositoryLocation(parsing: text) } catch { throw InvalidSettingText(reason: error.reason) }
    }
}

enum SlotSetting: SettingKind {
    static func parse(_ text: String) throws(InvalidSettingText) -> String {
        guard !text.isEmpty, text.count <= 63,
              text.allSatisfy({ ($0.isASCII && ($0.isLowercase || $0.isNumber)) || $0 == "_" })
        else { throw InvalidSettingText(reason: "a replication slot name is 1–63 lower-case letters, digits or '_'") }
        return text
    }
}

enum CompressionSetting: SettingKind {
    static func parse(_ text: String) throws(InvalidSettingText) -> Compression {
        do { return try Compression(parsing: text) } catch {
            throw InvalidSettingText(reason: "expected zstd, gzip or none, optionally with a level: zstd:1…19, gzip:1…9 (e.g. zstd:3)")
        }
    }
}

enum AbsolutePathSetting: SettingKind {
    static func parse(_ text: String) throws(InvalidSettingText) -> String {
        guard text.hasPrefix("/") else { throw InvalidSettingText(reason: "expected an absolute path") }
        return text
    }
}

enum PostgresBindirSetting: SettingKind {
    static func parse(_ text: String) throws(InvalidSettingText) -> PostgresBindirs {
        try PostgresBindirs(parsing: text)
    }
}

enum ListenAddressSetting: SettingKind {
    static func parse(_ text: String) throws(InvalidSettingText) -> String {
        guard HTTPListenAddress(parsing: text) != nil else {
            throw InvalidSettingText(reason: "expected HOST:PORT with a port from 1 to 65535, e.g. 127.0.0.1:9187, 0.0.0.0:9187 or [::1]:9187")
        }
        return text
    }
}

enum LogLevelSetting: SettingKind {
    static let levels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]
    static func parse(_ text: String) throws(InvalidSettingText) -> String {
        guard levels.contains(text) else { throw InvalidSettingText(reason: "expected one of \(levels.joined(separator: ", "))") }
        return text
    }
}

enum LogFormatSetting: SettingKind {
    static func parse(_ text: String) throws(InvalidSettingText) -> String {
        guard LogFormat(rawValue: text) != nil else { throw InvalidSettingText(reason: "expected text or json") }
        return text
    }
}

enum HTTPURLSetting: SettingKind {
    static func parse(_ text: String) throws(InvalidSettingText) -> String {
        guard text.hasPrefix("https://") || text.hasPrefix("http://") else {
            throw InvalidSettingText(reason: "expected an http:// or https:// URL")
        }
        return text
    }
}

enum FlagSetting: SettingKind {
    static func parse(_ text: String) throws(InvalidSettingText) -> Bool {
        switch text.lowercased() {
        case "true", "yes", "on", "1": return true
        case "false", "no", "off", "0": return false
        default: throw InvalidSettingText(reason: "expected true or false")
        }
    }
}

enum CredentialSourceSetting: SettingKind {
    static func parse(_ text: String) throws(InvalidSettingText) -> S3CredentialSource {
        guard let source = S3CredentialSource(rawValue: text) else {
            throw InvalidSettingText(reason: "expected one of \(S3CredentialSource.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return source
    }
}

enum ServerSideEncryptionSetting: SettingKind {
    /// The algorithm alone; the KMS key is `sse_kms_key_id`.
    static func parse(_ text: String) throws(InvalidSettingText) -> S3ServerSideEncryption {
        switch text {
        case "AES256": return .aes256
        case "aws:kms": return .kms(keyID: nil)
        default: throw InvalidSettingText(reason: "expected AES256 or aws:kms")
        }
    }
}
