import ArgumentParser
import TensorKit

/// The `llm2clip` command line.
struct LLM2CLIPCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "llm2clip",
        abstract: "LLM2CLIP in Swift: a CLIP whose text side is a large language model.",
        discussion: """
        The tensor engine, its benchmark and the neural-net toolkit are in place; model loading,
        training stages and evaluation arrive with the next issues (see README.md).
        """,
        version: LLM2CLIPVersion.string,
        subcommands: [Bench.self]
    )
}

enum LLM2CLIPVersion {
    static let string = "0.1.0"
}

LLM2CLIPCommand.main()
