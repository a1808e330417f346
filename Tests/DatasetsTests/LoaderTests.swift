import Foundation
import Testing
import Datasets
import Images
import TensorKit

/// 23 in-memory images of different sizes and contents.
private func syntheticDataset(_ n: Int = 23) -> ImageTextDataset {
    let samples = (0..<n).map { i -> ImageTextSample in
        let w = 9 + i % 5, h = 7 + (i * 3) % 6
        var image = RGBImage(width: w, height: h)
        for y in 0..<h {
            for x in 0..<w {
                image[x, y] = (UInt8((i * 11 + x * 17) % 256), UInt8((y * 29 + i) % 256), UInt8((x * y + i * 5) % 256))
            }
        }
        return ImageTextSample(key: "s\(i)", image: .pixels(name: "s\(i)", image: image),
                               shortCaptions: ["short \(i)"], longCaption: i % 2 == 0 ? "long \(i)" : nil)
    }
    return ImageTextDataset(samples: samples, origin: "synthetic")
}

/// Every batch of one epoch.
private func drain<S>(_ stream: BatchStream<S>) throws -> [Batch<S>] {
    var out: [Batch<S>] = []
    while let b = try stream.next() { out.append(b) }
    return out
}

@Suite struct LoaderTests {
    let transform = CLIPTransform(size: 8)

    @Test func evalBatchesMatchCLIPTransform() throws {
        let ds = syntheticDataset()
        let loader = DataLoader(ds, batchSize: 5, transform: transform)
        let batches = try drain(loader.epoch(0))
        #expect(batches.map(\.count) == [5, 5, 5, 5, 3])
        #expect(batches.map(\.number) == [0, 1, 2, 3, 4])
        #expect(batches.flatMap(\.indices) == Array(0..<23))
        #expect(loader.batchesPerEpoch == 5)
        for b in batches {
            #expect(b.images.shape == [b.count, 3, 8, 8])
            let values = b.images.toArray()
            for (row, i) in b.indices.enumerated() {
                let expected = transform.eval(try ds[i].image.load()).toArray()
                #expect(Array(values[(row * 192)..<((row + 1) * 192)]) == expected)
            }
            #expect(b.shortCaptions == b.indices.map { ["short \($0)"] })
            #expect(b.longCaptions == b.indices.map { $0 % 2 == 0 ? "long \($0)" : nil })
            #expect(b.keys == b.indices.map { "s\($0)" })
        }
        var dropLast = loader
        dropLast.dropLast = true
        #expect(try drain(dropLast.epoch(0)).map(\.count) == [5, 5, 5, 5])
        #expect(dropLast.batchesPerEpoch == 4)
    }

    @Test func sameSeedSameOrderOtherEpochOtherOrder() throws {
        let ds = syntheticDataset()
        let loader = DataLoader(ds, batchSize: 4, transform: transform, mode: .train, shuffle: true, seed: 7)
        let a = try drain(loader.epoch(0)), b = try drain(loader.epoch(0))
        #expect(a.map(\.indices) == b.map(\.indices))
        #expect(a.map { $0.images.toArray() } == b.map { $0.images.toArray() })
        let order0 = a.flatMap(\.indices)
        #expect(order0.sorted() == Array(0..<23))
        #expect(order0 != Array(0..<23))
        #expect(order0 == Shuffle.permutation(count: 23, seed: 7, epoch: 0))
        #expect(order0 == loader.order(epoch: 0))
        let order1 = try drain(loader.epoch(1)).flatMap(\.indices)
        #expect(order1 != order0)
        #expect(order1.sorted() == Array(0..<23))
        var other = loader
        other.seed = 8
        #expect(try drain(other.epoch(0)).flatMap(\.indices) != order0)
        // Train crops differ between epochs for the same sample.
        let x0 = try loader.load(indices: [3], epoch: 0).images.toArray()
        let x1 = try loader.load(indices: [3], epoch: 5).images.toArray()
        #expect(x0 != x1)
    }

    @Test func threadCountAndPrefetchDoNotChangeAnything() throws {
        let ds = syntheticDataset()
        var results: [[[Float]]] = []
        var orders: [[[Int]]] = []
        for (threads, prefetch) in [(1, 0), (1, 2), (4, 2), (3, 1)] {
            let loader = DataLoader(ds, batchSize: 6, transform: transform, mode: .train, shuffle: true, seed: 99,
                                    threads: threads, prefetch: prefetch)
            let batches = try drain(loader.epoch(2))
            results.append(batches.map { $0.images.toArray() })
            orders.append(batches.map(\.indices))
        }
        #expect(orders.allSatisfy { $0 == orders[0] })
        #expect(results.allSatisfy { $0 == results[0] })
    }

    @Test func prefetchNeitherLosesNorDuplicates() throws {
        let ds = syntheticDataset(41)
        for dropLast in [false, true] {
            let loader = DataLoader(ds, batchSize: 3, transform: transform, shuffle: true, seed: 1, dropLast: dropLast,
                                    threads: 2, prefetch: 2)
            for epoch in 0..<3 {
                let stream = loader.epoch(epoch)
                var seen: [Int] = []
                var k = 0
                while let b = try stream.next() {
                    #expect(b.number == k)
                    #expect(b.images.shape[0] == b.indices.count)
                    seen += b.indices
                    k += 1
                    if k % 4 == 0 { usleep(20_000) }   // a slow consumer: the queue fills up
                }
                #expect(Set(seen).count == seen.count)
                #expect(seen == loader.order(epoch: epoch).prefix(dropLast ? 39 : 41).map { $0 })
                #expect(stream.delivered == (dropLast ? 13 : 14))
                #expect(stream.peakQueued <= 2)
                #expect(try stream.next() == nil)
            }
        }
    }

    @Test func queueHoldsAtMostPrefetchBatches() throws {
        let loader = DataLoader(syntheticDataset(12), batchSize: 1, transform: transform, threads: 1, prefetch: 2)
        let stream = loader.epoch(0)
        // Let the producer run ahead until the queue is full (it must stop there).
        for _ in 0..<400 where stream.peakQueued < 2 { usleep(25_000) }
        usleep(100_000)
        #expect(stream.peakQueued == 2)
        var n = 0
        while try stream.next() != nil { n += 1 }
        #expect(n == 12)
        #expect(stream.peakQueued <= 2)
    }

    @Test func abandoningAStreamStopsItsThread() throws {
        let loader = DataLoader(syntheticDataset(), batchSize: 2, transform: transform, prefetch: 2)
        do {
            let stream = loader.epoch(0)
            _ = try stream.next()
            _ = try stream.next()
        }  // dropped while the producer is blocked on a full queue
        let stream = loader.epoch(0)
        _ = try stream.next()
        stream.cancel()
        #expect(try stream.next() == nil)
        #expect(try drain(loader.epoch(0)).count == 12)
    }

    @Test func undecodableImagesStopOrAreSkipped() throws {
        let ds = try ImageTextDataset.readJSONL(Fixtures.path("manifest/manifest.jsonl"), policy: .skip)
        let corrupt = Fixtures.path("manifest/images/corrupt.jpg")
        #expect(ds.samples.map(\.key).contains("corrupt"))
        let stop = DataLoader(ds, batchSize: 2, transform: transform, policy: .stop)
        let stream = stop.epoch(0)
        let first = try stream.next()
        #expect(first?.keys == ["red", "images/green.jpg"])
        let e = expectDatasetError { _ = try stream.next() }
        #expect(e?.file == corrupt)
        #expect(e?.key == "corrupt")
        #expect(e?.description.contains(corrupt) == true)
        if case .undecodableImage(let ie)? = e?.problem { #expect(ie.name == corrupt) } else { Issue.record("\(String(describing: e))") }
        #expect(try stream.next() == nil)

        let skip = DataLoader(ds, batchSize: 2, transform: transform, threads: 3, policy: .skip)
        let s2 = skip.epoch(0)
        let batches = try drain(s2)
        #expect(batches.map(\.count) == [2, 1, 1])
        #expect(batches.flatMap(\.keys) == ["red", "images/green.jpg", "blue", "42"])
        #expect(batches[1].skipped.map(\.file) == [corrupt])
        #expect(s2.skipped.count == 1)
        // The kept row of the short batch is the right image.
        let blue = transform.eval(try ds[3].image.load()).toArray()
        #expect(batches[1].images.toArray() == blue)
    }

    @Test func allImagesOfABatchFailing() throws {
        let bad = ImageSource.encoded(name: "mem:bad.jpg", bytes: Data([0xFF, 0xD8, 0xFF, 0x00, 1, 2, 3]))
        let good = ImageSource.pixels(name: "ok", image: RGBImage(width: 3, height: 3, fill: (1, 2, 3)))
        let ds = ImageTextDataset(samples: [bad, bad, good].enumerated().map {
            ImageTextSample(key: "k\($0.offset)", image: $0.element, shortCaptions: ["c"])
        }, origin: "mem")
        let loader = DataLoader(ds, batchSize: 2, transform: transform, policy: .skip)
        let stream = loader.epoch(0)
        let batches = try drain(stream)
        #expect(batches.map(\.indices) == [[2]])
        #expect(stream.skipped.map(\.key) == ["k0", "k1"])
        #expect(stream.skipped.allSatisfy { $0.file == "mem:bad.jpg" })
    }

    @Test func loadsFromTarShardsAndLabelledSets() throws {
        let ds = try ImageTextDataset.readWebDataset(shards: [Fixtures.path("webdataset/00000.tar")], policy: .skip)
        let stream = DataLoader(ds, batchSize: 8, transform: transform, policy: .skip).epoch(0)
        let batches = try drain(stream)
        #expect(batches.map(\.keys) == [["000000000", "000000001", "000000002"]])
        #expect(stream.skipped.map(\.file) == [Fixtures.path("webdataset/00000.tar") + ":000000003.jpg"])

        let idx = try LabeledImageDataset.readIDX(images: Fixtures.path("idx/images-idx3-ubyte.gz"),
                                                  labels: Fixtures.path("idx/labels-idx1-ubyte.gz"),
                                                  classNames: (0..<10).map(String.init))
        let lb = try drain(DataLoader(idx, batchSize: 2, transform: transform).epoch(0))
        #expect(lb.map(\.labels) == [[9, 0], [3]])
        #expect(lb[0].images.shape == [2, 3, 8, 8])
    }

    @Test func permutationsAreFixed() {
        let p = Shuffle.permutation(count: 1000, seed: 123, epoch: 4)
        #expect(p.sorted() == Array(0..<1000))
        #expect(p == Shuffle.permutation(count: 1000, seed: 123, epoch: 4))
        #expect(p != Shuffle.permutation(count: 1000, seed: 123, epoch: 5))
        #expect(Shuffle.permutation(count: 0, seed: 1, epoch: 0) == [])
        #expect(Shuffle.permutation(count: 1, seed: 1, epoch: 0) == [0])
        // Pinned values: the order must not change between versions (reproducible runs).
        #expect(Shuffle.permutation(count: 8, seed: 0, epoch: 0) == [5, 7, 3, 0, 6, 1, 4, 2])
        #expect(Shuffle.permutation(count: 8, seed: 42, epoch: 3) == [3, 1, 2, 7, 0, 5, 6, 4])
    }
}
