#!/usr/bin/env python3
"""Seeded golden-file generator for the Swift `Tokenizers` module tests.

Run from the repository root:

    source scripts/python-env.sh && python3 scripts/make_goldens_tokenizers.py

Needs the pinned reference stack (transformers 5.24.0, tokenizers 0.23.3, gguf 0.19.0,
open_clip_torch 3.2.0, ftfy) and the real assets (`bash scripts/assets.sh`). Writes into
Tests/Goldens/tokenizers/:

* corpus.json            -- the test strings (ASCII, punctuation, contractions, numbers, emoji with
                            ZWJ sequences, CJK, Japanese, accents composed and decomposed, Cyrillic,
                            Arabic, Greek, whitespace runs, special-token strings, empty, long inputs)
* llama3-style/tokenizer.json
                         -- a small byte-level BPE trained here with the `tokenizers` library on a
                            seeded synthetic text: the exact Llama-3 Split regex + ByteLevel
                            (use_regex=False), ignore_merges, Llama-3 special tokens, a
                            Sequence[ByteLevel, TemplateProcessing] post-processor
* smollm2.json           -- SmolLM2-135M-Instruct as transformers builds it from the GGUF file,
                            plus `ids_digit_split`: the same vocabulary with the digit split that
                            `tokenizer.ggml.pre = smollm` asks for (transformers skips it)
* minilm.json            -- all-MiniLM-L6-v2 (tokenizer.json through `tokenizers` and AutoTokenizer)
* llama3-style.json      -- the trained tokenizer above
* clip.json              -- open_clip's SimpleTokenizer (raw encode and 77-token context)
* variant-a/tokenizer.json, variant-a.json, variant-b/tokenizer.json, variant-b.json
                         -- the llama3-style vocabulary behind other pipeline parts: NFKC +
                            Lowercase, Digits (contiguous) + ByteLevel(add_prefix_space), added
                            tokens with lstrip / rstrip / single_word / normalized, BertProcessing;
                            NFD + StripAccents + Replace, a Split regex merged with the next piece,
                            Punctuation, RobertaProcessing, a Sequence decoder

Each per-tokenizer file holds, for every corpus string, the ids without and with special
tokens, the tokens (pieces) of the latter, and the decode of the ids with and without
skipping special tokens; plus batch cases (right/left padding, truncation to 16) with
attention masks. Everything is deterministic: the training text comes from a seeded RNG and
the BPE trainer runs single-threaded.
"""

import hashlib
import importlib.util
import json
import os
import random
import sys

os.environ["TOKENIZERS_PARALLELISM"] = "false"
os.environ["RAYON_NUM_THREADS"] = "1"

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
OUT = os.path.join(ROOT, "Tests", "Goldens", "tokenizers")
ASSETS = os.path.join(ROOT, ".cache", "assets")

import tokenizers  # noqa: E402
import transformers  # noqa: E402
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers  # noqa: E402

EXPECTED = {"transformers": "5.24.0", "tokenizers": "0.23.3"}
for name, module in (("transformers", transformers), ("tokenizers", tokenizers)):
    if module.__version__ != EXPECTED[name]:
        sys.exit(f"{name} {module.__version__} found, {EXPECTED[name]} expected: source scripts/python-env.sh first")

LLAMA3_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
LLAMA3_SPECIALS = ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]

WORDS = (
    "the of and to in is was for on that with as by at from his her they this are be it an have "
    "which one you were all we can there their has been if more when will would who so no out up "
    "into do any your what about time than then only could new other some these two may first "
    "photo picture image dog cat bird horse car street city river mountain table chair window "
    "red green blue yellow black white small large old young happy running sitting standing "
    "beautiful wooden stone glass water light shadow morning evening night summer winter people "
    "children woman man girl boy group field beach forest garden kitchen building bridge train "
    "computer language model token vector encoder decoder caption contrastive learning vision text"
).split()


def seeded_sentence(rng, n_words):
    words = [rng.choice(WORDS) for _ in range(n_words)]
    words[0] = words[0].capitalize()
    text = " ".join(words)
    return text + rng.choice([".", ".", ".", "!", "?", ";", ","])


def long_paragraph(rng, n_sentences):
    return " ".join(seeded_sentence(rng, rng.randint(6, 16)) for _ in range(n_sentences))


def long_mixed(rng, n_parts):
    parts = []
    pieces = [
        lambda: seeded_sentence(rng, rng.randint(3, 9)),
        lambda: str(rng.randint(0, 10 ** rng.randint(1, 12))),
        lambda: f"{rng.randint(0, 999)}.{rng.randint(0, 99999)}",
        lambda: rng.choice(["東京タワー", "北京", "Привет", "café", "naïve", "😀", "👍🏽", "👨‍👩‍👧", "مرحبا", "Ωμέγα"]),
        lambda: rng.choice(["\n", "\n\n", "\t", "  ", " - ", "...", "!?", "(x)", "[1]", "it's", "we're", "I'M"]),
    ]
    for _ in range(n_parts):
        parts.append(rng.choice(pieces)())
    return " ".join(parts)


def make_corpus():
    rng = random.Random(1234)
    corpus = [
        "The capital of France is",
        "Hello, world! How are you doing today?",
        "A photo of a cat sitting on a wooden table.",
        "It's a dog's life; they're sure we've got it, I'm sure you'll agree and he'd too.",
        "IT'S LOUD, THEY'RE SHOUTING, WE'VE HEARD, I'M DONE, YOU'LL SEE, HE'D KNOW",
        "don't won't can't shouldn't y'all 'tis rock'n'roll",
        "Numbers: 0 7 42 123 1234 12345678901234567890 3.14159 -273.15 1,000,000 2024",
        "Phone +1 (555) 010-9999, ISO date 2024-11-30T12:34:56Z, v1.2.3-rc4",
        "Punctuation!!! ??? ... --- (parens) [brackets] {braces} <angle> @#$%^&*_=+~`|\\/",
        "Emoji: 😀 👍🏽 🥲 ❤️ 🇫🇷 🎉🎉🎉",
        "Family: 👨‍👩‍👧‍👦 and 🏳️‍🌈 and 👩🏽‍💻 coding",
        "東京は日本の首都です。北京欢迎你！",
        "こんにちは、世界。カタカナとひらがな、ｶﾀｶﾅ（半角）",
        "안녕하세요 세계",
        "café naïve résumé Zürich façade Ångström",
        "cafe\u0301 nai\u0308ve re\u0301sume\u0301 Zu\u0308rich",
        "Привет, мир! Москва — столица России.",
        "مرحبا بالعالم، هذا اختبار.",
        "ΟΔΥΣΣΕΥΣ και η Αθηνά στην Ιθάκη",
        "   multiple   spaces\tand\ttabs\n\nnewlines\r\n  ",
        "  leading and trailing spaces  ",
        "\n\n\nOnly newlines\n",
        "<|im_start|>user\nhi<|im_end|>",
        "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>assistant\n",
        "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|>",
        "[CLS] the [MASK] sat on the mat [SEP] extra",
        "<start_of_text>a photo of a dog<end_of_text>",
        "",
        " ",
        "Tom &amp; Jerry &lt;3 &quot;quoted&quot; &#39;single&#39; &eacute;t&eacute;",
        "\u201cSmart quotes\u201d and \u2018single\u2019 \u2014 \ufb01ne \ufb02ow",
        "\uff2c\uff2f\uff35\uff24\u3000\uff2e\uff2f\uff29\uff33\uff25\uff33 \uff11\uff12\uff13",
        "def f(x):\n    return x**2  # square\n",
        "https://example.com/path?q=1&r=two#frag user@example.org",
        "Swift和Python都是programming languages，αβγ δ",
        "E = mc\u00b2 and \u00bd + \u00bc = \u00be, x\u2081 \u2165",
        "bell\u0007 null\u0000 zero-width\u200bspace soft\u00adhyphen",
        "\u00dcn\u00efc\u00f6d\u00e9 UPPER lower MiXeD \u0130stanbul \u00df \u1e9e",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa "
        + "supercalifragilistic" * 6,
        long_paragraph(rng, 60),
        long_mixed(rng, 260),
        ("The quick brown fox jumps over the lazy dog 1234567. " * 45).strip(),
    ]
    return corpus


# --------------------------------------------------------------------------
# llama3-style tokenizer
# --------------------------------------------------------------------------

def training_text():
    rng = random.Random(20241130)
    lines = []
    for _ in range(5000):
        kind = rng.random()
        if kind < 0.6:
            lines.append(seeded_sentence(rng, rng.randint(4, 14)))
        elif kind < 0.8:
            lines.append(long_mixed(rng, rng.randint(3, 10)))
        elif kind < 0.9:
            lines.append(" ".join(w.upper() if rng.random() < 0.3 else w for w in seeded_sentence(rng, 6).split()))
        else:
            lines.append("    " + rng.choice(["return x", "if a == b:", "for i in range(10):", "print(f'{x}')"]))
    return lines


def build_llama3_style(path):
    tok = Tokenizer(models.BPE(ignore_merges=True))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3_SPLIT), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=2000,
        min_frequency=2,
        show_progress=False,
        special_tokens=LLAMA3_SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(training_text(), trainer=trainer)
    bos = tok.token_to_id("<|begin_of_text|>")
    tok.post_processor = processors.Sequence([
        processors.ByteLevel(trim_offsets=False),
        processors.TemplateProcessing(
            single="<|begin_of_text|> $A",
            pair="<|begin_of_text|> $A:0 <|begin_of_text|> $B:1",
            special_tokens=[("<|begin_of_text|>", bos)],
        ),
    ])
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tok.save(path)
    # Stable key order / formatting so the committed file only changes when its content does.
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")
    return Tokenizer.from_file(path)


# --------------------------------------------------------------------------
# Golden records
# --------------------------------------------------------------------------

BATCHES = [
    # name, corpus indices, add_special_tokens, padding side, max_length (truncation)
    ("right", [0, 1, 2, 27, 10], True, "right", None),
    ("left", [0, 1, 2, 27, 10], True, "left", None),
    ("truncate16", [3, 6, 39, 0], True, "right", 16),
    ("truncate16-left-nospecial", [3, 6, 39, 0], False, "left", 16),
]


def hf_records(name, corpus, encode_plain, encode_special, decode, batch_fn, extra=None, extra_case=None):
    cases = []
    for i, text in enumerate(corpus):
        ids = encode_plain(text)
        ids_s, pieces = encode_special(text)
        cases.append(extra_case(text) if extra_case else {})
        cases[-1].update({
            "index": i,
            "ids": ids,
            "ids_special": ids_s,
            "pieces_special": pieces,
            "decode": decode(ids_s, False),
            "decode_skip_special": decode(ids_s, True),
        })
    batches = []
    for bname, indices, add_special, side, max_length in BATCHES:
        ids, mask = batch_fn([corpus[i] for i in indices], add_special, side, max_length)
        batches.append({
            "name": bname, "indices": indices, "add_special_tokens": add_special,
            "padding_side": side, "max_length": max_length, "ids": ids, "attention_mask": mask,
        })
    record = {"tokenizer": name, "versions": EXPECTED, "cases": cases, "batches": batches}
    if extra:
        record.update(extra)
    return record


def auto_batch(tok):
    def run(texts, add_special, side, max_length):
        out = tok(texts, add_special_tokens=add_special, padding=True, padding_side=side,
                  truncation=max_length is not None, max_length=max_length, return_attention_mask=True)
        return [list(x) for x in out["input_ids"]], [list(x) for x in out["attention_mask"]]
    return run


def check_same(label, a, b):
    if a != b:
        raise SystemExit(f"reference mismatch ({label}):\n{a}\n{b}")


def smollm2_record(corpus):
    from transformers import AutoTokenizer
    folder = os.path.join(ASSETS, "smollm2")
    tok = AutoTokenizer.from_pretrained(folder, gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf")
    check_same("SmolLM2 reference ids", tok("The capital of France is")["input_ids"], [504, 3575, 282, 4649, 314])

    def enc_plain(t):
        return tok(t, add_special_tokens=False)["input_ids"]

    def enc_special(t):
        ids = tok(t, add_special_tokens=True)["input_ids"]
        return ids, tok.convert_ids_to_tokens(ids)

    def dec(ids, skip):
        text = tok.decode(ids, skip_special_tokens=skip)
        check_same("SmolLM2 decode vs backend", text, tok.backend_tokenizer.decode(ids, skip_special_tokens=skip))
        return text

    # transformers builds the GGUF tokenizer with GPT-2's plain ByteLevel pre-tokenizer: it ignores
    # `tokenizer.ggml.pre = smollm`, which llama.cpp (and SmolLM2's own tokenizer.json) read as
    # "split digits one by one, then the GPT-2 regex". The two differ only on non-ASCII numeric
    # characters after a space or next to each other (" ½", "٣٤"): record that pipeline too.
    digit_split = Tokenizer.from_str(tok.backend_tokenizer.to_str())
    digit_split.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True),
    ])

    def digit_split_case(t):
        return {"ids_digit_split": digit_split.encode(t, add_special_tokens=False).ids}

    return hf_records("smollm2", corpus, enc_plain, enc_special, dec, auto_batch(tok), extra_case=digit_split_case, extra={
        "source": "AutoTokenizer.from_pretrained(smollm2, gguf_file=SmolLM2-135M-Instruct.Q4_1.gguf); "
                  "ids_digit_split: the same vocabulary with Digits(individual_digits=True) + ByteLevel, "
                  "as tokenizer.ggml.pre = smollm and SmolLM2's tokenizer.json specify",
        "pad_id": tok.pad_token_id, "bos_id": tok.bos_token_id, "eos_id": tok.eos_token_id,
        "vocab_size": len(tok),
    })


def minilm_record(corpus):
    from transformers import AutoTokenizer
    folder = os.path.join(ASSETS, "minilm")
    raw = Tokenizer.from_file(os.path.join(folder, "tokenizer.json"))
    # The file carries truncation (128) and fixed padding (128); AutoTokenizer does not apply them
    # unless asked, and neither does the Swift `encode`. Compare against the bare pipeline.
    raw.no_truncation()
    raw.no_padding()
    auto = AutoTokenizer.from_pretrained(folder)

    def enc_plain(t):
        ids = raw.encode(t, add_special_tokens=False).ids
        check_same("MiniLM AutoTokenizer vs tokenizers", auto(t, add_special_tokens=False)["input_ids"], ids)
        return ids

    def enc_special(t):
        e = raw.encode(t, add_special_tokens=True)
        check_same("MiniLM AutoTokenizer vs tokenizers (specials)", auto(t)["input_ids"], e.ids)
        return e.ids, e.tokens

    def dec(ids, skip):
        text = raw.decode(ids, skip_special_tokens=skip)
        check_same("MiniLM decode", auto.decode(ids, skip_special_tokens=skip), text)
        return text

    return hf_records("minilm", corpus, enc_plain, enc_special, dec, auto_batch(auto), {
        "source": "tokenizers.Tokenizer.from_file(minilm/tokenizer.json) without its truncation/padding; "
                  "equal to AutoTokenizer.from_pretrained(minilm)",
        "pad_id": auto.pad_token_id, "vocab_size": raw.get_vocab_size(with_added_tokens=True),
        "file_truncation_max_length": 128, "file_padding_fixed": 128,
    })


def llama3_record(corpus, tok_path):
    from transformers import PreTrainedTokenizerFast
    raw = Tokenizer.from_file(tok_path)
    auto = PreTrainedTokenizerFast(tokenizer_file=tok_path, pad_token="<|end_of_text|>",
                                   bos_token="<|begin_of_text|>", eos_token="<|end_of_text|>")

    def enc_plain(t):
        ids = raw.encode(t, add_special_tokens=False).ids
        check_same("llama3-style transformers vs tokenizers", auto(t, add_special_tokens=False)["input_ids"], ids)
        return ids

    def enc_special(t):
        e = raw.encode(t, add_special_tokens=True)
        check_same("llama3-style transformers vs tokenizers (specials)", auto(t)["input_ids"], e.ids)
        return e.ids, e.tokens

    def dec(ids, skip):
        text = raw.decode(ids, skip_special_tokens=skip)
        check_same("llama3-style decode", auto.decode(ids, skip_special_tokens=skip), text)
        return text

    return hf_records("llama3-style", corpus, enc_plain, enc_special, dec, auto_batch(auto), {
        "source": "tokenizers.Tokenizer.from_file(llama3-style/tokenizer.json); pad = <|end_of_text|>",
        "pad_id": auto.pad_token_id, "vocab_size": raw.get_vocab_size(with_added_tokens=True),
    })


def load_open_clip_module():
    spec = importlib.util.find_spec("open_clip")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("open_clip_torch is not installed: source scripts/python-env.sh")
    path = os.path.join(list(spec.submodule_search_locations)[0], "tokenizer.py")
    module_spec = importlib.util.spec_from_file_location("open_clip_tokenizer_only", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def clip_record(corpus):
    try:
        from open_clip import tokenizer as oc
    except Exception:
        oc = load_open_clip_module()  # `import open_clip` needs torchvision; the tokenizer does not
    vocab = os.path.join(ASSETS, "openclip-vocab", "bpe_simple_vocab_16e6.txt.gz")
    tok = oc.SimpleTokenizer(bpe_path=vocab)
    cases = []
    for i, text in enumerate(corpus):
        ids = tok.encode(text)
        context = tok([text])[0].tolist()
        cases.append({"index": i, "ids": ids, "context77": context, "decode": tok.decode(ids)})
    ctx16 = tok([corpus[i] for i in (0, 3, 39, 27)], context_length=16).tolist()
    return {
        "tokenizer": "clip", "versions": {"open_clip_torch": "3.2.0"},
        "source": "open_clip.tokenizer.SimpleTokenizer(bpe_simple_vocab_16e6.txt.gz), clean='lower'",
        "vocab_size": tok.vocab_size, "sot_id": tok.sot_token_id, "eot_id": tok.eot_token_id,
        "cases": cases,
        "context16": {"indices": [0, 3, 39, 27], "ids": ctx16},
    }


VARIANT_STRINGS = [
    "Hello <mask> world",
    "a   <mask>b <mask>",
    "[SEP]x [sep] y [Sep]",
    "cat catalog cat! scat (cat) cat",
    "12345 abc 678 9",
    "\u00dcn\u00efc\u00f6d\u00e9 \u00c0\u00c9\u00ce cafe\u0301",
    "  spaced   out  \n\n tabs\there ",
    "Wait... what?! (really) -- yes.",
    "\uff2c\uff2f\uff35\uff24 \ufb01ne",
    "",
    "<|begin_of_text|>hi<|eot_id|>",
    "It's 2024; they're here.",
]


def build_variants(llama_path):
    """Two pipelines around the llama3-style vocabulary, exercising the remaining parts."""
    out = {}
    a = Tokenizer.from_file(llama_path)
    a.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    a.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=False),
        pre_tokenizers.ByteLevel(add_prefix_space=True, use_regex=True),
    ])
    a.post_processor = processors.BertProcessing(("<|end_of_text|>", 1), ("<|begin_of_text|>", 0))
    a.decoder = decoders.Sequence([decoders.ByteLevel()])
    a.add_special_tokens([AddedToken("<mask>", lstrip=True, special=True, normalized=False)])
    a.add_tokens([AddedToken("[SEP]", rstrip=True, normalized=True, special=False),
                  AddedToken("cat", single_word=True, normalized=False, special=False)])
    out["variant-a"] = a

    b = Tokenizer.from_file(llama_path)
    b.normalizer = normalizers.Sequence([normalizers.NFD(), normalizers.StripAccents(),
                                         normalizers.Replace("  ", " ")])
    b.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(r"\s+"), behavior="merged_with_next"),
        pre_tokenizers.Punctuation(behavior="contiguous"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    b.post_processor = processors.RobertaProcessing(("<|eot_id|>", 4), ("<|begin_of_text|>", 0))
    b.decoder = decoders.ByteLevel()
    out["variant-b"] = b

    written = []
    for name, tok in out.items():
        path = os.path.join(OUT, name, "tokenizer.json")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tok.save(path)
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        with open(path, "w", encoding="utf-8") as f:
            json.dump(data, f, ensure_ascii=False, separators=(",", ":"))
            f.write("\n")
        tok = Tokenizer.from_file(path)
        cases = []
        for i, text in enumerate(VARIANT_STRINGS):
            e = tok.encode(text, add_special_tokens=True)
            cases.append({
                "index": i,
                "ids": tok.encode(text, add_special_tokens=False).ids,
                "ids_special": e.ids,
                "pieces_special": e.tokens,
                "decode": tok.decode(e.ids, skip_special_tokens=False),
                "decode_skip_special": tok.decode(e.ids, skip_special_tokens=True),
            })
        written.append(path)
        written.append(write_json(name + ".json", {
            "tokenizer": name, "versions": EXPECTED, "strings": VARIANT_STRINGS, "cases": cases, "batches": [],
            "pad_id": None, "vocab_size": tok.get_vocab_size(with_added_tokens=True),
        }))
    return written


def write_json(name, data):
    path = os.path.join(OUT, name)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")
    return path


def main():
    for asset in ("smollm2/SmolLM2-135M-Instruct.Q4_1.gguf", "minilm/tokenizer.json",
                  "openclip-vocab/bpe_simple_vocab_16e6.txt.gz"):
        if not os.path.exists(os.path.join(ASSETS, asset)):
            sys.exit(f"missing asset {asset}: run `bash scripts/assets.sh` first")
    os.makedirs(OUT, exist_ok=True)
    corpus = make_corpus()
    written = [write_json("corpus.json", {"strings": corpus})]
    llama_path = os.path.join(OUT, "llama3-style", "tokenizer.json")
    build_llama3_style(llama_path)
    written.append(llama_path)
    written.append(write_json("llama3-style.json", llama3_record(corpus, llama_path)))
    written.append(write_json("minilm.json", minilm_record(corpus)))
    written.append(write_json("smollm2.json", smollm2_record(corpus)))
    written.append(write_json("clip.json", clip_record(corpus)))
    written += build_variants(llama_path)
    total = 0
    for path in written:
        size = os.path.getsize(path)
        total += size
        digest = hashlib.sha256(open(path, "rb").read()).hexdigest()[:12]
        print(f"{os.path.relpath(path, ROOT)}: {size} bytes sha256 {digest}")
    print(f"total {total} bytes")


if __name__ == "__main__":
    main()
