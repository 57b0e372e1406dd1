import Dispatch

#if canImport(Glibc)
import Glibc
#endif

/// Calls `handler` with the signal's number on SIGTERM and SIGINT instead of dying at once
/// (`docker stop`, Ctrl-C), until the returned sources are cancelled: the command then stops
/// gracefully (the daemon stores its partial WAL, verify-restore removes its instance).
func onTerminationSignals(_ handler: @escaping @Sendable (Int32) -> Void) -> [any DispatchSourceSignal] {
    [SIGTERM, SIGINT].map { number -> any DispatchSourceSignal in
        signal(number, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
        source.setEventHandler { handler(number) }
        source.resume()
        return source
    }
}
