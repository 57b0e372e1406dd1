/// A service-level failure that is not a storage, PostgreSQL or repository error of its own.
public enum ServiceError: Error, Sendable, CustomStringConvertible, Equatable {
    /// The configuration asks for something this build cannot do yet.
    case unsupported(String)

    public var description: String {
        switch self {
        case let .unsupported(what): what
        }
    }
}
