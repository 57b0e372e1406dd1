import Foundation

/// An in-process store for unit tests of the layers above storage. It keeps the same contract
/// as the real drivers (atomic puts, sorted listing, idempotent delete) and passes their suite.
public final class MemoryObjectStore: ObjectStore {
    private let objects = Objects()

    public init() {}

    public var location: String { "memory://" }

    public func writer(for key: String) async throws -> any ObjectWriter {
        try validateObjectKey(key)
        return MemoryObjectWriter(key: key, objects: objects)
    }

    public func reader(for key: String) async throws -> any ObjectReader {
        try validateObjectKey(key)
        guard let object = await objects.get(key) else { throw StorageError.notFound(key: key, store: location) }
        return MemoryObjectReader(bytes: object.bytes)
    }

    public func head(_ key: String) async throws -> ObjectInfo {
        try validateObjectKey(key)
        guard let object = await objects.get(key) else { throw StorageError.notFound(key: key, store: location) }
        return ObjectInfo(key: key, size: Int64(object.bytes.count), modified: object.modified)
    }

    public func list(prefix: String) async throws -> [ObjectInfo] {
        await objects.list(prefix: prefix)
    }

    public func delete(_ keys: [String]) async throws {
        for key in keys { try validateObjectKey(key) }
        await objects.delete(keys)
    }

    actor Objects {
        struct Object { var bytes: [UInt8]; var modified: Date }
        private var byKey: [String: Object] = [:]

        func get(_ key: String) -> Object? { byKey[key] }
        /// Nil when `ifAbsent` and the key is taken.
        func put(_ key: String, _ bytes: [UInt8], ifAbsent: Bool) -> ObjectInfo? {
            if ifAbsent && byKey[key] != nil { return nil }
            let object = Object(bytes: bytes, modified: Date())
            byKey[key] = object
            return ObjectInfo(key: key, size: Int64(bytes.count), modified: object.modified)
        }
        func list(prefix: String) -> [ObjectInfo] {
            byKey.filter { $0.key.hasPrefix(prefix) }
                .map { ObjectInfo(key: $0.key, size: Int64($0.value.bytes.count), modified: $0.value.modified) }
                .sorted { $0.key < $1.key }
        }
        func delete(_ keys: [String]) { for key in keys { byKey[key] = nil } }
    }
}

final class MemoryObjectWriter: ObjectWriter {
    let key: String
    let objects: MemoryObjectStore.Objects
    private var buffer: [UInt8] = []

    init(key: String, objects: MemoryObjectStore.Objects) {
        self.key = key
        self.objects = objects
    }

    func write(_ bytes: [UInt8]) async throws { buffer += bytes }
    func commit(ifAbsent: Bool) async throws -> ObjectInfo {
        guard let info = await objects.put(key, buffer, ifAbsent: ifAbsent) else {
            throw StorageError.alreadyExists(key: key, store: "memory://")
        }
        return info
    }
    func abort() async { buffer = [] }
}

final class MemoryObjectReader: ObjectReader {
    private let bytes: [UInt8]
    private var offset = 0

    init(bytes: [UInt8]) { self.bytes = bytes }

    func read(maxLength: Int) async throws -> [UInt8] {
        let end = min(bytes.count, offset + maxLength)
        defer { offset = end }
        return Array(bytes[offset..<end])
    }

    func close() async {}
}
