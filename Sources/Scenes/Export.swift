import Images

/// Which on-disk layouts ``SceneExporter`` writes, and how.
public struct SceneExportOptions: Sendable {
    /// `images/<key>.jpg` + `manifest.jsonl` + `manifest.csv`.
    public var manifest = true
    /// Web-dataset tar shards `shard-00000.tar`, … (img2dataset's layout: `<key>.jpg`,
    /// `<key>.txt`, `<key>.json` per sample).
    public var webDataset = true
    /// `pairs.csv` (`short_caption,long_caption`) for stage 1.
    public var pairs = true
    /// Samples per tar shard.
    public var shardSize = 1000
    public var jpegQuality = 95
    /// 4:4:4 by default: the scenes have sharp colour edges that 4:2:0 would smear at 64 px.
    public var jpegSubsampling: JPEGSubsampling = .s444
    /// Threads for JPEG encoding and image writing (nil: all cores).
    public var threads: Int? = nil

    public init() {}
}

/// The parameters a data set was generated with, written to `scenes.json`.
public struct SceneGenerationInfo: Sendable, Equatable {
    public var seed: UInt64
    public var count: Int
    public var imageSize: Int
    public var split: SceneSplit
    public var heldOutWording: Bool
    public var start: Int
    /// The most objects per scene (``SceneDataset/describe(index:seed:split:heldOutWording:maxObjects:)``).
    public var maxObjects: Int

    public init(seed: UInt64, count: Int, imageSize: Int, split: SceneSplit, heldOutWording: Bool, start: Int = 0,
                maxObjects: Int = 6) {
        self.seed = seed; self.count = count; self.imageSize = imageSize; self.split = split
        self.heldOutWording = heldOutWording; self.start = start; self.maxObjects = maxObjects
    }
}

/// What ``SceneExporter/finish(info:)`` wrote.
public struct SceneExportSummary: Sendable, Equatable {
    public var samples: Int
    /// Paths relative to the output folder, in the order written (images not listed).
    public var files: [String]
    public var shards: Int
    public var imageBytes: Int
}

/// Writes samples to a folder in the layouts users have, streaming: samples are added in
/// batches (in index order), JPEG-encoded once in parallel, and written as
///
/// ```text
/// out/images/<key>.jpg           JPEG (libjpeg-turbo, quality 95)
/// out/manifest.jsonl             {"key","image","short_captions","long_caption"} per line
/// out/manifest.csv               key,image,short_captions,long_caption (captions joined by " || ")
/// out/shard-00000.tar …          <key>.jpg, <key>.txt (first short caption), <key>.json
/// out/pairs.csv                  short_caption,long_caption (first short caption per image)
/// out/scenes.json                generation parameters
/// ```
///
/// Every file is written atomically (temporary file + rename); the manifests, pairs and
/// `scenes.json` appear only on ``finish(info:)``.
///
/// ```swift
/// let exporter = try SceneExporter(directory: "data/scenes-train")
/// for start in stride(from: 0, to: 10_000, by: 500) {
///     try exporter.add(SceneDataset.generate(count: 500, seed: 1, start: start))
/// }
/// try exporter.finish(info: SceneGenerationInfo(seed: 1, count: 10_000, imageSize: 64, split: .train, heldOutWording: false))
/// ```
public final class SceneExporter {
    public let directory: String
    public let options: SceneExportOptions
    /// Separator of the short captions in `manifest.csv`.
    public static let captionSeparator = " || "

    private var jsonl: StreamingAtomicFile?
    private var csv: StreamingAtomicFile?
    private var pairs: StreamingAtomicFile?
    private var shard = TarWriter()
    private var shardSamples = 0
    private var shardIndex = 0
    private var written: [String] = []
    private var count = 0
    private var imageBytes = 0
    private var done = false

    public init(directory: String, options: SceneExportOptions = SceneExportOptions()) throws {
        precondition(options.shardSize > 0, "SceneExporter: shardSize must be positive")
        precondition((1...100).contains(options.jpegQuality), "SceneExporter: jpegQuality outside 1...100")
        self.directory = directory
        self.options = options
        try makeDirectories(directory)
        if options.manifest {
            try makeDirectories(path("images"))
            jsonl = try StreamingAtomicFile(path: path("manifest.jsonl"))
            csv = try StreamingAtomicFile(path: path("manifest.csv"))
            try csv!.append(CSV.row(["key", "image", "short_captions", "long_caption"]))
        }
        if options.pairs {
            pairs = try StreamingAtomicFile(path: path("pairs.csv"))
            try pairs!.append(CSV.row(["short_caption", "long_caption"]))
        }
    }

    private func path(_ relative: String) -> String { directory + "/" + relative }

    public static func shardName(_ index: Int) -> String {
        let d = String(index)
        return "shard-" + String(repeating: "0", count: max(0, 5 - d.count)) + d + ".tar"
    }

    /// The JSON line of `manifest.jsonl`.
    public static func manifestLine(_ s: SceneSample) -> String {
        JSONValue.object([
            ("key", .string(s.key)),
            ("image", .string("images/\(s.key).jpg")),
            ("short_captions", .array(s.shortCaptions.map { .string($0) })),
            ("long_caption", .string(s.denseCaption)),
        ]).text
    }

    /// The `<key>.json` member of a shard.
    public static func shardJSON(_ s: SceneSample) -> String {
        JSONValue.object([
            ("key", .string(s.key)),
            ("short_captions", .array(s.shortCaptions.map { .string($0) })),
            ("long_caption", .string(s.denseCaption)),
        ]).text
    }

    /// Encodes and writes a batch of samples (the next ones in index order).
    public func add(_ samples: [SceneSample]) throws {
        guard !done else { throw SceneExportError.finished }
        let quality = options.jpegQuality, sub = options.jpegSubsampling
        let writeImages = options.manifest
        let dir = directory
        let results: [Result<[UInt8], SceneExportError>] = parallelMap(count: samples.count, threads: options.threads) { i in
            let s = samples[i]
            do {
                let jpeg = try s.image.jpegData(quality: quality, subsampling: sub)
                if writeImages { try AtomicFile.write(jpeg, to: "\(dir)/images/\(s.key).jpg", sync: false) }
                return .success(jpeg)
            } catch let e as SceneExportError {
                return .failure(e)
            } catch {
                return .failure(.encoding(key: s.key, reason: "\(error)"))
            }
        }
        for (s, r) in zip(samples, results) {
            let jpeg = try r.get()
            imageBytes += jpeg.count
            try jsonl?.append(SceneExporter.manifestLine(s) + "\n")
            try csv?.append(CSV.row([s.key, "images/\(s.key).jpg", s.shortCaptions.joined(separator: SceneExporter.captionSeparator), s.denseCaption]))
            try pairs?.append(CSV.row([s.shortCaptions.first ?? "", s.denseCaption]))
            if options.webDataset {
                try shard.append(name: "\(s.key).jpg", contents: jpeg)
                try shard.append(name: "\(s.key).txt", contents: Array((s.shortCaptions.first ?? "").utf8))
                try shard.append(name: "\(s.key).json", contents: Array(SceneExporter.shardJSON(s).utf8))
                shardSamples += 1
                if shardSamples == options.shardSize { try flushShard() }
            }
            count += 1
        }
    }

    private func flushShard() throws {
        guard shardSamples > 0 else { return }
        let name = SceneExporter.shardName(shardIndex)
        try AtomicFile.write(shard.finish(), to: path(name))
        written.append(name)
        shardIndex += 1
        shardSamples = 0
        shard = TarWriter()
    }

    /// Writes the last shard, the manifests, `pairs.csv` and `scenes.json`.
    @discardableResult
    public func finish(info: SceneGenerationInfo) throws -> SceneExportSummary {
        guard !done else { throw SceneExportError.finished }
        done = true
        if options.webDataset { try flushShard() }
        if let f = jsonl { try f.commit(); written.append("manifest.jsonl") }
        if let f = csv { try f.commit(); written.append("manifest.csv") }
        if let f = pairs { try f.commit(); written.append("pairs.csv") }
        try AtomicFile.write(SceneExporter.infoJSON(info, options: options, samples: count, shards: shardIndex) + "\n", to: path("scenes.json"))
        written.append("scenes.json")
        return SceneExportSummary(samples: count, files: written, shards: shardIndex, imageBytes: imageBytes)
    }

    static func infoJSON(_ info: SceneGenerationInfo, options: SceneExportOptions, samples: Int, shards: Int) -> String {
        var layouts: [(String, JSONValue)] = []
        if options.manifest {
            layouts.append(("images", .string("images/<key>.jpg")))
            layouts.append(("manifest_jsonl", .string("manifest.jsonl")))
            layouts.append(("manifest_csv", .string("manifest.csv")))
        }
        if options.webDataset {
            layouts.append(("webdataset", .array((0..<shards).map { .string(shardName($0)) })))
        }
        if options.pairs { layouts.append(("pairs_csv", .string("pairs.csv"))) }
        let subsampling: String
        switch options.jpegSubsampling {
        case .s444: subsampling = "4:4:4"
        case .s422: subsampling = "4:2:2"
        case .s420: subsampling = "4:2:0"
        }
        return JSONValue.object([
            ("generator", .string("llm2clip scenes")),
            ("version", .int(SceneDataset.version)),
            ("seed", info.seed <= UInt64(Int.max) ? .int(Int(info.seed)) : .string(String(info.seed))),
            ("count", .int(info.count)),
            ("start", .int(info.start)),
            ("samples_written", .int(samples)),
            ("image_size", .int(info.imageSize)),
            ("supersampling", .int(SceneRenderer.defaultSupersampling)),
            ("split", .string(info.split.rawValue)),
            ("held_out_wording", .bool(info.heldOutWording)),
            ("max_objects", .int(info.maxObjects)),
            ("short_captions_per_image", .int(SceneCaptioner.shortCaptionCount)),
            ("csv_caption_separator", .string(captionSeparator)),
            ("shard_size", .int(options.shardSize)),
            ("jpeg_quality", .int(options.jpegQuality)),
            ("jpeg_subsampling", .string(subsampling)),
            ("layouts", .object(layouts)),
        ]).text
    }
}
