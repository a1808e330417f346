import Foundation
import Testing
import Datasets
import Images

@Suite struct EvaluationSetTests {
    @Test func flickrKarpathyTestSplit() throws {
        let path = Fixtures.path("karpathy/dataset_flickr30k.json")
        let root = Fixtures.path("karpathy/flickr30k-images")
        let ds = try ImageTextDataset.readKarpathy(path, imageRoot: root, policy: .skip)
        #expect(ds.samples.map(\.key) == ["1000092795.jpg", "1001773457.png"])
        #expect(ds[0].shortCaptions.count == 5)
        #expect(ds[0].shortCaptions[0] == "Two young guys with shaggy hair look at their hands.")
        #expect(ds[0].image == .file(root + "/1000092795.jpg"))
        #expect(ds[1].shortCaptions == ["A child in a pink dress.", "A little girl climbing."])
        #expect(ds[0].longCaption == nil)
        // Broken records: located by file, line (the file is one line) and position.
        #expect(ds.skipped.map(\.key) == ["images[3]", "images[4] 404.jpg", "images[5] 10002456.jpg"])
        #expect(ds.skipped.allSatisfy { $0.line == 1 && $0.file == path })
        #expect(ds.skipped.map(\.problem) == [.missingField("filename"), .missingImage(path: root + "/404.jpg"),
                                               .noCaption(fields: ["sentences[].raw"])])
        let e = expectDatasetError { _ = try ImageTextDataset.readKarpathy(path, imageRoot: root) }
        #expect(e?.key == "images[3]")
        // Other splits.
        #expect(try ImageTextDataset.readKarpathy(path, imageRoot: root, split: "train").samples.map(\.key) == ["10002456.jpg"])
        #expect(try ImageTextDataset.readKarpathy(path, imageRoot: root, split: nil, policy: .skip).count == 4)
    }

    @Test func cocoKarpathyUsesFilepath() throws {
        let path = Fixtures.path("karpathy/dataset_coco.json")
        let root = Fixtures.path("karpathy/coco")
        let ds = try ImageTextDataset.readKarpathy(path, imageRoot: root, policy: .skip)
        #expect(ds.samples.map(\.key) == ["COCO_val2014_000000391895.jpg"])
        #expect(ds[0].image == .file(root + "/val2014/COCO_val2014_000000391895.jpg"))
        #expect(ds[0].shortCaptions.count == 2)
        let restval = try ImageTextDataset.readKarpathy(path, imageRoot: root, split: "restval")
        #expect(restval[0].image == .file(root + "/train2014/COCO_train2014_000000000009.jpg"))
        // The missing image's record is located by the line its object starts on.
        #expect(ds.skipped.count == 1)
        let line = try #require(ds.skipped.first?.line)
        let lines = try String(contentsOfFile: path, encoding: .utf8).components(separatedBy: "\n")
        #expect(lines[line - 1].trimmingCharacters(in: .whitespaces) == "{")
        let record = lines[line...].prefix { $0.trimmingCharacters(in: .whitespaces) != "}," && $0.trimmingCharacters(in: .whitespaces) != "}" }
        #expect(record.contains { $0.contains("COCO_val2014_000000000042.jpg") })
    }

    @Test func shareGPT4V() throws {
        let path = Fixtures.path("sharegpt4v/share-captioner.json")
        let ds = try ImageTextDataset.readShareGPT4V(path, policy: .skip)
        #expect(ds.samples.map(\.key) == ["000000000009", "sa_1"])
        #expect(ds[0].longCaption == "The image shows a lunch box with four compartments holding bread, broccoli and fruit.")
        #expect(ds[0].shortCaptions.isEmpty)
        #expect(ds[0].image == .file(Fixtures.path("sharegpt4v/coco/train2017/000000000009.jpg")))
        #expect(ds.skipped.map(\.key) == ["[2] nogpt", "[3] gone"])
        #expect(ds.skipped.allSatisfy { ($0.line ?? 0) > 1 })
        let first = try ImageTextDataset.readShareGPT4V(path, limit: 1)
        #expect(first.count == 1 && first.skipped.isEmpty)
        #expect(expectDatasetError { _ = try ImageTextDataset.readShareGPT4V(path) }?.key == "[2] nogpt")
    }

    @Test func urban1k() throws {
        let root = Fixtures.path("urban1k")
        let ds = try ImageTextDataset.readUrban1k(root, policy: .skip)
        #expect(ds.samples.map(\.key) == ["1", "2", "10"])
        #expect(ds[1].longCaption == "A quiet alley with bicycles leaning on a brick wall.")
        #expect(ds[2].image == .file(root + "/image/10.jpg"))
        #expect(ds.skipped.map(\.key) == ["3", "4"])
        #expect(ds.skipped[0].file == root + "/image/3.jpg")
        #expect(ds.skipped[1].file == root + "/caption/4.txt")
        #expect(expectDatasetError { _ = try ImageTextDataset.readUrban1k(root) }?.key == "3")
        #expect(expectDatasetError { _ = try ImageTextDataset.readUrban1k(Fixtures.root) }?.file == Fixtures.root + "/image")
    }

    @Test func docci() throws {
        let path = Fixtures.path("docci/docci_descriptions.jsonlines")
        let ds = try ImageTextDataset.readDOCCI(path, policy: .skip)
        #expect(ds.samples.map(\.key) == ["test_00001", "test_00002"])
        #expect(ds[0].image == .file(Fixtures.path("docci/images/test_00001.jpg")))
        #expect(ds[1].longCaption == "A blue tile with a white border.")
        #expect(ds.skipped.map(\.line) == [3, 4, 6])
        #expect(ds.skipped[0].problem == .missingImage(path: Fixtures.path("docci/images/test_00003.jpg")))
        #expect(try ImageTextDataset.readDOCCI(path, split: "train", policy: .skip).samples.map(\.key) == ["train_00001"])
        #expect(expectDatasetError { _ = try ImageTextDataset.readDOCCI(path) }?.line == 3)
    }

    @Test func imageFolders() throws {
        let root = Fixtures.path("imagefolder")
        let ds = try LabeledImageDataset.readImageFolder(root, policy: .skip)
        #expect(ds.classNames == ["Zebra", "cat", "dog", "empty"])
        #expect(ds.images.map(\.image) == [.file(root + "/Zebra/z1.png"), .file(root + "/cat/a.png"), .file(root + "/cat/b.jpg"),
                                           .file(root + "/dog/c.PNG"), .file(root + "/dog/sub/d.jpeg")])
        #expect(ds.images.map(\.label) == [0, 1, 1, 2, 2])
        #expect(ds.skipped.map(\.key) == ["empty"])
        #expect(expectDatasetError { _ = try LabeledImageDataset.readImageFolder(root) }?.file == root + "/empty")
        let named = try LabeledImageDataset.readImageFolder(root, classNames: ["cat": "tabby cat"], policy: .skip)
        #expect(named.classNames[1] == "tabby cat")
        #expect(try ds[2].image.load().width == 8)
    }

    @Test func idxFilesRawAndGzip() throws {
        for suffix in ["", ".gz"] {
            let ds = try LabeledImageDataset.readIDX(images: Fixtures.path("idx/images-idx3-ubyte" + suffix),
                                                     labels: Fixtures.path("idx/labels-idx1-ubyte" + suffix),
                                                     classNames: (0..<10).map(String.init))
            #expect(ds.count == 3)
            #expect(ds.images.map(\.label) == [9, 0, 3])
            for i in 0..<3 {
                let image = try ds[i].image.load()
                #expect(image.width == 4 && image.height == 5)
                for y in 0..<5 {
                    for x in 0..<4 {
                        let v = UInt8((i * 7 + y * 4 + x) % 256)
                        #expect(image[x, y] == (v, v, v))
                    }
                }
            }
            #expect(ds[1].image.name.hasSuffix("images-idx3-ubyte\(suffix)#1"))
        }
    }

    @Test func malformedIDXIsReported() throws {
        let images = Fixtures.path("idx/images-idx3-ubyte"), labels = Fixtures.path("idx/labels-idx1-ubyte")
        let names = (0..<10).map(String.init)
        let swapped = expectDatasetError { _ = try LabeledImageDataset.readIDX(images: labels, labels: images, classNames: names) }
        #expect(swapped?.file == labels)
        #expect(swapped?.description.contains("magic number 2049, expected 2051") == true)
        let dir = Fixtures.scratch("idx-bad")
        let full = [UInt8](try Data(contentsOf: URL(fileURLWithPath: images)))
        try Fixtures.write(Array(full.prefix(40)), to: dir + "/short-images")
        let truncated = expectDatasetError { _ = try LabeledImageDataset.readIDX(images: dir + "/short-images", labels: labels, classNames: names) }
        #expect(truncated?.description.contains("truncated") == true)
        // Labels beyond the class names: a per-item problem.
        let few = try LabeledImageDataset.readIDX(images: images, labels: labels, classNames: ["a", "b", "c", "d", "e"], policy: .skip)
        #expect(few.images.map(\.label) == [0, 3])
        #expect(few.skipped.map(\.key) == ["item 0"])
        // Count mismatch.
        try Fixtures.write([0, 0, 8, 1, 0, 0, 0, 2, 1, 1], to: dir + "/two-labels")
        let mismatch = expectDatasetError { _ = try LabeledImageDataset.readIDX(images: images, labels: dir + "/two-labels", classNames: names) }
        #expect(mismatch?.description.contains("2 labels for 3 images") == true)
    }

    /// The real Fashion-MNIST from Debian's dataset-fashion-mnist package (slower: 70,000 images).
    @Test func fashionMNISTFromDebian() throws {
        let dir = LabeledImageDataset.debianFashionMNISTDirectory
        guard FileManager.default.fileExists(atPath: dir + "/t10k-images-idx3-ubyte.gz") else {
            Issue.record("\(dir) is missing: run `bash scripts/setup.sh` (installs Debian's dataset-fashion-mnist)")
            return
        }
        let test = try LabeledImageDataset.readFashionMNIST(split: .test)
        #expect(test.count == 10_000)
        #expect(test.classNames == LabeledImageDataset.fashionMNISTClassNames)
        #expect(test[0].label == 9)   // the first test image is an ankle boot
        var histogram = [Int](repeating: 0, count: 10)
        for x in test.images { histogram[x.label] += 1 }
        #expect(histogram == [Int](repeating: 1000, count: 10))
        let image = try test[0].image.load()
        #expect(image.width == 28 && image.height == 28)
        #expect(image.pixels.contains { $0 > 0 } && image[0, 0] == (0, 0, 0))
        let train = try LabeledImageDataset.readFashionMNIST(split: .train)
        #expect(train.count == 60_000)
        #expect(train[0].label == 9)
        let missing = expectDatasetError { _ = try LabeledImageDataset.readFashionMNIST(directory: Fixtures.root) }
        #expect(missing?.description.contains("dataset-fashion-mnist") == true)
    }
}
