import Synchronization

/// A value that is not `Sendable` (a connection, an open file) handed from the task that made it
/// to the one that uses it, once, with the compiler's proof instead of a promise: `init` takes
/// the value `sending` (the giver keeps nothing it could still touch), and `take()` gives it out
/// `sending`, to the first caller only. No `@unchecked`: `Mutex`, whose API moves values in and
/// out the same way, is what makes the box `Sendable`.
///
/// A value never taken goes with the box (a connection closes in its `deinit`).
public final class Handover<Value>: Sendable {
    private let slot: Mutex<Value?>

    public init(_ value: consuming sending Value) {
        slot = Mutex(value)
    }

    /// The value, to the first caller; nil afterwards.
    public func take() -> sending Value? {
        slot.withLock { $0.take() }
    }
}
