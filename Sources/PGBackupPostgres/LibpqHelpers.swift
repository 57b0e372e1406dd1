// Small libpq helpers shared by the replication stream and the base backup stream.
import CLibPQ

#if canImport(Glibc)
import Glibc
#endif

/// Waits with poll(2) until `socket` is readable or `deadline` passes: true when readable (or
/// in error, which the next libpq call reports), false on timeout. Retries on EINTR.
func waitUntilReadable(_ socket: Int32, until deadline: ContinuousClock.Instant) -> Bool {
    while true {
        let remaining = deadline - .now
        let milliseconds: Int32
        if remaining <= .zero {
            milliseconds = 0
        } else {
            // Round up so a sub-millisecond remainder still waits instead of spinning.
            let (seconds, attoseconds) = remaining.components
            let total = seconds * 1000 + (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000
            milliseconds = Int32(clamping: total)
        }
        var descriptor = pollfd(fd: socket, events: Int16(POLLIN), revents: 0)
        let ready = poll(&descriptor, 1, milliseconds)
        if ready > 0 { return true }
        if ready == 0 { return false }
        if errno != EINTR { return true }  // let libpq's next read report the problem
    }
}

/// Waits with poll(2), without a time limit, until `socket` is readable (or in error, which the
/// next libpq call reports). Retries on EINTR.
func waitUntilReadable(_ socket: Int32) -> Bool {
    while true {
        var descriptor = pollfd(fd: socket, events: Int16(POLLIN), revents: 0)
        let ready = poll(&descriptor, 1, -1)
        if ready > 0 || errno != EINTR { return true }
    }
}

/// libpq's name for a result status (`PGRES_COPY_BOTH`, …), for messages.
func statusName(_ status: ExecStatusType) -> String {
    PQresStatus(status).map { String(cString: $0) } ?? "status \(status.rawValue)"
}
