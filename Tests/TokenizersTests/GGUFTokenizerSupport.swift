import Foundation
import Formats
import Tokenizers

/// Builds a tokenizer from a GGUF file's `tokenizer.ggml.*` metadata.
func loadTokenizerFromGGUF(path: String) throws -> HuggingFaceTokenizer {
    try Tokenizers.load(gguf: GGUFFile(path: path))
}

private let smolLM2Tokenizer: Result<HuggingFaceTokenizer, Error> = Result {
    try loadTokenizerFromGGUF(path: try requireAsset("smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"))
}

/// SmolLM2-135M-Instruct's tokenizer, read from the GGUF asset once per test run.
func loadSmolLM2TokenizerFromGGUF() throws -> HuggingFaceTokenizer {
    try smolLM2Tokenizer.get()
}
