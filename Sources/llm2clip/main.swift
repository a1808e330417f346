import ArgumentParser
import TensorKit

/// The `llm2clip` command line.
struct LLM2CLIPCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "llm2clip",
        abstract: "LLM2CLIP in Swift: a CLIP whose text side is a large language model.",
        discussion: """
        Text and image sides in place: GGUF and Hugging Face model folders, CLIP folders and
        LLM2CLIP checkpoints load; tokenize, generate, embed-text, embed-image and inspect work
        on them. Training stages and evaluation arrive with the next issues (see README.md).
        """,
        version: LLM2CLIPVersion.string,
        subcommands: [Tokenize.self, Generate.self, EmbedText.self, EmbedImage.self, ScenesCommand.self, FinetuneText.self, CacheText.self, TrainClip.self, Demo.self, Search.self, Eval.self, Inspect.self, Bench.self]
    )
}

enum LLM2CLIPVersion {
    static let string = "0.1.0"
}

LLM2CLIPCommand.main()
