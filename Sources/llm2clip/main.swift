import ArgumentParser
import TensorKit

/// The `llm2clip` command line.
struct LLM2CLIPCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "llm2clip",
        abstract: "LLM2CLIP in Swift: a CLIP whose text side is a large language model.",
        discussion: """
        The whole recipe: `demo` runs it end to end on generated data, from the model zoo (`zoo`). Stage by stage:
        finetune-text (stage 1, caption-contrastive LoRA), cache-text (stage 1.5), train-clip \
        (stage 2), eval and search. GGUF and Hugging Face model folders, CLIP folders and \
        LLM2CLIP checkpoints load everywhere a model is asked for (see README.md).
        """,
        version: LLM2CLIPVersion.string,
        subcommands: [Tokenize.self, Generate.self, EmbedText.self, EmbedImage.self, ScenesCommand.self, FinetuneText.self, CacheText.self, TrainClip.self, Demo.self, Zoo.self, Search.self, Eval.self, Inspect.self, Bench.self]
    )
}

enum LLM2CLIPVersion {
    static let string = "0.1.0"
}

LLM2CLIPCommand.main()
