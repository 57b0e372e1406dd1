import Foundation

/// What a store knows about one stored object.
public struct ObjectInfo: Sendable, Hashable {
    /// The object's key, relative to the store's root: `main/wal/…/000000010000000000000003.zst`.
    public var key: String
    /// Size in bytes, as stored.
    public var size: Int64
    /// When the object was last written, as the store reports it.
    public var modified: Date

    public init(key: String, size: Int64, modified: Date) {
        self.key = key
        self.size = size
        self.modified = modified
    }
}

/// A flat namespace of immutable objects under `/`-separated keys: a repository's only way to
/// reach its bytes. Drivers: `FileObjectStore` (`file://`), and later S3 and an encrypting wrapper.
///
/// Every implementation guarantees:
/// - A put is visible only when complete and durable: a reader sees the whole old object, the
///   whole new object, or nothing — never a prefix. A writer that is aborted, or whose process
///   dies, leaves no visible object.
/// - `head`, `reader` throw `StorageError.notFound` when the object does not exist.
/// - `list(prefix:)` returns every complete object whose key starts with `prefix`, sorted by key.
/// - `delete` of a key that does not exist succeeds.
/// - `commit(ifAbsent: true)` is an exact create-if-absent: of any number of writers of one
///   absent key, in any processes, exactly one succeeds; the others throw
///   `StorageError.alreadyExists` and leave the winner's object as it is.
/// - Keys are validated: no empty, `.` or `..` components, no leading `/` (`StorageError.invalidKey`).
public protocol ObjectStore: Sendable {
    /// The repository location this store serves, without credentials: `file:///srv/backups`.
    var location: String { get }

    /// Starts writing `key`; nothing is visible until `commit()`.
    func writer(for key: String) async throws -> any ObjectWriter

    /// Opens `key` for streaming reads.
    func reader(for key: String) async throws -> any ObjectReader

    /// The object's size and time.
    func head(_ key: String) async throws -> ObjectInfo

    /// Every object whose key starts with `prefix`, sorted by key.
    func list(prefix: String) async throws -> [ObjectInfo]

    /// Removes the objects; keys that do not exist are ignored.
    func delete(_ keys: [String]) async throws
}

/// Streams one object into a store. Owned by one task; not shared.
public protocol ObjectWriter: AnyObject {
    /// Appends bytes to the object being written.
    func write(_ bytes: [UInt8]) async throws
    /// Makes the object visible, complete and durable. Without `ifAbsent`, replaces any object
    /// under the same key; with it, only if there is none: otherwise throws
    /// `StorageError.alreadyExists` and the existing object stays as it was. Either way, the
    /// writer is finished afterwards.
    ///
    /// Durability: when `commit` returns, the object's content and its name survive a crash or a
    /// power loss; a crash before it returns leaves the previous object under the key (or none),
    /// never a prefix of the new one (at worst, for `file://`, a temporary file that
    /// `FileObjectStore.removeAbandonedTemporaryFiles` removes). One named opt-out: a
    /// `file://` put committed (without `ifAbsent`) while a `DeferredDurability` batch is bound
    /// returns with the object neither visible nor durable; it becomes both, whole, when the
    /// batch's `flush()` returns, and a crash (or a batch released unflushed) before then leaves
    /// the key as it was and the put lost: the caller must not refer to it before the flush.
    @discardableResult
    func commit(ifAbsent: Bool) async throws -> ObjectInfo
    /// Discards everything written; the key keeps its previous content (or none).
    func abort() async
}

/// Streams one object out of a store. Owned by one task; not shared.
public protocol ObjectReader: AnyObject {
    /// The next bytes of the object, at most `maxLength`; empty at the end.
    func read(maxLength: Int) async throws -> [UInt8]
    /// Releases the underlying resources; reading afterwards is a programming error.
    func close() async
}

extension ObjectWriter {
    /// `commit(ifAbsent: false)`: makes the object visible, replacing any object under its key.
    @discardableResult
    public func commit() async throws -> ObjectInfo { try await commit(ifAbsent: false) }
}

extension ObjectStore {
    /// Stores `bytes` under `key` in one atomic put.
    @discardableResult
    public func put(_ key: String, bytes: [UInt8]) async throws -> ObjectInfo {
        try await put(key, bytes: bytes, ifAbsent: false)
    }

    /// Stores `bytes` under `key` only if no object has that key: `StorageError.alreadyExists`
    /// otherwise, and the existing object stays as it was (see `ObjectWriter.commit(ifAbsent:)`).
    @discardableResult
    public func putIfAbsent(_ key: String, bytes: [UInt8]) async throws -> ObjectInfo {
        try await put(key, bytes: bytes, ifAbsent: true)
    }

    private func put(_ key: String, bytes: [UInt8], ifAbsent: Bool) async throws -> ObjectInfo {
        let writer = try await writer(for: key)
        do {
            try await writer.write(bytes)
            return try await writer.commit(ifAbsent: ifAbsent)
        } catch {
            await writer.abort()
            throw error
        }
    }

    /// Reads a whole small object (a manifest, a JSON document) into memory.
    /// Throws `StorageError.tooLarge` past `limit` bytes, so memory stays bounded.
    public func get(_ key: String, limit: Int = 64 << 20) async throws -> [UInt8] {
        let reader = try await reader(for: key)
        var result: [UInt8] = []
        do {
            while true {
                let piece = try await reader.read(maxLength: 1 << 20)
                if piece.isEmpty { break }
                result += piece
                if result.count > limit { throw StorageError.tooLarge(key: key, limit: limit, store: location) }
            }
        } catch {
            await reader.close()
            throw error
        }
        await reader.close()
        return result
    }

    /// Whether `key` exists.
    public func exists(_ key: String) async throws -> Bool {
        do {
            _ = try await head(key)
            return true
        } catch StorageError.notFound {
            return false
        }
    }
}
