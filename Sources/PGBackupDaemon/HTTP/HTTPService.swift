import Foundation
import Hummingbird
import Logging
import PGBackupServices
import ServiceLifecycle

/// The daemon's HTTP endpoint (Hummingbird), listening only on the configured address:
/// `/live`, `/ready`, `/health`, `/status`, `/metrics` (DESIGN.md, "The daemon"). Every answer
/// comes from in-memory snapshots (the streamer's status, `DaemonState`, the health monitor's last
/// round), so the endpoint stays responsive whatever the daemon is doing.
struct HTTPService: Service {
    let address: HTTPListenAddress
    let streamer: WALStreamer
    let state: DaemonState
    let monitor: HealthMonitor
    let settings: Settings
    let logger: Logger

    func run() async throws {
        let metrics = DaemonMetrics(server: settings.server)
        let router = Router()
        router.get("live") { _, _ in Self.text("ok\n", status: .ok) }
        router.get("ready") { _, _ in
            let status = streamer.status
            return status.streaming
                ? Self.text("streaming WAL from \(status.server ?? "?")\n", status: .ok)
                : Self.text("not streaming WAL from a primary\n", status: .serviceUnavailable)
        }
        router.get("health") { _, _ in
            let report = view().report
            return Self.body(try Self.json(report), contentType: "application/json", status: report.healthy ? .ok : .serviceUnavailable)
        }
        router.get("status") { _, _ in
            Self.body(try StatusDocument(view()).json(), contentType: "application/json", status: .ok)
        }
        router.get("metrics") { _, _ in
            Self.body(metrics.render(view()), contentType: "text/plain; version=0.0.4; charset=utf-8", status: .ok)
        }
        let app = Application(
            router: router,
            configuration: .init(address: .hostname(address.host, port: address.port), serverName: "pgbackup"),
            onServerRunning: { _ in logger.info("HTTP endpoint listening", metadata: ["address": "\(address)"]) },
            logger: logger)
        try await app.run()
    }

    private func view() -> DaemonView {
        DaemonView(streamer: streamer.status, state: state.snapshot, observations: monitor.observations,
                   slot: settings.slot, checkInterval: monitor.interval)
    }

    static func json(_ report: CheckReport) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(report), as: UTF8.self) + "\n"
    }

    static func text(_ text: String, status: HTTPResponse.Status) -> Response {
        body(text, contentType: "text/plain; charset=utf-8", status: status)
    }

    static func body(_ text: String, contentType: String, status: HTTPResponse.Status) -> Response {
        Response(status: status, headers: [.contentType: contentType], body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}
