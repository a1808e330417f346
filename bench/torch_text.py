#!/usr/bin/env python3
"""PyTorch counterpart of `llm2clip bench text`.

    python3 bench/torch_text.py [--threads 2] [--reps 3] [--warmup 1] [--batch 32] [--json]

Targets PyTorch 2.13.0 (CPU), transformers 5.24.0, float32 (run after
`source scripts/python-env.sh`; the model is `bash scripts/assets.sh smollm2`).

Row `smollm2-embed-256-captions`: LLM2Vec caption embedding of bench/captions.txt with
SmolLM2-135M-Instruct (the Q4_1 GGUF, dequantised by transformers to a float32 model):
each caption is wrapped as "<|im_start|>user\\n{caption}<|im_end|>" (no instruction) and
tokenised once up front (add_special_tokens=False); captions are sorted by length and run
in batches of --batch with left padding under torch.inference_mode(), bidirectional
attention (4-D additive key-padding mask, no causal part); the last hidden state (after the
final norm) is mean-pooled over the caption + <|im_end|> positions. Timed: the forward passes
and pooling of all batches (not tokenisation, not model load). `--warmup` untimed runs, then
`--reps` timed runs; the reported value is the median wall time in ms.

"tokens" = real (unpadded) tokens of all wrapped captions; "gflop" = 2 * non-embedding
parameters * tokens / 1e9 (linear layers only; attention scores and padding not counted).

--json prints one object:
  {"suite":"text","impl":"pytorch","threads":T,"rows":[{"name":..,"ms":..,"gflop":..,"tokens":..}]}
"""

import argparse
import json
import os
import statistics
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
SMOL_DIR = os.path.join(REPO, ".cache", "assets", "smollm2")
SMOL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
CAPTIONS = os.path.join(HERE, "captions.txt")
PREFIX, SUFFIX = "<|im_start|>user\n", "<|im_end|>"


def load_smollm2():
    import transformers
    import transformers.modeling_utils as mu
    from transformers import AutoModelForCausalLM, AutoTokenizer

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    tok = AutoTokenizer.from_pretrained(SMOL_DIR, gguf_file=SMOL_FILE)

    def load():
        return AutoModelForCausalLM.from_pretrained(SMOL_DIR, gguf_file=SMOL_FILE, dtype=torch.float32)
    try:
        model = load()
    except ValueError as e:
        # transformers refuses GGUF without `accelerate` installed, although this CPU path does
        # not use it (the pinned stack has no accelerate/psutil): bypass that check only.
        if "accelerate" not in str(e):
            raise
        orig = mu.is_accelerate_available
        mu.is_accelerate_available = lambda *a, **k: True
        try:
            model = load()
        finally:
            mu.is_accelerate_available = orig
    return tok, model.eval()


def prepare_batches(tok, captions, batch):
    """Tokenise once; sort by length; build left-padded batches.
    Returns (batches, total_tokens): each batch is (ids [B,S], 4-D mask [B,1,S,S], pool [B,S,1], 1/n [B,1])."""
    items = []
    for c in captions:
        ids = tok(PREFIX + c.strip() + SUFFIX, add_special_tokens=False).input_ids
        n = len(tok(c.strip() + SUFFIX, add_special_tokens=False).input_ids)
        items.append((ids, n))
    items.sort(key=lambda it: len(it[0]))
    pad_id = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    batches = []
    for start in range(0, len(items), batch):
        chunk = items[start:start + batch]
        S = max(len(ids) for ids, _ in chunk)
        B = len(chunk)
        ids_t = torch.full((B, S), pad_id, dtype=torch.long)
        keep = torch.zeros(B, S, dtype=torch.bool)
        pool = torch.zeros(B, S, 1)
        for i, (ids, n) in enumerate(chunk):
            ids_t[i, S - len(ids):] = torch.tensor(ids)
            keep[i, S - len(ids):] = True
            pool[i, S - n:] = 1.0
        # bidirectional: every query may attend to every non-padding key
        mask = torch.zeros(B, 1, S, S).masked_fill(~keep[:, None, None, :], torch.finfo(torch.float32).min)
        batches.append((ids_t, mask, pool, 1.0 / pool.sum(1)))
    return batches, sum(len(ids) for ids, _ in items)


def embed_all(body, batches):
    outs = []
    with torch.inference_mode():
        for ids, mask, pool, inv_n in batches:
            h = body(input_ids=ids, attention_mask=mask, use_cache=False).last_hidden_state
            outs.append((h * pool).sum(1) * inv_n)
    return outs


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    if not os.path.exists(os.path.join(SMOL_DIR, SMOL_FILE)):
        print(f"missing {SMOL_DIR}/{SMOL_FILE}: run `bash scripts/assets.sh smollm2`", file=sys.stderr)
        return 2
    with open(CAPTIONS, encoding="utf-8") as f:
        captions = [line.rstrip("\n") for line in f if line.strip()]

    tok, model = load_smollm2()
    body = model.model
    params = sum(p.numel() for name, p in body.named_parameters() if not name.startswith("embed_tokens"))
    batches, tokens = prepare_batches(tok, captions, args.batch)
    gflop = 2.0 * params * tokens / 1e9

    times = []
    for i in range(args.warmup + args.reps):
        t0 = time.perf_counter()
        out = embed_all(body, batches)
        t1 = time.perf_counter()
        del out
        if i >= args.warmup:
            times.append((t1 - t0) * 1e3)
    ms = statistics.median(times)
    name = f"smollm2-embed-{len(captions)}-captions"
    rows = [{"name": name, "ms": ms, "gflop": gflop, "tokens": tokens}]

    if args.json:
        print(json.dumps({"suite": "text", "impl": "pytorch", "threads": args.threads, "rows": rows}))
    else:
        print(f"{name:<36} {ms:10.1f} ms  {tokens / (ms / 1e3):9.1f} tokens/s  "
              f"{gflop / (ms / 1e3):7.1f} GFLOP/s  ({tokens} tokens, {len(batches)} batches of <= {args.batch})",
              flush=True)
        print(f"# torch {torch.__version__}, threads={args.threads}, warmup={args.warmup}, reps={args.reps} (median)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
