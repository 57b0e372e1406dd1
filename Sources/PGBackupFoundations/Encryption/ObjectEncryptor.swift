import Crypto

/// Streams an object's stored bytes into the encrypted format (`EncryptedObjectFormat`):
/// a header, then one authenticated frame per 64 KiB.
///
/// Contract: like `ObjectSealer` (output pieces are valid only during the sink call; memory is
/// one frame; errors from the sink propagate unchanged; not `Sendable`, one task owns it). Call
/// `finish` exactly once; it writes the last frame (possibly empty).
public final class ObjectEncryptor {
    private let key: SymmetricKey
    private let header: [UInt8]
    private let associatedData: [UInt8]
    private var pending: [UInt8] = []
    private var frameIndex: UInt64 = 0
    private var headerWritten = false

    /// `dataKey`: the repository's data key; `object`: the name the object is stored under,
    /// which it is bound to.
    public init(dataKey: EncryptionKey, object: String) {
        var salt = [UInt8](repeating: 0, count: EncryptedObjectFormat.saltSize)
        var nonceBase = [UInt8](repeating: 0, count: EncryptedObjectFormat.nonceSize)
        fillRandom(&salt)
        fillRandom(&nonceBase)
        header = EncryptedObjectFormat.tag + [EncryptedObjectFormat.version, EncryptedObjectFormat.frameSizeLog2] + salt + nonceBase
        key = dataKey.derived(EncryptedObjectFormat.objectKeyPurpose, salt: salt).key
        associatedData = header + Array(object.utf8)
        pending.reserveCapacity(EncryptedObjectFormat.frameSize)
    }

    public func update(_ input: UnsafeRawBufferPointer, into sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        try writeHeaderOnce(sink)
        let frameSize = EncryptedObjectFormat.frameSize
        var offset = 0
        // A frame is sealed as "not last" only once a byte after it is known.
        while offset < input.count {
            if pending.count == frameSize {
                try seal(last: false, sink)
            }
            let take = min(frameSize - pending.count, input.count - offset)
            pending.append(contentsOf: UnsafeRawBufferPointer(rebasing: input[offset..<(offset + take)]))
            offset += take
        }
    }

    /// Seals what is left as the last frame.
    public func finish(into sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        try writeHeaderOnce(sink)
        try seal(last: true, sink)
    }

    private func writeHeaderOnce(_ sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        guard !headerWritten else { return }
        headerWritten = true
        try header.withUnsafeBytes { try sink($0) }
    }

    private func seal(last: Bool, _ sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        let nonce = EncryptedObjectFormat.nonce(base: header.suffix(EncryptedObjectFormat.nonceSize), index: frameIndex, last: last)
        // A 12-byte nonce and a 256-bit key: sealing cannot fail.
        let box = pending.withUnsafeBytes { raw in
            try! AES.GCM.seal(raw, using: key, nonce: try! AES.GCM.Nonce(data: nonce), authenticating: associatedData)
        }
        try box.ciphertext.withUnsafeBytes { try sink($0) }
        try box.tag.withUnsafeBytes { try sink($0) }
        pending.removeAll(keepingCapacity: true)
        frameIndex += 1
    }
}

/// Random bytes from the system's CSPRNG.
func fillRandom(_ bytes: inout [UInt8]) {
    var generator = SystemRandomNumberGenerator()
    for index in bytes.indices { bytes[index] = UInt8.random(in: .min ... .max, using: &generator) }
}
