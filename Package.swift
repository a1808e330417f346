// swift-tools-version:6.1
import PackageDescription

// Layers (each depends only on the ones listed before it):
//   CEngine (C kernels, thread pool, BLAS bridge) → TensorKit (tensors + autodiff)
//   → NeuralNet (modules, optimisers) → Formats (safetensors, GGUF, gzip) and Tokenizers
//   → Models (Llama family, BERT, LLM2Vec encoder, CLIP/EVA02 towers, LLM2CLIP)
//   → Images (JPEG/PNG through the CImageCodecs shim, CLIP preprocessing) → llm2clip (command line)
let package = Package(
    name: "LLM2CLIP",
    platforms: [.macOS(.v13)],
    products: [
        .library(name: "TensorKit", targets: ["TensorKit"]),
        .library(name: "NeuralNet", targets: ["NeuralNet"]),
        .library(name: "Formats", targets: ["Formats"]),
        .library(name: "Tokenizers", targets: ["Tokenizers"]),
        .library(name: "Models", targets: ["Models"]),
        .library(name: "Images", targets: ["Images"]),
        .library(name: "Scenes", targets: ["Scenes"]),
        .library(name: "Datasets", targets: ["Datasets"]),
        .library(name: "Evaluation", targets: ["Evaluation"]),
        .library(name: "Training", targets: ["Training"]),
        .executable(name: "llm2clip", targets: ["llm2clip"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // Hot kernels. Each x86-64 kernel is compiled twice (portable and AVX2+FMA through
        // per-function target attributes) and chosen at run time: no global compiler flags.
        .target(
            name: "CEngine",
            cSettings: [.define("_GNU_SOURCE")],
            linkerSettings: [.linkedLibrary("openblas"), .linkedLibrary("pthread"), .linkedLibrary("m")]
        ),
        // Debian's zlib (zlib1g-dev), for gzip-compressed vocabularies and data files.
        .systemLibrary(name: "CZlib", providers: [.apt(["zlib1g-dev"])]),
        .target(name: "TensorKit", dependencies: ["CEngine"]),
        .target(name: "NeuralNet", dependencies: ["TensorKit"]),
        .target(name: "Formats", dependencies: ["TensorKit", "CZlib"]),
        .target(name: "Tokenizers", dependencies: ["Formats"]),
        .target(name: "Models", dependencies: ["NeuralNet", "Formats", "Tokenizers"]),
        // Debian's libjpeg-turbo (libjpeg62-turbo-dev) and libpng (libpng-dev) behind a C shim that
        // catches their setjmp/longjmp errors.
        .target(name: "CImageCodecs", linkerSettings: [.linkedLibrary("jpeg"), .linkedLibrary("png16")]),
        .target(name: "Images", dependencies: ["CImageCodecs", "TensorKit"]),
        // Data: the procedural scenes world, data-set readers and loaders, the caption-feature
        // store; evaluation metrics and report charts.
        .target(name: "Scenes", dependencies: ["Images", "Formats", "TensorKit"]),
        .target(name: "Datasets", dependencies: ["Images", "Formats", "TensorKit"]),
        .target(name: "Evaluation", dependencies: ["TensorKit"]),
        // Training: stage 1 (caption-contrastive LoRA fine-tuning of the LLM).
        .target(name: "Training", dependencies: ["Models", "Datasets", "Evaluation", "Images", "NeuralNet", "Formats", "Tokenizers", "TensorKit"]),
        .executableTarget(
            name: "llm2clip",
            dependencies: [
                "TensorKit", "NeuralNet", "Formats", "Tokenizers", "Models", "Images", "Scenes", "Datasets", "Evaluation", "Training", "CEngine",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(name: "TensorKitTests", dependencies: ["TensorKit", "Formats"]),
        .testTarget(name: "FormatsTests", dependencies: ["Formats", "TensorKit"]),
        .testTarget(name: "NeuralNetTests", dependencies: ["NeuralNet", "TensorKit", "Formats"]),
        .testTarget(name: "TokenizersTests", dependencies: ["Tokenizers", "Formats"]),
        .testTarget(name: "ImagesTests", dependencies: ["Images", "TensorKit", "Formats"]),
        .testTarget(name: "ModelsTests", dependencies: ["Models", "Tokenizers", "NeuralNet", "Formats", "TensorKit"]),
        .testTarget(name: "ScenesTests", dependencies: ["Scenes", "Images", "Formats", "Tokenizers"]),
        .testTarget(name: "DatasetsTests", dependencies: ["Datasets", "Images", "Formats", "TensorKit"]),
        .testTarget(name: "EvaluationTests", dependencies: ["Evaluation", "TensorKit"]),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "Models", "Datasets", "Evaluation", "Scenes", "NeuralNet", "Tokenizers", "Formats", "TensorKit"]),
        // Runs the built `llm2clip` executable end to end.
        .testTarget(name: "CLITests", dependencies: ["llm2clip", "Models", "TensorKit"]),
    ],
    swiftLanguageModes: [.v5]
)
