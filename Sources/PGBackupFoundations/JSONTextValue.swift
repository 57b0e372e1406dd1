/// A value that repository documents store as its text form (`"16/B374D848"`, `"zstd:1"`, a hex
/// digest, a backup id): encoded as `description`, decoded through `init(jsonText:)`, whose
/// error message becomes the `DecodingError`'s.
///
/// Conforming types write their two `Codable` witnesses as one-liners calling
/// `init(jsonTextFrom:)` and `encodeJSONText(to:)`: default implementations here would silently
/// lose to the compiler's synthesized `Codable` for structs (`{"rawValue": …}`).
public protocol JSONTextValue: Codable, CustomStringConvertible {
    /// Parses the text form; throws an error whose description says what is wrong.
    init(jsonText text: String) throws
}

extension JSONTextValue {
    public init(jsonTextFrom decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        do {
            try self.init(jsonText: text)
        } catch {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "\(error)")
        }
    }

    public func encodeJSONText(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

/// Text that is not the value it should be, for `init(jsonText:)` of types parsed by a failable
/// initializer.
public struct InvalidTextValue: Error, Sendable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
