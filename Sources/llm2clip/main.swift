import ArgumentParser
import TensorKit

/// The `llm2clip` command line.
struct LLM2CLIPCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "llm2clip",
        abstract: "LLM2CLIP in Swift: a CLIP whose text side is a large language model.",
        discussion: """
        Text side in place: GGUF and Hugging Face model folders load; tokenize, generate,
        embed-text and inspect work on them. Vision towers, training stages and evaluation
        arrive with the next issues (see README.md).
        """,
        version: LLM2CLIPVersion.string,
        subcommands: [Tokenize.self, Generate.self, EmbedText.self, Inspect.self, Bench.self]
    )
}

enum LLM2CLIPVersion {
    static let string = "0.1.0"
}

LLM2CLIPCommand.main()
