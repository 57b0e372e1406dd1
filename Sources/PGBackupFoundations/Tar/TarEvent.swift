/// What `TarReader` reports as bytes arrive, in order: `header`, zero or more `data`, `endOfEntry`
/// for each entry, then `endOfArchive` once.
///
/// Deliberately not `Sendable`: `data` points into the buffer being fed and is valid only during
/// the callback that receives it (copy it to keep it). This is what keeps reading zero-copy.
public enum TarEvent {
    case header(TarHeader)
    case data(UnsafeRawBufferPointer)
    case endOfEntry
    case endOfArchive
}

@available(*, unavailable)
extension TarEvent: Sendable {}
