import Foundation

// Readers for the retrieval benchmarks of the paper's evaluation (reference §4).

extension ImageTextDataset {
    /// Reads a Karpathy-split JSON (`dataset_flickr30k.json`, `dataset_coco.json`):
    /// `{"images": [{"filename", "filepath"?, "split", "sentences": [{"raw": ..}, ...]}, ...]}`.
    /// Keeps the images of `split` (all when nil); each sample's short captions are its
    /// sentences' `raw` texts, its key the file name, its image `imageRoot/filepath/filename`.
    /// Problems are located by file, line and `images[i]`.
    ///
    /// ```swift
    /// let flickr = try ImageTextDataset.readKarpathy("dataset_flickr30k.json", imageRoot: "flickr30k-images")
    /// let coco = try ImageTextDataset.readKarpathy("dataset_coco.json", imageRoot: "coco")  // uses filepath val2014/
    /// print(flickr.count)          // 1000 test images, 5 captions each
    /// ```
    public static func readKarpathy(_ path: String, imageRoot: String, split: String? = "test",
                                    policy: ErrorPolicy = .stop, checkImages: Bool = true) throws -> ImageTextDataset {
        let root = try parseDocument(path)
        guard let images = root.object?["images"]?.array else {
            throw DatasetError(file: path, line: root.object?.line ?? 1, problem: .missingField("images"))
        }
        var log = ProblemLog(policy)
        var samples: [ImageTextSample] = []
        for (i, item) in images.enumerated() {
            guard let o = item.object else {
                try log.report(DatasetError(file: path, key: "images[\(i)]",
                                            problem: .invalidField("images", detail: "element \(i) is \(item.typeName), not an object")))
                continue
            }
            let position = "images[\(i)]"
            let name = o["filename"]?.string ?? ""
            if let split {
                guard let s = o["split"]?.string else {
                    try log.report(DatasetError(file: path, line: o.line, key: name.isEmpty ? position : "\(position) \(name)",
                                                problem: .missingField("split")))
                    continue
                }
                if s != split { continue }
            }
            guard !name.isEmpty else {
                try log.report(DatasetError(file: path, line: o.line, key: position, problem: .missingField("filename")))
                continue
            }
            let filename = name
            let where_ = "\(position) \(filename)"
            guard let sentences = o["sentences"]?.array else {
                try log.report(DatasetError(file: path, line: o.line, key: where_, problem: .missingField("sentences")))
                continue
            }
            let captions = sentences.compactMap { $0.object?["raw"]?.string }
                .map { $0.datasetTrimmed }.filter { !$0.isEmpty }
            if captions.isEmpty {
                try log.report(DatasetError(file: path, line: o.line, key: where_, problem: .noCaption(fields: ["sentences[].raw"])))
                continue
            }
            var rel = filename
            if let fp = o["filepath"]?.string, !fp.isEmpty { rel = fp + "/" + filename }
            let imagePath = DatasetFiles.resolve(rel, in: imageRoot)
            if checkImages && !DatasetFiles.isFile(imagePath) {
                try log.report(DatasetError(file: path, line: o.line, key: where_, problem: .missingImage(path: imagePath)))
                continue
            }
            samples.append(ImageTextSample(key: filename, image: .file(imagePath), shortCaptions: captions))
        }
        return ImageTextDataset(samples: samples, origin: path, skipped: log.problems)
    }

    /// Reads the ShareGPT4V long-caption benchmark: a JSON list of
    /// `{"id"?, "image": "rel/path.jpg", "conversations": [{"from": "human", ..}, {"from": "gpt", "value": caption}]}`,
    /// of which the first `limit` records are used (1000 in the paper). The caption is the first
    /// `gpt` turn and becomes the sample's long caption; images are relative to `imageRoot`
    /// (default: the JSON's folder).
    ///
    /// ```swift
    /// let sg = try ImageTextDataset.readShareGPT4V("share-captioner_coco_lcs_sam_1246k_1107.json", imageRoot: "data")
    /// ```
    public static func readShareGPT4V(_ path: String, imageRoot: String? = nil, limit: Int? = 1000,
                                      policy: ErrorPolicy = .stop, checkImages: Bool = true) throws -> ImageTextDataset {
        let doc = try parseDocument(path)
        guard let records = doc.array else {
            throw DatasetError(file: path, line: 1, problem: .malformedJSON("expected a list of records, found \(doc.typeName)"))
        }
        let root = imageRoot ?? DatasetFiles.folder(of: path)
        var log = ProblemLog(policy)
        var samples: [ImageTextSample] = []
        for (i, item) in records.prefix(limit ?? records.count).enumerated() {
            let position = "[\(i)]"
            guard let o = item.object else {
                try log.report(DatasetError(file: path, key: position,
                                            problem: .malformedJSON("record \(i) is \(item.typeName), not an object")))
                continue
            }
            guard let image = o["image"]?.string, !image.isEmpty else {
                try log.report(DatasetError(file: path, line: o.line, key: position, problem: .missingField("image")))
                continue
            }
            let key = o["id"]?.scalarText ?? image
            let turns = o["conversations"]?.array ?? []
            let caption = turns.lazy.compactMap(\.object).first { $0["from"]?.string == "gpt" }?["value"]?.string?
                .datasetTrimmed
            guard let caption, !caption.isEmpty else {
                try log.report(DatasetError(file: path, line: o.line, key: "\(position) \(key)",
                                            problem: .noCaption(fields: ["conversations[from=gpt].value"])))
                continue
            }
            let imagePath = DatasetFiles.resolve(image, in: root)
            if checkImages && !DatasetFiles.isFile(imagePath) {
                try log.report(DatasetError(file: path, line: o.line, key: "\(position) \(key)", problem: .missingImage(path: imagePath)))
                continue
            }
            samples.append(ImageTextSample(key: key, image: .file(imagePath), shortCaptions: [], longCaption: caption))
        }
        return ImageTextDataset(samples: samples, origin: path, skipped: log.problems)
    }

    /// Reads Urban1k: `root/image/<i>.jpg` with `root/caption/<i>.txt` (one long caption per
    /// image). Samples are ordered by `i` (numerically when the names are numbers); the key is `i`.
    /// An image without a caption file, or a caption without an image, is a problem.
    ///
    /// ```swift
    /// let urban = try ImageTextDataset.readUrban1k("Urban1k")
    /// print(urban[0].key, urban[0].longCaption!)
    /// ```
    public static func readUrban1k(_ root: String, policy: ErrorPolicy = .stop) throws -> ImageTextDataset {
        let imageDir = root + "/image", captionDir = root + "/caption"
        let images = try DatasetFiles.list(imageDir).filter { ["jpg", "jpeg", "png"].contains(DatasetFiles.ext($0)) }
        let captions = try DatasetFiles.list(captionDir).filter { DatasetFiles.ext($0) == "txt" }
        func stem(_ n: String) -> String { (n as NSString).deletingPathExtension }
        var imageByStem: [String: String] = [:]
        for n in images where imageByStem[stem(n)] == nil { imageByStem[stem(n)] = n }
        var captionByStem: [String: String] = [:]
        for n in captions { captionByStem[stem(n)] = n }
        let stems = Set(imageByStem.keys).union(captionByStem.keys).sorted { a, b in
            if let x = Int(a), let y = Int(b), x != y { return x < y }
            return a.utf8.lexicographicallyPrecedes(b.utf8)
        }
        var log = ProblemLog(policy)
        var samples: [ImageTextSample] = []
        for s in stems {
            guard let imageName = imageByStem[s] else {
                try log.report(DatasetError(file: captionDir + "/" + captionByStem[s]!, key: s,
                                            problem: .missingImage(path: imageDir + "/" + s + ".jpg")))
                continue
            }
            let imagePath = imageDir + "/" + imageName
            guard let captionName = captionByStem[s] else {
                try log.report(DatasetError(file: imagePath, key: s, problem: .incompleteSample("no caption file caption/\(s).txt")))
                continue
            }
            let captionPath = captionDir + "/" + captionName
            let data: Data
            do { data = try DatasetFiles.read(captionPath) } catch let e as DatasetError { try log.report(e); continue }
            let text = String(decoding: data, as: UTF8.self).datasetTrimmed
            if text.isEmpty {
                try log.report(DatasetError(file: captionPath, key: s, problem: .noCaption(fields: ["caption/\(s).txt"])))
                continue
            }
            samples.append(ImageTextSample(key: s, image: .file(imagePath), shortCaptions: [], longCaption: text))
        }
        return ImageTextDataset(samples: samples, origin: root, skipped: log.problems)
    }

    /// Reads DOCCI descriptions (`docci_descriptions.jsonlines`): one
    /// `{"example_id", "split", "image_file", "description"}` per line; keeps `split` (all when
    /// nil). The description is the long caption; images are under `imageRoot` (default: the
    /// `images` folder beside the file); the key is `example_id` (or the image file).
    ///
    /// ```swift
    /// let docci = try ImageTextDataset.readDOCCI("docci/docci_descriptions.jsonlines")
    /// ```
    public static func readDOCCI(_ path: String, imageRoot: String? = nil, split: String? = "test",
                                 policy: ErrorPolicy = .stop, checkImages: Bool = true) throws -> ImageTextDataset {
        let data = try DatasetFiles.read(path)
        let root = imageRoot ?? DatasetFiles.resolve("images", in: DatasetFiles.folder(of: path))
        var log = ProblemLog(policy)
        var samples: [ImageTextSample] = []
        for line in TextLines.split(data) where !line.isBlank {
            let value: JSONValue
            do {
                value = try JSONParser.parse(Array(line.bytes), firstLine: line.number)
            } catch let e as JSONSyntaxError {
                try log.report(DatasetError(file: path, line: line.number, problem: .malformedJSON(e.description)))
                continue
            }
            guard let o = value.object else {
                try log.report(DatasetError(file: path, line: line.number,
                                            problem: .malformedJSON("the line holds \(value.typeName), not an object")))
                continue
            }
            let key = o["example_id"]?.scalarText
            if let split {
                guard let s = o["split"]?.string else {
                    try log.report(DatasetError(file: path, line: line.number, key: key, problem: .missingField("split")))
                    continue
                }
                if s != split { continue }
            }
            guard let file = o["image_file"]?.string, !file.isEmpty else {
                try log.report(DatasetError(file: path, line: line.number, key: key, problem: .missingField("image_file")))
                continue
            }
            let text = o["description"]?.string?.datasetTrimmed ?? ""
            if text.isEmpty {
                try log.report(DatasetError(file: path, line: line.number, key: key ?? file, problem: .noCaption(fields: ["description"])))
                continue
            }
            let imagePath = DatasetFiles.resolve(file, in: root)
            if checkImages && !DatasetFiles.isFile(imagePath) {
                try log.report(DatasetError(file: path, line: line.number, key: key ?? file, problem: .missingImage(path: imagePath)))
                continue
            }
            samples.append(ImageTextSample(key: key ?? file, image: .file(imagePath), shortCaptions: [], longCaption: text))
        }
        return ImageTextDataset(samples: samples, origin: path, skipped: log.problems)
    }

    /// Parses a whole JSON file, or throws a DatasetError with the syntax error's line.
    static func parseDocument(_ path: String) throws -> JSONValue {
        let data = try DatasetFiles.read(path)
        do {
            return try JSONParser.parse(data)
        } catch let e as JSONSyntaxError {
            throw DatasetError(file: path, line: e.line, problem: .malformedJSON(e.description))
        }
    }
}

// MARK: classification sets

/// The split of an MNIST-style data set.
public enum MNISTSplit: String, Sendable {
    /// `train-images-idx3-ubyte(.gz)` + `train-labels-idx1-ubyte(.gz)` (60,000 images).
    case train
    /// `t10k-images-idx3-ubyte(.gz)` + `t10k-labels-idx1-ubyte(.gz)` (10,000 images).
    case test

    var filePrefix: String { self == .train ? "train" : "t10k" }
}

extension LabeledImageDataset {
    /// Fashion-MNIST's class names, label 0 … 9.
    public static let fashionMNISTClassNames = [
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ]

    /// Where Debian's `dataset-fashion-mnist` package installs the files.
    public static let debianFashionMNISTDirectory = "/usr/share/datasets/fashion-mnist"

    /// Reads an ImageNet-style folder tree: `root/<class>/**/*.{jpg,jpeg,png}`. Classes are the
    /// sub-folders sorted by code point (torchvision's `ImageFolder` order) and labelled 0, 1, …;
    /// images are sorted within each class. `classNames` may map folder names to readable names
    /// (e.g. WordNet ids to words). A class folder without images is a problem (its label is
    /// kept either way so labels do not shift).
    ///
    /// ```swift
    /// let val = try LabeledImageDataset.readImageFolder("imagenet/val")
    /// print(val.classNames.count, val[0].label)
    /// ```
    public static func readImageFolder(_ root: String, extensions: Set<String> = ["jpg", "jpeg", "png"],
                                       classNames: [String: String] = [:], policy: ErrorPolicy = .stop) throws -> LabeledImageDataset {
        let folders = try DatasetFiles.list(root).filter { DatasetFiles.isDirectory(root + "/" + $0) }
            .sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        guard !folders.isEmpty else {
            throw DatasetError(file: root, problem: .noSamples("no class sub-folders; expected root/<class>/<image>.jpg"))
        }
        var log = ProblemLog(policy)
        var images: [LabeledImage] = []
        for (label, folder) in folders.enumerated() {
            let files = collectFiles(root + "/" + folder, extensions: extensions)
            if files.isEmpty {
                try log.report(DatasetError(file: root + "/" + folder, key: folder,
                                            problem: .noSamples("no \(extensions.sorted().joined(separator: "/")) files in this class folder")))
            }
            images += files.map { LabeledImage(image: .file($0), label: label) }
        }
        return LabeledImageDataset(images: images, classNames: folders.map { classNames[$0] ?? $0 }, origin: root,
                                   skipped: log.problems)
    }

    private static func collectFiles(_ folder: String, extensions: Set<String>) -> [String] {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [])
            .filter { !$0.hasPrefix(".") }.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        var out: [String] = []
        for n in names {
            let p = folder + "/" + n
            if DatasetFiles.isDirectory(p) {
                out += collectFiles(p, extensions: extensions)
            } else if extensions.contains(DatasetFiles.ext(n)) {
                out.append(p)
            }
        }
        return out
    }

    /// Reads Fashion-MNIST from `directory` (default: where Debian's `dataset-fashion-mnist`
    /// installs it), accepting gzip-compressed or raw IDX files. Images are 28×28 grey; labels
    /// 0–9 name ``fashionMNISTClassNames``.
    ///
    /// ```swift
    /// let test = try LabeledImageDataset.readFashionMNIST(split: .test)   // 10,000 images
    /// ```
    public static func readFashionMNIST(directory: String = debianFashionMNISTDirectory, split: MNISTSplit = .test,
                                        policy: ErrorPolicy = .stop) throws -> LabeledImageDataset {
        func find(_ base: String) throws -> String {
            for candidate in [base + ".gz", base] where DatasetFiles.isFile(directory + "/" + candidate) {
                return directory + "/" + candidate
            }
            throw DatasetError(file: directory + "/" + base + ".gz", problem: .unreadable(
                reason: "no such file (nor \(base)); install Debian's dataset-fashion-mnist package (`apt-get install dataset-fashion-mnist`) or pass the folder holding the IDX files"))
        }
        let images = try find("\(split.filePrefix)-images-idx3-ubyte")
        let labels = try find("\(split.filePrefix)-labels-idx1-ubyte")
        var ds = try readIDX(images: images, labels: labels, classNames: fashionMNISTClassNames, policy: policy)
        ds.origin = directory
        return ds
    }

    /// Reads an IDX image file (magic 2051: count, rows, columns, then bytes) with its IDX label
    /// file (magic 2049: count, then one byte per label); sizes are big-endian, files may be
    /// gzip-compressed. Image `i` is named `images#i` in errors. A label outside `classNames` is
    /// a problem for that item.
    ///
    /// ```swift
    /// let ds = try LabeledImageDataset.readIDX(images: "t10k-images-idx3-ubyte.gz",
    ///                                          labels: "t10k-labels-idx1-ubyte.gz",
    ///                                          classNames: (0..<10).map(String.init))
    /// ```
    public static func readIDX(images: String, labels: String, classNames: [String],
                               policy: ErrorPolicy = .stop) throws -> LabeledImageDataset {
        let imageData = try DatasetFiles.read(images)
        let labelData = try DatasetFiles.read(labels)
        let imageDims = try idxHeader(imageData, file: images, magic: 2051, dims: 3)
        let labelDims = try idxHeader(labelData, file: labels, magic: 2049, dims: 1)
        let (n, rows, cols) = (imageDims[0], imageDims[1], imageDims[2])
        guard labelDims[0] == n else {
            throw DatasetError(file: labels, problem: .malformedIDX("\(labelDims[0]) labels for \(n) images in \(images)"))
        }
        let imageStart = 16, labelStart = 8
        let plane = rows * cols
        guard imageData.count - imageStart >= n * plane else {
            throw DatasetError(file: images, problem: .malformedIDX(
                "truncated: \(n) images of \(rows)x\(cols) need \(imageStart + n * plane) bytes, the file has \(imageData.count)"))
        }
        guard labelData.count - labelStart >= n else {
            throw DatasetError(file: labels, problem: .malformedIDX(
                "truncated: \(n) labels need \(labelStart + n) bytes, the file has \(labelData.count)"))
        }
        var log = ProblemLog(policy)
        var out: [LabeledImage] = []
        out.reserveCapacity(n)
        let base = imageData.startIndex + imageStart
        let labelBase = labelData.startIndex + labelStart
        for i in 0..<n {
            let label = Int(labelData[labelBase + i])
            guard label < classNames.count else {
                try log.report(DatasetError(file: labels, key: "item \(i)", problem: .malformedIDX(
                    "label \(label) but only \(classNames.count) class names")))
                continue
            }
            let bytes = imageData[(base + i * plane)..<(base + (i + 1) * plane)]
            out.append(LabeledImage(image: .grey(name: "\(images)#\(i)", width: cols, height: rows, bytes: bytes), label: label))
        }
        return LabeledImageDataset(images: out, classNames: classNames, origin: images, skipped: log.problems)
    }

    /// Checks an IDX header (`00 00 08 <dims>` then `dims` big-endian UInt32 sizes) and returns the sizes.
    private static func idxHeader(_ d: Data, file: String, magic: Int, dims: Int) throws -> [Int] {
        func u32(_ at: Int) -> Int {
            let s = d.startIndex + at
            return Int(d[s]) << 24 | Int(d[s + 1]) << 16 | Int(d[s + 2]) << 8 | Int(d[s + 3])
        }
        guard d.count >= 4 else {
            throw DatasetError(file: file, problem: .malformedIDX("only \(d.count) bytes, not even a magic number"))
        }
        let m = u32(0)
        guard m == magic else {
            throw DatasetError(file: file, problem: .malformedIDX("magic number \(m), expected \(magic)"))
        }
        guard d.count >= 4 + 4 * dims else {
            throw DatasetError(file: file, problem: .malformedIDX("only \(d.count) bytes; the header alone needs \(4 + 4 * dims)"))
        }
        return (0..<dims).map { u32(4 + 4 * $0) }
    }
}
