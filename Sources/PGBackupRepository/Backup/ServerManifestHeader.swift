import Foundation
import PGBackupFoundations

/// The head of PostgreSQL's own `backup_manifest`: its format version and, from version 2
/// (PostgreSQL 17+), the system identifier of the cluster it describes. The server writes it
/// first, in a fixed form, before the file list:
///
///     { "PostgreSQL-Backup-Manifest-Version": 2,
///     "System-Identifier": 7447335128424424424,
///     "Files": [
///
/// Version 1 (PostgreSQL 13 to 16) has no `System-Identifier`. Only the part before `"Files"`
/// is read: the manifest may be hundreds of MiB, and its checksum is PostgreSQL's business.
public struct ServerManifestHeader: Sendable, Hashable {
    /// `PostgreSQL-Backup-Manifest-Version`: 1 or 2.
    public var version: Int
    /// `System-Identifier` (version 2); nil in version 1.
    public var systemIdentifier: SystemIdentifier?

    /// The versions pgbackup understands.
    public static let supportedVersions = 1...2
    /// How far into the manifest `"Files"` must start.
    static let headLimit = 4096

    public init(version: Int, systemIdentifier: SystemIdentifier?) {
        self.version = version
        self.systemIdentifier = systemIdentifier
    }

    /// Reads the head of `content` (the manifest's bytes).
    ///
    /// - Throws: `ServerManifestError.malformed` when the head is not PostgreSQL's, or the
    ///   version or system identifier is not a number; `.unsupportedVersion` for a version other
    ///   than 1 or 2; `.missingSystemIdentifier` for a version 2 without one.
    public init(parsing content: some Collection<UInt8>) throws(ServerManifestError) {
        let head = String(decoding: content.prefix(Self.headLimit), as: UTF8.self)
        guard head.hasPrefix("{"), let files = head.range(of: "\"Files\"") else {
            throw .malformed("it does not begin with the manifest version and the file list")
        }
        let fields = head[..<files.lowerBound]
        guard let versionText = Self.number(after: "\"PostgreSQL-Backup-Manifest-Version\"", in: fields) else {
            throw .malformed("no PostgreSQL-Backup-Manifest-Version before the file list")
        }
        guard let version = Int(versionText) else { throw .malformed("PostgreSQL-Backup-Manifest-Version \(versionText) is not a number") }
        guard Self.supportedVersions.contains(version) else { throw .unsupportedVersion(version) }
        var systemIdentifier: SystemIdentifier?
        if let text = Self.number(after: "\"System-Identifier\"", in: fields) {
            guard let value = SystemIdentifier(text) else { throw .malformed("System-Identifier \(text) is not a system identifier") }
            systemIdentifier = value
        }
        if version >= 2 && systemIdentifier == nil { throw .missingSystemIdentifier(version: version) }
        self.init(version: version, systemIdentifier: systemIdentifier)
    }

    /// Checks the manifest's system identifier (version 2) against the cluster's: `expected`,
    /// named `source` in the error ("the repository's", "IDENTIFY_SYSTEM's"). A version 1
    /// manifest carries none and passes.
    public func check(systemIdentifier expected: SystemIdentifier, source: String) throws(ServerManifestError) {
        if let systemIdentifier, systemIdentifier != expected {
            throw .systemIdentifierMismatch(manifest: systemIdentifier, expected: expected, source: source)
        }
    }

    /// The digits (or other value characters) after `key` and its colon; nil without the key.
    private static func number(after key: String, in text: Substring) -> String? {
        guard let found = text.range(of: key) else { return nil }
        var rest = text[found.upperBound...].drop { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }
        guard rest.first == ":" else { return "" }
        rest = rest.dropFirst().drop { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }
        return String(rest.prefix { $0 != "," && $0 != "}" && $0 != "\n" && $0 != " " })
    }
}

/// Why the server's `backup_manifest` is not what pgbackup can keep.
public enum ServerManifestError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The head is not PostgreSQL's: what is wrong with it.
    case malformed(String)
    /// A `PostgreSQL-Backup-Manifest-Version` other than 1 or 2.
    case unsupportedVersion(Int)
    /// A version 2 manifest without `System-Identifier`.
    case missingSystemIdentifier(version: Int)
    /// The manifest names another cluster than `expected` (from `source`).
    case systemIdentifierMismatch(manifest: SystemIdentifier, expected: SystemIdentifier, source: String)

    public var description: String {
        switch self {
        case let .malformed(what):
            "the server's backup_manifest is malformed: \(what)"
        case let .unsupportedVersion(version):
            "the server's backup_manifest has PostgreSQL-Backup-Manifest-Version \(version); pgbackup understands versions 1 and 2"
        case let .missingSystemIdentifier(version):
            "the server's backup_manifest (version \(version)) has no System-Identifier"
        case let .systemIdentifierMismatch(manifest, expected, source):
            "the server's backup_manifest names system identifier \(manifest), but \(source) is \(expected)"
        }
    }
}
