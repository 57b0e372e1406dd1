import Foundation

#if canImport(Glibc)
import Glibc
#endif

extension FileSystem {
    /// Writes a file that holds secrets, replacing any file at `path`: created mode 0600 under a
    /// fresh temporary name (`O_CREAT | O_EXCL`, so from its first byte nobody else can read it),
    /// handed to `owner` before anything is written, fsync'd, renamed into place, and its
    /// directory fsync'd. A failure leaves no temporary file behind.
    public static func writePrivateFile(_ path: String, contents: [UInt8], owner: (uid: uid_t, gid: gid_t)? = nil) throws {
        let temporary = "\(directory(of: path))/.\(path.split(separator: "/").last ?? "file").\(getpid()).\(UInt32.random(in: 0...UInt32.max)).tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw FileSystemError(operation: "create", path: temporary, reason: errnoDescription()) }
        do {
            defer { close(fd) }
            if let owner, fchown(fd, owner.uid, owner.gid) != 0 {
                throw FileSystemError(operation: "change the owner of", path: temporary, reason: errnoDescription())
            }
            try contents.withUnsafeBytes { try writeAll(fd, $0) }
            guard fsync(fd) == 0 else { throw FileSystemError(operation: "fsync", path: temporary, reason: errnoDescription()) }
            guard rename(temporary, path) == 0 else {
                throw FileSystemError(operation: "rename into place", path: path, reason: errnoDescription())
            }
        } catch {
            unlink(temporary)
            throw error
        }
        try syncDirectory(directory(of: path))
    }
}
