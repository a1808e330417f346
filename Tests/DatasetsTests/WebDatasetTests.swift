import Foundation
import Testing
import Datasets
import Images

@Suite struct WebDatasetTests {
    let shard0 = Fixtures.path("webdataset/00000.tar")
    let shard1 = Fixtures.path("webdataset/00001.tar")

    @Test func samplesFromImg2datasetShards() throws {
        let ds = try ImageTextDataset.readWebDataset(shards: [shard0, shard1], policy: .skip)
        #expect(ds.samples.map(\.key) == ["000000000", "000000001", "000000002", "000000003", "part/000000010"])
        // The .json has only "caption" (not a short-caption field): the .txt is the fallback.
        #expect(ds[0].shortCaptions == ["a red square"])
        #expect(ds[0].longCaption == "A long description of a red square.")
        #expect(ds[1].shortCaptions == ["green one", "green two"])
        #expect(ds[1].longCaption == "A long description of a green square.")
        #expect(ds[2].shortCaptions == ["only a text caption"])
        #expect(ds[2].longCaption == nil)
        #expect(ds[4].shortCaptions == ["a yellow square"])
        #expect(ds[4].longCaption == "A long yellow one.")
        // Images stay in the shard and are named shard.tar:member.
        #expect(ds[0].imagePath == shard0 + ":000000000.jpg")
        #expect(ds[1].imagePath == shard0 + ":000000001.png")
        #expect(ds[4].imagePath == shard1 + ":part/000000010.png")
        #expect(ds[0].image.path == nil)
        let green = try ds[1].image.load()
        #expect(green.width == 8 && green.height == 8)
        #expect(green[3, 3] == (0, 255, 0))
        let red = try ds[0].image.load()
        #expect(abs(Int(red[4, 4].0) - 255) <= 3 && red[4, 4].1 <= 3)
        // The corrupt image is only found when decoding, and the error names shard and member.
        do {
            _ = try ds[3].image.load()
            Issue.record("corrupt image decoded")
        } catch let e as ImageError {
            #expect(e.name == shard0 + ":000000003.jpg")
        }
    }

    @Test func incompleteSamplesAreReported() throws {
        let ds = try ImageTextDataset.readWebDataset(shards: [shard0, shard1], policy: .skip)
        #expect(ds.skipped.map(\.key) == ["000000004", "000000005", "000000006"])
        #expect(ds.skipped.allSatisfy { $0.offset != nil && $0.file.hasPrefix(shard0) })
        guard ds.skipped.count == 3 else { return }
        if case .incompleteSample = ds.skipped[0].problem {} else { Issue.record("\(ds.skipped[0])") }
        if case .malformedJSON = ds.skipped[1].problem {} else { Issue.record("\(ds.skipped[1])") }
        #expect(ds.skipped[1].file == shard0 + ":000000005.json")
        #expect(ds.skipped[2].problem == .noCaption(fields: ["short_caption", "short_captions", "long_caption", "000000006.txt"]))
        let e = expectDatasetError { _ = try ImageTextDataset.readWebDataset(shards: [shard0]) }
        #expect(e?.key == "000000004")
        #expect(e?.description.contains("needs an image") == true)
    }

    @Test func captionFieldsAreConfigurable() throws {
        let f = WebDatasetFields(shortCaption: ["caption"], longCaption: "nothing", textFallback: false)
        let ds = try ImageTextDataset.readWebDataset(shards: [shard0], fields: f, policy: .skip)
        #expect(ds.samples.map(\.key) == ["000000000", "000000003"])
        #expect(ds[0].shortCaptions == ["a red square"])
        #expect(ds[0].longCaption == nil)
        // 000000001 has an empty "caption" and 000000002 no .json: no caption without the .txt.
        #expect(ds.skipped.map(\.key) == ["000000001", "000000002", "000000004", "000000005", "000000006"])
    }

    @Test func damagedShardIsOneProblem() throws {
        let dir = Fixtures.scratch("wds-damaged")
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: shard0)))
        bytes[512 * 3 + 10] ^= 0x01  // inside the second member's header
        try Fixtures.write(bytes, to: dir + "/bad.tar")
        let ds = try ImageTextDataset.readWebDataset(shards: [dir + "/bad.tar", shard1, dir + "/missing.tar"], policy: .skip)
        #expect(ds.samples.map(\.key) == ["part/000000010"])
        #expect(ds.skipped.count == 2)
        #expect(ds.skipped.first?.file == dir + "/bad.tar")
        if case .malformedArchive = ds.skipped.first?.problem {} else { Issue.record("\(ds.skipped)") }
        #expect(ds.skipped.last?.file == dir + "/missing.tar")
    }

    @Test func shardBuiltBySystemTar() throws {
        // img2dataset-like shard with keys in a sub-folder and a multi-dot member name.
        let dir = Fixtures.scratch("wds-built")
        let src = dir + "/src"
        let png = try RGBImage(width: 4, height: 4, fill: (10, 20, 30)).pngData()
        try Fixtures.write(png, to: src + "/shard/a1.png")
        try Fixtures.write("caption a1", to: src + "/shard/a1.txt")
        try Fixtures.write(png, to: src + "/shard/b2.png")
        try Fixtures.write("{\"short_caption\": \"caption b2\", \"long_caption\": \"long b2\"}", to: src + "/shard/b2.json")
        try Fixtures.write("ignored", to: src + "/shard/b2.seg.npy")
        try Fixtures.run("/usr/bin/tar", ["--format=gnu", "--sort=name", "-cf", dir + "/s.tar", "-C", src, "shard"])
        let ds = try ImageTextDataset.readWebDataset(shards: [dir + "/s.tar"])
        #expect(ds.samples.map(\.key) == ["shard/a1", "shard/b2"])
        #expect(ds.samples.map(\.shortCaptions) == [["caption a1"], ["caption b2"]])
        #expect(ds[1].longCaption == "long b2")
        #expect(try ds[0].image.load() == RGBImage(width: 4, height: 4, fill: (10, 20, 30)))
    }
}
