/// Why a storage operation failed. Descriptions name the object and the store, never a secret.
public enum StorageError: Error, Sendable, CustomStringConvertible, Equatable {
    /// The object does not exist.
    case notFound(key: String, store: String)
    /// A create-if-absent put (`commit(ifAbsent: true)`) found the key taken; the existing
    /// object was left as it was.
    case alreadyExists(key: String, store: String)
    /// The key is not a valid object key.
    case invalidKey(String, reason: String)
    /// A whole-object read went past its limit.
    case tooLarge(key: String, limit: Int, store: String)
    /// The store's location itself is unusable (missing directory, no permission, bad URL).
    case unusableStore(store: String, reason: String)
    /// An operation on one object failed.
    case failed(operation: String, key: String, store: String, reason: String)

    public var description: String {
        switch self {
        case let .notFound(key, store):
            "object '\(key)' does not exist in \(store)"
        case let .alreadyExists(key, store):
            "unable to create '\(key)' in \(store): an object of that name exists already"
        case let .invalidKey(key, reason):
            "invalid object key '\(key)': \(reason)"
        case let .tooLarge(key, limit, store):
            "unable to read '\(key)' from \(store): larger than \(limit) bytes"
        case let .unusableStore(store, reason):
            "unable to use repository \(store): \(reason)"
        case let .failed(operation, key, store, reason):
            "unable to \(operation) '\(key)' in \(store): \(reason)"
        }
    }
}

/// Checks the shape every store accepts: relative, `/`-separated, no empty/`.`/`..` parts.
public func validateObjectKey(_ key: String) throws(StorageError) {
    guard !key.isEmpty else { throw .invalidKey(key, reason: "empty") }
    guard !key.hasPrefix("/") else { throw .invalidKey(key, reason: "must not start with '/'") }
    for component in key.split(separator: "/", omittingEmptySubsequences: false) {
        if component.isEmpty { throw .invalidKey(key, reason: "empty path component") }
        if component == "." || component == ".." { throw .invalidKey(key, reason: "'.' and '..' are not allowed") }
    }
    guard !key.utf8.contains(0) else { throw .invalidKey(key, reason: "NUL byte") }
}
