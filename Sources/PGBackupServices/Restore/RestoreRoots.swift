/// The roots of one restore, made (0700) and open: the data directory's, and each tablespace's.
struct RestoreRoots: Sendable {
    let dataDirectory: RestoreRoot
    let tablespaces: [UInt32: RestoreRoot]

    /// Makes and opens every root of `plan`; the data directory first.
    static func open(_ plan: RestorePlan) throws -> RestoreRoots {
        var opened: [RestoreRoot] = []
        do {
            var tablespaces: [UInt32: RestoreRoot] = [:]
            for root in plan.roots {
                try RestoreFiles.makeRoot(root.path)
                let open = try RestoreRoot.open(root.path)
                opened.append(open)
                if let oid = root.tablespace { tablespaces[oid] = open }
            }
            return RestoreRoots(dataDirectory: opened[0], tablespaces: tablespaces)
        } catch {
            for root in opened { root.close() }
            throw error
        }
    }

    /// The root of an entry: the data directory's for nil, else its tablespace's.
    func root(of tablespace: UInt32?) -> RestoreRoot {
        tablespace.flatMap { tablespaces[$0] } ?? dataDirectory
    }

    /// The data directory's, then the tablespaces' by OID.
    var all: [(tablespace: UInt32?, root: RestoreRoot)] {
        [(nil, dataDirectory)] + tablespaces.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }

    func close() {
        for (_, root) in all { root.close() }
    }
}
