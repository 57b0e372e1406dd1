import Crypto
#if canImport(FoundationEssentials)
import FoundationEssentials  // Data
#else
import Foundation
#endif

/// Streams an encrypted object (`EncryptedObjectFormat`) back to the bytes that were encrypted,
/// frame by frame, each authenticated before it reaches `sink`.
///
/// It holds back up to one frame and its tag, since only the end of the input tells which frame
/// is the last; whole frames inside an input piece are opened where they lie, not copied first.
/// Failures are `SealError`s naming `object`, reason `.undecryptable`.
/// Not `Sendable`; one task owns it; unusable after `finish` or an error.
public final class ObjectDecryptor {
    public let object: String
    private let dataKey: EncryptionKey
    /// The object key, once the header is read.
    private var key: SymmetricKey?
    private var header: [UInt8] = []
    private var associatedData: [UInt8] = []
    /// The stored bytes of a frame not yet opened (at most one frame and its tag).
    private var pending: [UInt8] = []
    private var frameIndex: UInt64 = 0

    /// A frame's stored size: ciphertext and tag.
    private static let storedFrame = EncryptedObjectFormat.frameSize + EncryptedObjectFormat.tagSize

    public init(dataKey: EncryptionKey, object: String) {
        self.dataKey = dataKey
        self.object = object
    }

    public func update(_ input: UnsafeRawBufferPointer, into sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        var offset = 0
        if key == nil {
            let take = min(EncryptedObjectFormat.headerSize - header.count, input.count)
            header.append(contentsOf: UnsafeRawBufferPointer(rebasing: input[..<take]))
            offset = take
            try checkTag()
            guard header.count == EncryptedObjectFormat.headerSize else { return }
            try readHeader()
        }
        let stored = Self.storedFrame
        if !pending.isEmpty {
            let take = min(stored - pending.count, input.count - offset)
            pending.append(contentsOf: UnsafeRawBufferPointer(rebasing: input[offset..<(offset + take)]))
            offset += take
            // A frame with more bytes after it is not the last one.
            guard pending.count == stored, offset < input.count else { return }
            try pending.withUnsafeBytes { try open($0, last: false, sink) }
            pending.removeAll(keepingCapacity: true)
        }
        while input.count - offset > stored {
            try open(UnsafeRawBufferPointer(rebasing: input[offset..<(offset + stored)]), last: false, sink)
            offset += stored
        }
        pending.append(contentsOf: UnsafeRawBufferPointer(rebasing: input[offset...]))
    }

    /// Opens the last frame: what is left.
    public func finish(into sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        guard key != nil, pending.count >= EncryptedObjectFormat.tagSize else {
            try checkTag()
            throw failure(.truncated)
        }
        try pending.withUnsafeBytes { try open($0, last: true, sink) }
        pending = []
    }

    /// Refuses early what does not start like a header.
    private func checkTag() throws {
        let tag = EncryptedObjectFormat.tag
        guard header.prefix(tag.count).elementsEqual(tag.prefix(min(tag.count, header.count))) else {
            throw failure(.notEncrypted)
        }
    }

    private func readHeader() throws {
        let version = header[EncryptedObjectFormat.tag.count]
        guard version == EncryptedObjectFormat.version,
              header[EncryptedObjectFormat.tag.count + 1] == EncryptedObjectFormat.frameSizeLog2
        else { throw failure(.unsupportedVersion(version)) }
        let saltStart = EncryptedObjectFormat.tag.count + 2
        let salt = header[saltStart..<(saltStart + EncryptedObjectFormat.saltSize)]
        key = dataKey.derived(EncryptedObjectFormat.objectKeyPurpose, salt: salt).key
        associatedData = header + Array(object.utf8)
        pending.reserveCapacity(Self.storedFrame)
    }

    private func open(_ frame: UnsafeRawBufferPointer, last: Bool, _ sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        guard let key else { throw failure(.truncated) }
        let nonce = EncryptedObjectFormat.nonce(base: header.suffix(EncryptedObjectFormat.nonceSize), index: frameIndex, last: last)
        let split = frame.count - EncryptedObjectFormat.tagSize
        let plaintext: Data
        do {
            let box = try AES.GCM.SealedBox(
                nonce: try AES.GCM.Nonce(data: nonce), ciphertext: UnsafeRawBufferPointer(rebasing: frame[..<split]),
                tag: UnsafeRawBufferPointer(rebasing: frame[split...]))
            plaintext = try AES.GCM.open(box, using: key, authenticating: associatedData)
        } catch {
            throw failure(.frameRejected(index: frameIndex))
        }
        frameIndex += 1
        try plaintext.withUnsafeBytes { try sink($0) }
    }

    private func failure(_ reason: DecryptionFailure) -> SealError {
        SealError(object: object, reason: .undecryptable(reason))
    }
}
