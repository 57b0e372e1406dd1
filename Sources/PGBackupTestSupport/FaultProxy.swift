import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// An HTTP proxy on 127.0.0.1 that sits between a client and a test server (moto) and makes
/// requests fail on purpose: it drops connections, answers 500 or 503 SlowDown, stalls, or cuts
/// an answer short — what retry logic must survive.
///
/// Written in Swift, in-process, rather than as a Python script: the tests read its counters
/// (how many requests came, which were failed) directly, choose faults per test, and need no
/// second process to start and stop.
///
/// It understands just enough HTTP/1.1: each request's head is read, the fault plan decides, and a
/// forwarded request gets `Connection: close`, so every request arrives on its own connection and
/// each one can be failed independently, while bodies (and `Expect: 100-continue`) pass untouched.
public final class FaultProxy: Sendable {
    /// What to do to one request.
    public enum Fault: Sendable, Hashable, CustomStringConvertible {
        /// Close the connection after reading the request head, without an answer.
        case drop
        /// Answer with this status and S3 error code, without forwarding.
        case status(Int, code: String)
        /// Say nothing for this long, then close.
        case stall(Duration)
        /// Forward the request (the server acts on it), then pass only the first bytes of the
        /// answer and close: the client cannot tell whether its request took effect.
        case truncateResponse

        public static let internalError = Fault.status(500, code: "InternalError")
        public static let slowDown = Fault.status(503, code: "SlowDown")

        public var description: String {
            switch self {
            case .drop: "drop"
            case let .status(status, code): "\(status) \(code)"
            case let .stall(duration): "stall \(duration)"
            case .truncateResponse: "truncate"
            }
        }
    }

    /// Which requests fail: first the `scripted` faults in order (nil forwards that request),
    /// then every `every`-th request, taking `rotation` in turn.
    public struct Plan: Sendable {
        public var scripted: [Fault?]
        public var every: Int?
        public var rotation: [Fault]

        public init(scripted: [Fault?] = [], every: Int? = nil, rotation: [Fault] = []) {
            self.scripted = scripted
            self.every = every
            self.rotation = rotation
        }

        /// Forwards everything.
        public static let none = Plan()
    }

    private struct State {
        var plan: Plan
        var requests = 0
        var afterScript = 0
        var injected: [Fault] = []
        var stopped = false
        var forwarding = 0
        var peakForwarding = 0
    }

    public let port: Int
    public let upstreamPort: Int
    public var endpoint: String { "http://127.0.0.1:\(port)" }
    private let listener: Int32
    private let state: Mutex<State>

    /// Listens on a free port of 127.0.0.1 and forwards to 127.0.0.1:`upstreamPort`.
    public init(upstreamPort: Int, plan: Plan = .none) throws {
        self.upstreamPort = upstreamPort
        state = Mutex(State(plan: plan))
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw FaultProxyError(reason: "socket: \(String(cString: strerror(errno)))") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && listen(fd, 64) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        guard ok else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw FaultProxyError(reason: "bind/listen on 127.0.0.1: \(reason)")
        }
        listener = fd
        port = Int(UInt16(bigEndian: address.sin_port))
        Thread.detachNewThread { [self] in acceptLoop() }
    }

    deinit { stop() }

    /// Requests seen so far (failed or forwarded).
    public var requestCount: Int { state.withLock { $0.requests } }
    /// The faults injected so far, in order.
    public var injectedFaults: [Fault] { state.withLock { $0.injected } }

    /// The most requests that were being forwarded at the same time.
    public var peakConcurrentRequests: Int { state.withLock { $0.peakForwarding } }

    /// Replaces the plan (the counters go on).
    public func setPlan(_ plan: Plan) {
        state.withLock {
            $0.plan = plan
            $0.afterScript = 0
        }
    }

    /// Stops accepting connections; connections in progress finish on their own.
    public func stop() {
        let first = state.withLock { state -> Bool in
            defer { state.stopped = true }
            return !state.stopped
        }
        // shutdown wakes the thread blocked in accept(), which then closes the socket.
        if first { shutdown(listener, Int32(SHUT_RDWR)) }
    }

    private func acceptLoop() {
        while true {
            let client = accept(listener, nil, nil)
            if client < 0 {
                if errno == EINTR || errno == ECONNABORTED { continue }
                break
            }
            Thread.detachNewThread { [self] in handle(client) }
        }
        close(listener)
    }

    private func nextFault() -> Fault? {
        state.withLock { state in
            state.requests += 1
            var fault: Fault?
            if !state.plan.scripted.isEmpty {
                fault = state.plan.scripted.removeFirst()
            } else if let every = state.plan.every, !state.plan.rotation.isEmpty {
                state.afterScript += 1
                if state.afterScript % every == 0 {
                    fault = state.plan.rotation[(state.afterScript / every - 1) % state.plan.rotation.count]
                }
            }
            if let fault { state.injected.append(fault) }
            return fault
        }
    }

    private func handle(_ client: Int32) {
        guard let (head, rest) = readHead(client) else {
            close(client)
            return
        }
        switch nextFault() {
        case .drop:
            close(client)
        case let .status(status, code):
            drainBody(client, head: head, alreadyRead: rest.count)
            let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>\(code)</Code><Message>injected by FaultProxy</Message><RequestId>fault</RequestId></Error>"
            let answer = "HTTP/1.1 \(status) Injected\r\nContent-Type: application/xml\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)"
            sendAll(client, Array(answer.utf8))
            shutdown(client, Int32(SHUT_WR))
            close(client)
        case let .stall(duration):
            Thread.sleep(forTimeInterval: duration.inSeconds)
            close(client)
        case .truncateResponse:
            forward(client, head: head, rest: rest, answerLimit: 64)
        case nil:
            forward(client, head: head, rest: rest, answerLimit: nil)
        }
    }

    /// Reads up to the end of the request head; returns it and any body bytes read with it.
    private func readHead(_ fd: Int32) -> (head: String, rest: [UInt8])? {
        var data: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16 * 1024)
        let terminator: [UInt8] = [13, 10, 13, 10]
        while data.count < 1 << 20 {
            let n = recv(fd, &chunk, chunk.count, 0)
            guard n > 0 else { return nil }
            data += chunk[0..<n]
            if let end = data.firstRange(of: terminator) {
                return (String(decoding: data[..<end.lowerBound], as: UTF8.self), Array(data[end.upperBound...]))
            }
        }
        return nil
    }

    private func header(_ name: String, in head: String) -> String? {
        for line in head.split(separator: "\r\n").dropFirst() {
            let parts = line.split(separator: ":", maxSplits: 1)
            if parts.count == 2, parts[0].lowercased() == name { return parts[1].trimmingCharacters(in: .whitespaces) }
        }
        return nil
    }

    /// Reads and discards the request body, unless the client waits for `100 Continue` first.
    private func drainBody(_ fd: Int32, head: String, alreadyRead: Int) {
        guard header("expect", in: head)?.lowercased() != "100-continue",
              var remaining = header("content-length", in: head).flatMap({ Int($0) }).map({ $0 - alreadyRead })
        else { return }
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while remaining > 0 {
            let n = recv(fd, &chunk, min(chunk.count, remaining), 0)
            guard n > 0 else { return }
            remaining -= n
        }
    }

    private func forward(_ client: Int32, head: String, rest: [UInt8], answerLimit: Int?) {
        let upstream = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(upstreamPort).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(upstream, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        } == 0
        guard upstream >= 0, connected else {
            if upstream >= 0 { close(upstream) }
            close(client)
            return
        }
        var lines = head.split(separator: "\r\n", omittingEmptySubsequences: false).map(String.init)
        lines.removeAll { $0.lowercased().hasPrefix("connection:") }
        lines.append("Connection: close")
        sendAll(upstream, Array((lines.joined(separator: "\r\n") + "\r\n\r\n").utf8) + rest)
        state.withLock {
            $0.forwarding += 1
            $0.peakForwarding = max($0.peakForwarding, $0.forwarding)
        }
        defer { state.withLock { $0.forwarding -= 1 } }

        // Client → server on another thread; server → client here. The server closes after its
        // answer (Connection: close); then both sides are shut and both descriptors closed once
        // the other thread is done with them.
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            pump(from: client, to: upstream, limit: nil)
            shutdown(upstream, Int32(SHUT_WR))
            done.signal()
        }
        pump(from: upstream, to: client, limit: answerLimit)
        shutdown(client, Int32(SHUT_RDWR))
        shutdown(upstream, Int32(SHUT_RDWR))
        done.wait()
        close(client)
        close(upstream)
    }
}

private func pump(from source: Int32, to destination: Int32, limit: Int?) {
    var chunk = [UInt8](repeating: 0, count: 64 * 1024)
    var passed = 0
    while true {
        let n = recv(source, &chunk, chunk.count, 0)
        guard n > 0 else { return }
        let count = limit.map { min(n, $0 - passed) } ?? n
        guard sendAll(destination, Array(chunk[0..<count])) else { return }
        passed += count
        if let limit, passed >= limit { return }
    }
}

@discardableResult
private func sendAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
    var offset = 0
    while offset < bytes.count {
        let n = bytes[offset...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        if n < 0 && errno == EINTR { continue }
        guard n > 0 else { return false }
        offset += n
    }
    return true
}

/// The proxy could not listen.
public struct FaultProxyError: Error, CustomStringConvertible {
    public var reason: String
    public var description: String { "unable to start the fault proxy: \(reason)" }
}
