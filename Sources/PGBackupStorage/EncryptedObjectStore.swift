import PGBackupFoundations

/// Client-side encryption over any store (DESIGN.md, "Encryption"): every object is written in
/// `EncryptedObjectFormat` under the repository's data key and bound to its key, and opened,
/// authenticated frame by frame, as it is read. Callers see exactly the bytes they wrote.
///
/// Contract:
/// - The inner store's guarantees hold (atomic visibility, listing, delete); `head` and `list`
///   report the *stored* (encrypted) size.
/// - A stored object that does not open (changed, cut short, reordered, stored under another
///   name, or not encrypted at all) fails the read with a `SealError` naming its key, reason
///   `.undecryptable`: the same error as any damaged object, so every caller that handles damage
///   handles this. Bytes reach the caller only once their frame has authenticated.
/// - `plaintextKeys` pass through unencrypted: the server's `repository.json`, which holds the
///   wrapped data key and must be read before any key is known.
public struct EncryptedObjectStore: ObjectStore {
    public let inner: any ObjectStore
    private let dataKey: EncryptionKey
    private let plaintextKeys: Set<String>

    public init(wrapping inner: any ObjectStore, dataKey: EncryptionKey, plaintextKeys: Set<String>) {
        self.inner = inner
        self.dataKey = dataKey
        self.plaintextKeys = plaintextKeys
    }

    public var location: String { inner.location }

    public func writer(for key: String) async throws -> any ObjectWriter {
        let writer = try await inner.writer(for: key)
        guard !plaintextKeys.contains(key) else { return writer }
        return EncryptingWriter(inner: writer, encryptor: ObjectEncryptor(dataKey: dataKey, object: key))
    }

    public func reader(for key: String) async throws -> any ObjectReader {
        let reader = try await inner.reader(for: key)
        guard !plaintextKeys.contains(key) else { return reader }
        return DecryptingReader(inner: reader, decryptor: ObjectDecryptor(dataKey: dataKey, object: key))
    }

    public func head(_ key: String) async throws -> ObjectInfo { try await inner.head(key) }

    public func list(prefix: String) async throws -> [ObjectInfo] { try await inner.list(prefix: prefix) }

    public func delete(_ keys: [String]) async throws { try await inner.delete(keys) }
}

/// Encrypts as it writes; the last frame at `commit`.
final class EncryptingWriter: ObjectWriter {
    private let inner: any ObjectWriter
    private let encryptor: ObjectEncryptor

    init(inner: any ObjectWriter, encryptor: ObjectEncryptor) {
        self.inner = inner
        self.encryptor = encryptor
    }

    func write(_ bytes: [UInt8]) async throws {
        var output: [UInt8] = []
        output.reserveCapacity(bytes.count + bytes.count / 1024 + 128)
        try bytes.withUnsafeBytes { raw in try encryptor.update(raw) { output.append(contentsOf: $0) } }
        if !output.isEmpty { try await inner.write(output) }
    }

    func commit(ifAbsent: Bool) async throws -> ObjectInfo {
        var output: [UInt8] = []
        try encryptor.finish { output.append(contentsOf: $0) }
        try await inner.write(output)
        return try await inner.commit(ifAbsent: ifAbsent)
    }

    func abort() async { await inner.abort() }
}

/// Decrypts as it reads: hands out only bytes of frames that authenticated.
final class DecryptingReader: ObjectReader {
    private let inner: any ObjectReader
    private let decryptor: ObjectDecryptor
    /// Opened bytes not yet handed out, from `offset`.
    private var opened: [UInt8] = []
    private var offset = 0
    private var ended = false

    /// Stored bytes asked of the inner reader at once: a few frames.
    private static let readSize = 4 * (EncryptedObjectFormat.frameSize + EncryptedObjectFormat.tagSize)

    init(inner: any ObjectReader, decryptor: ObjectDecryptor) {
        self.inner = inner
        self.decryptor = decryptor
    }

    func read(maxLength: Int) async throws -> [UInt8] {
        while offset == opened.count && !ended {
            opened.removeAll(keepingCapacity: true)
            offset = 0
            let stored = try await inner.read(maxLength: max(maxLength, Self.readSize))
            if stored.isEmpty {
                ended = true
                try decryptor.finish { opened.append(contentsOf: $0) }
            } else {
                // One allocation for what this piece opens to (a frame held back before it, at most).
                opened.reserveCapacity(stored.count + EncryptedObjectFormat.frameSize)
                try stored.withUnsafeBytes { raw in try decryptor.update(raw) { opened.append(contentsOf: $0) } }
            }
        }
        if offset == 0 && opened.count <= maxLength {
            // The usual case: hand out the whole opened piece without a copy.
            defer { opened = [] }
            return opened
        }
        let end = min(opened.count, offset + maxLength)
        defer { offset = end }
        return Array(opened[offset..<end])
    }

    func close() async { await inner.close() }
}
