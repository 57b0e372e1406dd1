import Foundation

/// Streams one object into S3. Bytes collect in a buffer of `partSize`; an object that fits goes
/// up in one PUT on `commit()`. A larger one becomes a multipart upload: each full buffer is a
/// part, uploaded in the background while the caller keeps writing, with at most
/// `partUploadConcurrency` parts in flight; `commit()` completes the upload. Nothing is visible
/// before that. `abort()`, a failure, or a writer dropped unfinished aborts the upload.
final class S3ObjectWriter: ObjectWriter {
    private let store: S3ObjectStore
    private let key: String
    private let objectKey: String
    private let partSize: Int
    private var buffer: [UInt8] = []
    private var size: Int64 = 0
    private var uploadID: String?
    private var inFlight: [(number: Int, task: Task<String, any Error>)] = []
    private var etags: [String] = []
    private var finished = false

    /// S3's limit on parts per upload.
    static let maximumParts = 10_000

    init(store: S3ObjectStore, key: String, objectKey: String) {
        self.store = store
        self.key = key
        self.objectKey = objectKey
        partSize = store.configuration.partSize
    }

    deinit {
        // Neither committed nor aborted: the caller failed; leave no pending upload behind.
        guard !finished, let uploadID else { return }
        for part in inFlight { part.task.cancel() }
        let (client, objectKey) = (store.client, objectKey)
        Task { try? await client.abortUpload(objectKey: objectKey, uploadID: uploadID) }
    }

    func write(_ bytes: [UInt8]) async throws {
        precondition(!finished, "write after commit or abort")
        var offset = 0
        do {
            while offset < bytes.count {
                // A full buffer becomes a part only once more bytes arrive, so an object of
                // exactly `partSize` still goes up in one PUT.
                if buffer.count == partSize { try await startPart() }
                let count = min(partSize - buffer.count, bytes.count - offset)
                if buffer.isEmpty { buffer.reserveCapacity(partSize) }
                buffer.append(contentsOf: bytes[offset..<(offset + count)])
                offset += count
            }
            size += Int64(bytes.count)
        } catch {
            await fail()
            throw store.storageError(error, operation: "write", key: key)
        }
    }

    /// With `ifAbsent`, the PUT (or the CompleteMultipartUpload) carries `If-None-Match: *`;
    /// S3's 412 or 409 becomes `StorageError.alreadyExists` (see `S3Client.putObject`).
    func commit(ifAbsent: Bool) async throws -> ObjectInfo {
        precondition(!finished, "commit after commit or abort")
        do {
            if let uploadID {
                if !buffer.isEmpty { try await startPart() }
                while !inFlight.isEmpty { try await finishOldestPart() }
                try await store.client.completeUpload(
                    objectKey: objectKey, uploadID: uploadID, etags: etags, expectedSize: size, ifAbsent: ifAbsent)
            } else {
                try await store.client.putObject(objectKey: objectKey, body: buffer, ifAbsent: ifAbsent)
            }
        } catch {
            await fail()
            if ifAbsent, let error = error as? S3Error, let status = error.status, S3Client.isConditionalFailure(status: status, code: error.code) {
                throw StorageError.alreadyExists(key: key, store: store.location)
            }
            throw store.storageError(error, operation: "write", key: key)
        }
        finished = true
        buffer = []
        return ObjectInfo(key: key, size: size, modified: Date())
    }

    func abort() async {
        guard !finished else { return }
        await fail()
    }

    /// Hands the full buffer to a background part upload, first making room when
    /// `partUploadConcurrency` parts are already on their way.
    private func startPart() async throws {
        let client = store.client
        let objectKey = objectKey
        if uploadID == nil { uploadID = try await client.createUpload(objectKey: objectKey) }
        let number = etags.count + inFlight.count + 1
        guard number <= Self.maximumParts else {
            throw StorageError.failed(
                operation: "write", key: key, store: store.location,
                reason: "larger than \(Self.maximumParts) parts of \(partSize) bytes, S3's limit (HINT: raise the part size)")
        }
        while inFlight.count >= store.configuration.partUploadConcurrency { try await finishOldestPart() }
        let part = buffer
        buffer = []
        let uploadID = uploadID!
        inFlight.append((number, Task { try await client.uploadPart(objectKey: objectKey, uploadID: uploadID, number: number, body: part) }))
    }

    private func finishOldestPart() async throws {
        let part = inFlight.removeFirst()
        etags.append(try await part.task.value)
    }

    /// Stops the part uploads, aborts the multipart upload; the writer is finished.
    private func fail() async {
        finished = true
        buffer = []
        for part in inFlight { part.task.cancel() }
        for part in inFlight { _ = try? await part.task.value }
        inFlight = []
        if let uploadID {
            // Best effort: an upload that cannot be aborted now stays invisible, and
            // `S3ObjectStore.abortAbandonedUploads` (or a bucket lifecycle rule) clears it.
            try? await store.client.abortUpload(objectKey: objectKey, uploadID: uploadID)
        }
    }
}
