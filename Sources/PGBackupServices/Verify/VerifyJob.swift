import PGBackupFoundations
import PGBackupRepository
import PGBackupStorage

/// One object `pgbackup verify` reads: its key, how it is stored, and for chunks, packs and
/// server manifests the content the manifest records.
struct VerifyJob: Sendable {
    var key: String
    var algorithm: CompressionAlgorithm
    /// Bytes the store holds for it (from the listing).
    var storedSize: Int64
    /// The content's SHA-256 and length the referencing manifest records.
    var expected: (sha256: SHA256Digest, size: Int64)?
    /// Whether the object is under `wal/`.
    var wal: Bool

    /// Verifies the object; the problem found, or nil.
    func run(_ repository: Repository) async -> VerifyReport.Problem? {
        do {
            let seal = try await repository.verifySealedObject(key: key, algorithm: algorithm)
            if let expected {
                if seal.sha256 != expected.sha256 {
                    return .init(object: key, problem: "content mismatch: the content hashes to \(seal.sha256), the backup records \(expected.sha256)")
                }
                if Int64(seal.length) != expected.size {
                    return .init(object: key, problem: "size mismatch: it holds \(seal.length) bytes, the backup records \(expected.size)")
                }
            }
            return nil
        } catch let error as SealError {
            return .init(object: key, problem: Self.describe(error))
        } catch StorageError.notFound {
            return .init(object: key, problem: "missing (removed while verify ran)")
        } catch {
            return .init(object: key, problem: "unreadable: \("\(error)".split(separator: "\n").first ?? "")")
        }
    }

    static func describe(_ error: SealError) -> String {
        switch error.reason {
        case .missingSeal(let algorithm):
            "truncated: it does not end in a pgbackup seal for \(algorithm) data (cut short, damaged at its end, or not written by pgbackup)"
        case let .digestMismatch(sealed, actual):
            "seal mismatch: the seal records SHA-256 \(sealed), the content hashes to \(actual)"
        case let .lengthMismatch(sealed, actual):
            "seal mismatch: the seal records \(sealed) bytes, the content has \(actual)"
        case .undecodable(let cause):
            "damaged: the \(error.object.hasSuffix(".raw") ? "content" : "compressed content") cannot be decoded (\(cause)); it was altered or cut short"
        case .undecryptable(let failure):
            "damaged: \(failure)"
        }
    }

    /// Runs `jobs`, at most `width` at once; the problems (in job order) and the stored bytes read.
    static func runAll(
        _ jobs: [VerifyJob], repository: Repository, width: Int, onProgress: (@Sendable (VerifyService.Progress) -> Void)?
    ) async -> (problems: [VerifyReport.Problem], bytes: Int64) {
        let bytesTotal = jobs.reduce(Int64(0)) { $0 + $1.storedSize }
        var problems: [(Int, VerifyReport.Problem)] = []
        var done = 0
        var bytes: Int64 = 0
        await withTaskGroup(of: (Int, VerifyReport.Problem?).self) { group in
            var next = 0
            func startNext() {
                guard next < jobs.count else { return }
                let index = next
                let job = jobs[index]
                next += 1
                group.addTask { (index, await job.run(repository)) }
            }
            for _ in 0..<width { startNext() }
            while let (index, problem) = await group.next() {
                if let problem { problems.append((index, problem)) }
                done += 1
                bytes += jobs[index].storedSize
                onProgress?(VerifyService.Progress(objectsDone: done, objectsTotal: jobs.count, bytesDone: bytes, bytesTotal: bytesTotal))
                startNext()
            }
        }
        return (problems.sorted { $0.0 < $1.0 }.map(\.1), bytes)
    }
}
