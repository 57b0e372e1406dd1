/// The daemon's HTTP endpoint address (`http:`, `PGBACKUP_HTTP`).
public struct HTTPListenAddress: Sendable, Hashable, CustomStringConvertible {
    /// A host name or IP address (an IPv6 address without its brackets).
    public var host: String
    public var port: Int

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// Parses `host:port` or `[ipv6]:port`; the host is required (the endpoint listens only where
    /// told: `0.0.0.0:9187` for every interface, `127.0.0.1:9187` for this machine only).
    public init?(parsing text: String) {
        let host: Substring
        let port: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else { return nil }
            host = text[text.index(after: text.startIndex)..<close]
            port = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.lastIndex(of: ":"), !text[..<colon].contains(":") else { return nil }
            host = text[..<colon]
            port = text[text.index(after: colon)...]
        }
        guard !host.isEmpty, !host.contains(where: { $0.isWhitespace || $0 == "/" }),
              !port.isEmpty, port.allSatisfy({ $0.isASCII && $0.isNumber }), let number = Int(port), (1...65535).contains(number)
        else { return nil }
        self.host = String(host)
        self.port = number
    }
}

extension Settings {
    /// Where the daemon's HTTP endpoint listens; nil when not asked for. A malformed address is
    /// a configuration error (exit 2).
    public func httpAddress() throws(ConfigurationError) -> HTTPListenAddress? {
        guard let httpListen else { return nil }
        guard let address = HTTPListenAddress(parsing: httpListen) else {
            throw .invalidValue(
                setting: sources["http"] ?? "PGBACKUP_HTTP", value: httpListen,
                reason: "expected HOST:PORT with a port from 1 to 65535, e.g. 127.0.0.1:9187, 0.0.0.0:9187 or [::1]:9187")
        }
        return address
    }
}
