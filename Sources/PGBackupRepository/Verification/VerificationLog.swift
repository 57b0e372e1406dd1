import Foundation
import PGBackupFoundations
import PGBackupStorage

/// The verification records of one server (`<server>/verifications/<time>.json`).
public struct VerificationLog: Sendable {
    public let repository: Repository

    public init(repository: Repository) { self.repository = repository }

    private var objects: SealedObjects { SealedObjects(store: repository.store) }

    /// `<server>/verifications/20261122T101500.123Z.json`: sorts by time as text.
    public func key(of record: VerificationRecord) -> String {
        let milliseconds = Int((record.startedAt.timeIntervalSince1970 * 1000).rounded(.down))
        let seconds = CivilDate.floorDivide(milliseconds, 1000)
        let days = CivilDate.floorDivide(seconds, 86_400)
        let civil = CivilDate.date(fromDays: days)
        let secondOfDay = seconds - days * 86_400
        func pad(_ value: Int, _ width: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        let name = pad(civil.year, 4) + pad(civil.month, 2) + pad(civil.day, 2) + "T"
            + pad(secondOfDay / 3600, 2) + pad(secondOfDay / 60 % 60, 2) + pad(secondOfDay % 60, 2)
            + "." + pad(milliseconds - seconds * 1000, 3) + "Z"
        return repository.layout.verificationsPrefix + name + ".json"
    }

    /// Stores `record` (sealed, atomic).
    public func store(_ record: VerificationRecord) async throws {
        _ = try await objects.put(key: key(of: record), content: try RepositoryJSON.encode(record), compression: .none)
    }

    /// Every record, oldest first. A damaged record throws (`SealError`, `RepositoryError.corrupt`).
    public func records() async throws -> [VerificationRecord] {
        var records: [VerificationRecord] = []
        for object in try await repository.store.list(prefix: repository.layout.verificationsPrefix) where object.key.hasSuffix(".json") {
            let content = try await objects.content(key: object.key, algorithm: .none, limit: 1 << 20)
            do {
                records.append(try RepositoryJSON.decode(VerificationRecord.self, from: content))
            } catch {
                throw RepositoryError.corrupt(key: object.key, location: repository.store.location, reason: "not a verification record (\(error))")
            }
        }
        return records.sorted { $0.startedAt < $1.startedAt }
    }

    /// The newest record, and the newest of each backup.
    public func latest() async throws -> (newest: VerificationRecord?, byBackup: [BackupID: VerificationRecord]) {
        let all = try await records()
        var byBackup: [BackupID: VerificationRecord] = [:]
        for record in all { if let id = record.backupID { byBackup[id] = record } }
        return (all.last, byBackup)
    }
}
