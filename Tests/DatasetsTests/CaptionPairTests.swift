import Foundation
import Testing
import Datasets

@Suite struct CaptionPairTests {
    let csv = Fixtures.path("pairs/pairs.csv")
    let jsonl = Fixtures.path("pairs/pairs.jsonl")

    @Test func csvPairs() throws {
        let ds = try CaptionPairDataset.readCSV(csv, policy: .skip)
        #expect(ds.pairs == [
            CaptionPair(short: "a cat", long: "A grey cat sleeps on a sofa, curled up."),
            CaptionPair(short: "a dog", long: "A dog \"runs\" on the beach.\nWaves in the back."),
            CaptionPair(short: "a tree", long: "A tall green tree."),
        ])
        #expect(ds.skipped.map(\.line) == [5, 6, 7])
        #expect(ds.skipped.map(\.problem) == [.missingField("long_caption"), .missingField("short_caption"),
                                               .wrongFieldCount(expected: 2, found: 3)])
        let e = expectDatasetError { _ = try CaptionPairDataset.readCSV(csv) }
        #expect(e?.line == 5 && e?.file == csv)
        #expect(e?.description.hasPrefix("\(csv):5: no \"long_caption\" field") == true)
    }

    @Test func jsonlPairs() throws {
        let ds = try CaptionPairDataset.read(jsonl, policy: .skip)
        #expect(ds.pairs.map(\.short) == ["a cat", "a dog", "a tree"])
        #expect(ds.pairs[1].key == "d1")
        #expect(ds.skipped.map(\.line) == [3, 4, 5, 6])
        #expect(ds.skipped[1].problem == .missingField("long_caption"))
        #expect(ds.skipped[3].problem == .invalidField("short_caption", detail: "expected a string, found a number"))
        let e = expectDatasetError { _ = try CaptionPairDataset.read(jsonl) }
        #expect(e?.line == 3)
    }

    @Test func customColumnsAndMissingHeader() throws {
        let dir = Fixtures.scratch("pairs-custom")
        try Fixtures.write("id,caption,recaption\n7,short one,long one\n", to: dir + "/p.csv")
        let ds = try CaptionPairDataset.readCSV(dir + "/p.csv", fields: CaptionPairFields(short: "caption", long: "recaption", key: "id"))
        #expect(ds.pairs == [CaptionPair(short: "short one", long: "long one", key: "7")])
        let e = expectDatasetError { _ = try CaptionPairDataset.readCSV(dir + "/p.csv", policy: .skip) }
        #expect(e?.problem == .missingColumns(["short_caption", "long_caption"], found: ["id", "caption", "recaption"]))
    }

    @Test func shuffledBatches() throws {
        let pairs = CaptionPairDataset(pairs: (0..<10).map { CaptionPair(short: "s\($0)", long: "l\($0)") }, origin: "mem")
        let a = pairs.batches(size: 4, seed: 3, epoch: 0)
        #expect(a.map(\.count) == [4, 4, 2])
        #expect(a.flatMap { $0 }.map(\.short).sorted() == (0..<10).map { "s\($0)" }.sorted())
        #expect(pairs.batches(size: 4, seed: 3, epoch: 0) == a)
        #expect(pairs.batches(size: 4, seed: 3, epoch: 1) != a)
        #expect(pairs.batches(size: 4, seed: 3, epoch: 0, dropLast: true).map(\.count) == [4, 4])
        #expect(pairs.batches(size: 4, shuffle: false).flatMap { $0 } == pairs.pairs)
    }
}
