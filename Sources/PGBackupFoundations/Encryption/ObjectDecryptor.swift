import Crypto

/// Streams an encrypted object (`EncryptedObjectFormat`) back to the bytes that were encrypted,
/// frame by frame, each authenticated before it reaches `sink`.
///
/// It holds back up to one frame and its tag, since only the end of the input tells which frame
/// is the last. Failures are `SealError`s naming `object`, reason `.undecryptable`.
/// Not `Sendable`; one task owns it; unusable after `finish` or an error.
public final class ObjectDecryptor {
    public let object: String
    private let dataKey: EncryptionKey
    private var key: SymmetricKey?
    private var header: [UInt8] = []
    private var associatedData: [UInt8] = []
    /// Stored bytes received and not yet opened.
    private var pending: [UInt8] = []
    private var frameIndex: UInt64 = 0

    public init(dataKey: EncryptionKey, object: String) {
        self.dataKey = dataKey
        self.object = object
    }

    public func update(_ input: UnsafeRawBufferPointer, into sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        pending.append(contentsOf: input)
        if key == nil {
            guard pending.count >= EncryptedObjectFormat.headerSize else {
                try checkTag()
                return
            }
            try readHeader()
        }
        let stored = EncryptedObjectFormat.frameSize + EncryptedObjectFormat.tagSize
        var start = 0
        // A frame with more bytes after it is not the last one.
        while pending.count - start > stored {
            try open(start..<(start + stored), last: false, sink)
            start += stored
        }
        if start > 0 { pending.removeFirst(start) }
    }

    /// Opens the last frame: what is left.
    public func finish(into sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        if key == nil {
            try checkTag()
            guard pending.count >= EncryptedObjectFormat.headerSize else { throw failure(.truncated) }
            try readHeader()
        }
        guard pending.count >= EncryptedObjectFormat.tagSize else { throw failure(.truncated) }
        try open(0..<pending.count, last: true, sink)
        pending = []
    }

    /// Refuses early what does not start like a header.
    private func checkTag() throws {
        let tag = EncryptedObjectFormat.tag
        guard pending.prefix(tag.count).elementsEqual(tag.prefix(min(tag.count, pending.count))) else {
            throw failure(.notEncrypted)
        }
    }

    private func readHeader() throws {
        try checkTag()
        let version = pending[EncryptedObjectFormat.tag.count]
        guard version == EncryptedObjectFormat.version,
              pending[EncryptedObjectFormat.tag.count + 1] == EncryptedObjectFormat.frameSizeLog2
        else { throw failure(.unsupportedVersion(version)) }
        header = Array(pending[..<EncryptedObjectFormat.headerSize])
        let saltStart = EncryptedObjectFormat.tag.count + 2
        let salt = header[saltStart..<(saltStart + EncryptedObjectFormat.saltSize)]
        key = dataKey.derived(EncryptedObjectFormat.objectKeyPurpose, salt: salt).key
        associatedData = header + Array(object.utf8)
        pending.removeFirst(EncryptedObjectFormat.headerSize)
    }

    private func open(_ range: Range<Int>, last: Bool, _ sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        guard let key else { throw failure(.truncated) }
        let nonce = EncryptedObjectFormat.nonce(base: header.suffix(EncryptedObjectFormat.nonceSize), index: frameIndex, last: last)
        let split = range.upperBound - EncryptedObjectFormat.tagSize
        let plaintext: [UInt8]
        do {
            let box = try AES.GCM.SealedBox(
                nonce: try AES.GCM.Nonce(data: nonce), ciphertext: pending[range.lowerBound..<split],
                tag: pending[split..<range.upperBound])
            plaintext = Array(try AES.GCM.open(box, using: key, authenticating: associatedData))
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
