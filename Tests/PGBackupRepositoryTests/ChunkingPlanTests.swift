import Testing
@testable import PGBackupRepository

@Suite("Chunking plan")
struct ChunkingPlanTests {
    @Test
    func defaults() throws {
        let policy = ChunkingPolicy.default
        #expect(policy.chunkSize == 4 << 20)
        #expect(policy.smallFileLimit == 64 << 10)
        #expect(policy.packSize == 4 << 20)
        try policy.validate()
    }

    @Test
    func bigFilesAreCutAtFixedOffsets() {
        let mib: Int64 = 1 << 20
        let plan = ChunkingPlan(files: [
            .init(path: "base/5/1", size: 10 * mib),
            .init(path: "base/5/2", size: 8 * mib),
            .init(path: "base/5/3", size: 64 << 10),
        ])
        #expect(plan.placements[0] == .chunks([
            .init(offset: 0, size: 4 * mib), .init(offset: 4 * mib, size: 4 * mib), .init(offset: 8 * mib, size: 2 * mib),
        ]))
        #expect(plan.placements[1] == .chunks([.init(offset: 0, size: 4 * mib), .init(offset: 4 * mib, size: 4 * mib)]))
        // Exactly the small-file limit is not small.
        #expect(plan.placements[2] == .chunks([.init(offset: 0, size: 64 << 10)]))
        #expect(plan.packs.isEmpty)
        #expect(plan.objectCount == 6)
    }

    @Test
    func emptyFilesStoreNothing() {
        let plan = ChunkingPlan(files: [.init(path: "postmaster.opts", size: 0)])
        #expect(plan.placements == [.empty])
        #expect(plan.objectCount == 0)
    }

    @Test
    func smallFilesArePackedWholeInOrder() {
        let policy = ChunkingPolicy(chunkSize: 1 << 20, smallFileLimit: 100, packSize: 250)
        let plan = ChunkingPlan(files: [
            .init(path: "a", size: 99),
            .init(path: "big", size: 300),
            .init(path: "b", size: 99),
            .init(path: "c", size: 60),  // 99 + 99 + 60 > 250: starts pack 1
            .init(path: "d", size: 1),
            .init(path: "e", size: 0),
        ], policy: policy)
        #expect(plan.placements == [
            .packed(pack: 0, offset: 0),
            .chunks([.init(offset: 0, size: 300)]),
            .packed(pack: 0, offset: 99),
            .packed(pack: 1, offset: 0),
            .packed(pack: 1, offset: 60),
            .empty,
        ])
        #expect(plan.packs == [.init(members: [0, 2], size: 198), .init(members: [3, 4], size: 61)])
        #expect(plan.objectCount == 3)
    }

    @Test
    func thousandsOfTinyFilesMakeAFewObjects() {
        let files = (0..<5_000).map { ChunkingPlan.File(path: "pg_xact/\($0)", size: 8_192) }
        let plan = ChunkingPlan(files: files)
        // 5,000 × 8 KiB = 40 MiB in 4 MiB packs (512 files each).
        #expect(plan.packs.count == 10)
        #expect(plan.packs.allSatisfy { $0.size <= 4 << 20 })
        #expect(plan.objectCount == 10)
    }

    @Test
    func thePackPlannerWorksOneFileAtATime() {
        var planner = PackPlanner(policy: ChunkingPolicy(chunkSize: 100, smallFileLimit: 50, packSize: 100))
        #expect(planner.place(size: 40) == (0, 0))
        #expect(planner.place(size: 40) == (0, 40))
        #expect(planner.place(size: 40) == (1, 0))
        #expect(planner.currentPack == 1)
        #expect(planner.currentSize == 40)
    }

    @Test
    func invalidPoliciesAreRefused() {
        #expect(throws: ChunkingPolicyError.self) { try ChunkingPolicy(chunkSize: 0).validate() }
        #expect(throws: ChunkingPolicyError.self) { try ChunkingPolicy(chunkSize: ChunkStore.maximumChunkSize + 1).validate() }
        let error = #expect(throws: ChunkingPolicyError.self) {
            try ChunkingPolicy(chunkSize: 1 << 20, smallFileLimit: 2 << 20).validate()
        }
        #expect(error?.description == "invalid chunking settings: the small-file limit (2097152) must be between 0 and the pack size (1048576)")
        // Planning with such a policy anyway never puts a file into a pack it does not fit.
        let plan = ChunkingPlan(files: [.init(path: "a", size: 150)], policy: ChunkingPolicy(chunkSize: 100, smallFileLimit: 200, packSize: 100))
        #expect(plan.placements == [.chunks([.init(offset: 0, size: 100), .init(offset: 100, size: 50)])])
    }
}
