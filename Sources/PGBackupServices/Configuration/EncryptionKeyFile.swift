#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import PGBackupFoundations

/// Reads the key file `PGBACKUP_ENCRYPTION_KEY_FILE` / `encryption.key_file` names, refusing
/// (`ConfigurationError.invalidKeyFile`, exit 2) one that is missing or unreadable, not a regular
/// file (after links: a Kubernetes secret is a link), readable, writable or executable by
/// "other" (group access is allowed, for secrets mounted with an fsGroup), larger than
/// `maximumSize`, or not a key (`EncryptionKey(fileContents:)`). Errors never hold key bytes.
public enum EncryptionKeyFile {
    /// Far above the largest valid key file (base64 with CRLF: 46 bytes).
    public static let maximumSize = 1024

    /// The key in the file at `path`; `setting` names where the path came from, for errors.
    public static func load(path: String, setting: String) throws(ConfigurationError) -> EncryptionKey {
        func refuse(_ reason: String, _ hint: String) -> ConfigurationError {
            .invalidKeyFile(setting: setting, path: path, reason: reason, hint: hint)
        }
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)
        guard fd >= 0 else {
            throw refuse(FileSystem.errnoDescription(), "make the key file readable by the user pgbackup runs as (make a key with: openssl rand -hex 32 > FILE; chmod 600 FILE)")
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw refuse(FileSystem.errnoDescription(), "check the key file") }
        guard info.st_mode & S_IFMT == S_IFREG else {
            throw refuse("not a regular file", "point the setting at the key file itself")
        }
        guard info.st_mode & 0o007 == 0 else {
            throw refuse(
                "it is accessible by every user (mode \(String(info.st_mode & 0o777, radix: 8)))",
                "chmod o-rwx '\(path)' (0600, or 0640 with a group that only pgbackup's users are in)")
        }
        guard info.st_size <= maximumSize else {
            throw refuse("it holds \(info.st_size) bytes, more than a key file's \(maximumSize)", "point the setting at a key file made with: openssl rand -hex 32 > FILE")
        }
        var bytes = [UInt8](repeating: 0, count: maximumSize + 1)
        var count = 0
        while count < bytes.count {
            let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress! + count, $0.count - count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw refuse(FileSystem.errnoDescription(), "check the key file")
            }
            if n == 0 { break }
            count += n
        }
        guard count <= maximumSize else {
            throw refuse("it holds more than \(maximumSize) bytes", "point the setting at a key file made with: openssl rand -hex 32 > FILE")
        }
        defer { for index in bytes.indices { bytes[index] = 0 } }
        do {
            return try EncryptionKey(fileContents: Array(bytes[..<count]))
        } catch {
            throw refuse(
                "it holds \(count) bytes that are neither 32 raw bytes, nor 64 hex digits, nor the base64 of 32 bytes",
                "make a key file with: openssl rand -hex 32 > FILE; chmod 600 FILE")
        }
    }
}

extension Settings {
    /// The key of the configured key file (`EncryptionKeyFile.load`), or nil when none is
    /// configured (a plaintext repository).
    public func encryptionKey() throws(ConfigurationError) -> EncryptionKey? {
        guard let path = encryptionKeyFile else { return nil }
        return try EncryptionKeyFile.load(path: path, setting: sources["encryption_key_file"] ?? "PGBACKUP_ENCRYPTION_KEY_FILE")
    }
}
