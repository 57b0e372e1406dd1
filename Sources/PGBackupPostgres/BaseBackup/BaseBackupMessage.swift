/// One CopyData payload of BASE_BACKUP's COPY stream in PostgreSQL 15's framing
/// (basebackup_copy.c, "copystream"): one COPY OUT carries every archive and the manifest, and
/// each payload starts with a type byte.
///
/// - `'n'`: a new archive: its name and its tablespace's location, each NUL-terminated (the
///   location is the empty string for the main data directory).
/// - `'d'`: data of the current archive, or of the manifest once `'m'` was seen.
/// - `'p'`: progress: the archive bytes sent so far, a big-endian int64.
/// - `'m'`: the manifest follows; no payload.
enum BaseBackupMessage {
    case newArchive(name: String, tablespaceLocation: String?)
    /// Points into the parsed payload.
    case data(UnsafeRawBufferPointer)
    case progress(bytesDone: Int64)
    case manifestFollows

    /// Parses one CopyData payload. Pure; `.data` points into `payload`.
    ///
    /// - Throws: `BaseBackupError.malformedStream` for an empty payload, an unknown type, a
    ///   name without its NUL, or a progress or manifest message of the wrong length.
    init(parsing payload: UnsafeRawBufferPointer) throws(BaseBackupError) {
        guard let type = payload.first else { throw .malformedStream("empty CopyData message") }
        let body = UnsafeRawBufferPointer(rebasing: payload[1...])
        switch type {
        case UInt8(ascii: "d"):
            self = .data(body)
        case UInt8(ascii: "p"):
            guard body.count == 8 else {
                throw .malformedStream("progress message ('p') of \(payload.count) bytes, expected 9")
            }
            self = .progress(bytesDone: BigEndian.read(Int64.self, from: body, at: 0))
        case UInt8(ascii: "n"):
            guard let nameEnd = body.firstIndex(of: 0),
                  let locationEnd = body[(nameEnd + 1)...].firstIndex(of: 0),
                  locationEnd == body.count - 1
            else {
                throw .malformedStream("new-archive message ('n') of \(payload.count) bytes without two NUL-terminated strings")
            }
            let name = String(decoding: body[..<nameEnd], as: UTF8.self)
            let location = String(decoding: body[(nameEnd + 1)..<locationEnd], as: UTF8.self)
            guard !name.isEmpty else { throw .malformedStream("new-archive message ('n') without an archive name") }
            self = .newArchive(name: name, tablespaceLocation: location.isEmpty ? nil : location)
        case UInt8(ascii: "m"):
            guard body.isEmpty else {
                throw .malformedStream("manifest message ('m') of \(payload.count) bytes, expected 1")
            }
            self = .manifestFollows
        default:
            throw .malformedStream("CopyData message of unknown type \(ReplicationMessageError.describe(type))")
        }
    }
}
