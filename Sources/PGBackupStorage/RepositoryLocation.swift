/// Where a repository lives, parsed from `PGBACKUP_REPO` / `repository:`.
public enum RepositoryLocation: Sendable, Hashable, CustomStringConvertible {
    /// `file:///absolute/path`
    case file(path: String)
    /// `s3://bucket/optional/prefix`
    case s3(bucket: String, prefix: String)

    /// Parses `file:///path` or `s3://bucket[/prefix]`; the error says what is accepted.
    public init(parsing text: String) throws(RepositoryLocationError) {
        if text.hasPrefix("file://") {
            let path = String(text.dropFirst("file://".count))
            guard path.hasPrefix("/") else {
                throw RepositoryLocationError(text: text, reason: "a file repository needs an absolute path, e.g. file:///var/lib/pgbackup")
            }
            guard !path.split(separator: "/").contains(where: { $0 == ".." }) else {
                throw RepositoryLocationError(text: text, reason: "'..' is not allowed in the path")
            }
            self = .file(path: path)
        } else if text.hasPrefix("s3://") {
            let rest = text.dropFirst("s3://".count)
            let bucket = rest.prefix(while: { $0 != "/" })
            guard (3...63).contains(bucket.count),
                  bucket.allSatisfy({ $0.isLowercase || $0.isNumber || $0 == "-" || $0 == "." }),
                  bucket.first!.isLetter || bucket.first!.isNumber
            else {
                throw RepositoryLocationError(text: text, reason: "'\(bucket)' is not a valid S3 bucket name (3–63 lower-case letters, digits, '-' or '.')")
            }
            var prefix = String(rest.dropFirst(bucket.count))
            while prefix.hasPrefix("/") { prefix.removeFirst() }
            while prefix.hasSuffix("/") { prefix.removeLast() }
            self = .s3(bucket: String(bucket), prefix: prefix)
        } else {
            throw RepositoryLocationError(text: text, reason: "expected file:///absolute/path or s3://bucket/prefix")
        }
    }

    public var description: String {
        switch self {
        case let .file(path): "file://" + path
        case let .s3(bucket, prefix): prefix.isEmpty ? "s3://\(bucket)" : "s3://\(bucket)/\(prefix)"
        }
    }
}

/// A repository URL that cannot be used.
public struct RepositoryLocationError: Error, Sendable, CustomStringConvertible {
    public var text: String
    public var reason: String
    public var description: String { "invalid repository '\(text)': \(reason)" }
}
