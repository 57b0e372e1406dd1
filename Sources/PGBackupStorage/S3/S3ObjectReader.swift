/// Streams one object out of S3 in ranged GETs of `readChunkSize` bytes, fetching the next
/// chunk while the caller consumes the current one: memory stays at two chunks whatever the
/// object's size, and a failed chunk is retried on its own rather than from the start.
/// Every range after the first is asked `If-Match` the first answer's ETag: an object replaced
/// while being read fails with a clear error instead of yielding a mix of two versions.
final class S3ObjectReader: ObjectReader {
    private let store: S3ObjectStore
    private let key: String
    private let objectKey: String
    private let etag: String?
    private let totalSize: Int64
    private var current: [UInt8]
    private var position = 0
    /// End of the last range fetched or being fetched.
    private var requested: Int64
    private var next: Task<[UInt8], any Error>?

    private init(store: S3ObjectStore, key: String, objectKey: String, etag: String?, totalSize: Int64, first: [UInt8]) {
        self.store = store
        self.key = key
        self.objectKey = objectKey
        self.etag = etag
        self.totalSize = totalSize
        current = first
        requested = Int64(first.count)
        prefetch()
    }

    deinit { next?.cancel() }

    /// Fetches the first chunk, so that a missing object is `StorageError.notFound` right away.
    static func open(store: S3ObjectStore, key: String, objectKey: String) async throws -> S3ObjectReader {
        let client = store.client
        let chunk = store.configuration.readChunkSize
        do {
            let response = try await client.getRange(objectKey: objectKey, offset: 0, length: chunk, ifMatch: nil)
            let etag = response.headers["etag"]
            switch response.status {
            case 206:
                // Content-Range: bytes 0-1048575/73400320
                guard let total = response.headers["content-range"]?.split(separator: "/").last.flatMap({ Int64($0) }) else {
                    throw S3Error.malformedResponse(reason: "206 answer without a Content-Range total", endpoint: client.endpoint)
                }
                return S3ObjectReader(store: store, key: key, objectKey: objectKey, etag: etag, totalSize: total, first: response.body)
            case 200:
                // The whole object (a server that ignores Range, for an object that fits a chunk).
                return S3ObjectReader(store: store, key: key, objectKey: objectKey, etag: etag,
                                      totalSize: Int64(response.body.count), first: response.body)
            case 416:
                // No byte 0: the object is empty.
                return S3ObjectReader(store: store, key: key, objectKey: objectKey, etag: etag, totalSize: 0, first: [])
            default:
                throw try await store.explain(response)
            }
        } catch {
            throw store.storageError(error, operation: "read", key: key)
        }
    }

    func read(maxLength: Int) async throws -> [UInt8] {
        if position == current.count {
            guard let next else { return [] }
            self.next = nil
            do {
                current = try await next.value
            } catch {
                throw store.storageError(error, operation: "read", key: key)
            }
            position = 0
            prefetch()
        }
        let end = min(current.count, position + maxLength)
        defer { position = end }
        if position == 0 && end == current.count { return current }
        return Array(current[position..<end])
    }

    func close() async {
        next?.cancel()
        next = nil
        current = []
        position = 0
    }

    /// Starts fetching the next chunk, if any is left.
    private func prefetch() {
        guard requested < totalSize else { return }
        let length = Int(min(Int64(store.configuration.readChunkSize), totalSize - requested))
        let (client, objectKey, offset, etag, key, location) = (store.client, objectKey, requested, etag, key, store.location)
        requested += Int64(length)
        next = Task {
            let response = try await client.getRange(objectKey: objectKey, offset: offset, length: length, ifMatch: etag)
            if response.status == 412 {
                throw StorageError.failed(operation: "read", key: key, store: location,
                                          reason: "the object was replaced while being read (its ETag changed); read it again")
            }
            guard response.status == 206 else { throw client.serverError(response) }
            guard response.body.count == length else {
                throw S3Error.malformedResponse(reason: "asked for \(length) bytes at offset \(offset), got \(response.body.count)",
                                                endpoint: client.endpoint)
            }
            return response.body
        }
    }
}
