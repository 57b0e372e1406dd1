import Foundation
import PGBackupFoundations

/// Reading the WARNING notices in which `BASE_BACKUP` names the pages whose checksum failed
/// (PostgreSQL 15 to 18, `basebackup.c`; the messages are the same in all four):
///
/// - `checksum verification failed in file "./base/5/16384", block 1: calculated 9FF but expected 4E83`
///   (the first 5 failures of each file);
/// - `further checksum verification failures in file "./base/5/16384" will not be reported`;
/// - `file "./base/5/16384" has a total of 8 checksum verification failures` (when over one);
/// - `8 total checksum verification failures` (when over one in all).
///
/// The server names a file of the data directory `./<path>` and a tablespace's file by its
/// absolute path under the tablespace's location. The messages are translated when the server's
/// `lc_messages` is not English; then none is recognized, and the XX001 error at the end alone
/// says that pages failed.
extension PageChecksumFailures {
    /// Records what `message` (a WARNING's primary text) says; false when it is not one of the
    /// messages above. `tablespaces` (the backup's list) turn a tablespace's absolute paths into
    /// the tablespace's OID and a path relative to its directory.
    public mutating func record(warning message: String, tablespaces: [BaseBackupTablespace]) -> Bool {
        if let rest = message.dropPrefix("checksum verification failed in file \""),
           let quote = rest.range(of: "\", block ", options: .backwards) {
            let numberText = rest[quote.upperBound...].prefix { $0.isNumber }
            guard let block = UInt32(numberText) else { return false }
            let (path, tablespace) = Self.locate(String(rest[..<quote.lowerBound]), in: tablespaces)
            recordFailure(path: path, tablespace: tablespace, block: block)
            return true
        }
        if let rest = message.dropPrefix("file \""), let quote = rest.range(of: "\" has a total of ", options: .backwards) {
            let countText = rest[quote.upperBound...].prefix { $0.isNumber }
            guard let count = Int(countText), rest[quote.upperBound...].dropFirst(countText.count).hasPrefix(" checksum verification failure") else {
                return false
            }
            let (path, tablespace) = Self.locate(String(rest[..<quote.lowerBound]), in: tablespaces)
            recordFileTotal(path: path, tablespace: tablespace, pages: count)
            return true
        }
        if message.hasPrefix("further checksum verification failures in file \"") {
            return true
        }
        let countText = message.prefix { $0.isNumber }
        if let count = Int(countText), message.dropFirst(countText.count).hasPrefix(" total checksum verification failure") {
            recordTotal(count)
            return true
        }
        return false
    }

    /// The backup's name for a file the server named: `./base/5/1` → `base/5/1` in the data
    /// directory; `<location>/PG_15_…/5/1` → `PG_15_…/5/1` in the tablespace at `<location>`.
    static func locate(_ named: String, in tablespaces: [BaseBackupTablespace]) -> (path: String, tablespace: UInt32?) {
        if let inDataDirectory = named.dropPrefix("./") { return (String(inDataDirectory), nil) }
        for space in tablespaces {
            guard let oid = space.oid, var location = space.location, !location.isEmpty else { continue }
            if !location.hasSuffix("/") { location += "/" }
            if let inTablespace = named.dropPrefix(location) { return (String(inTablespace), oid) }
        }
        return (named, nil)
    }
}

extension StringProtocol {
    /// The rest after `prefix`, or nil when the text does not start with it.
    fileprivate func dropPrefix(_ prefix: String) -> SubSequence? {
        hasPrefix(prefix) ? dropFirst(prefix.count) : nil
    }
}
