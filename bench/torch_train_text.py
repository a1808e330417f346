#!/usr/bin/env python3
"""PyTorch counterpart of `llm2clip bench train-text`.

    python3 bench/torch_train_text.py [--threads 2] [--reps 3] [--warmup 1] [--json]

Targets PyTorch 2.13.0 (CPU), transformers 5.24.0, peft 0.21.2, float32 (run after
`source scripts/python-env.sh`; the model is `bash scripts/assets.sh smollm2`).

Row `smollm2-lora-train-step-32x64`: ONE stage-1 training step (LLM2Vec supervised contrastive,
reference §1) of SmolLM2-135M-Instruct (the Q4_1 GGUF, dequantised by transformers to a float32
model) with a LoRA adapter made by peft on the decoder (LlamaModel, no LM head):
LoraConfig(r=16, lora_alpha=32, lora_dropout=0.05, bias="none", target_modules = q, k, v, o,
gate, up, down projections); only the LoRA weights train (peft's init: A Kaiming-uniform, B = 0).

Batch: the 32 lines of bench/captions.txt whose wrapped token count is closest to 64 (sort key
(|count - 64|, line index), first 32, then back in file order); each caption is wrapped as
"<|im_start|>user\\n{caption}<|im_end|>" and tokenised with add_special_tokens=False; left
padding (pad = the tokenizer's pad token, else eos) to the longest in the batch. Bidirectional
attention (4-D additive key-padding mask, no causal part); the final-norm hidden states are
mean-pooled over the caption + <|im_end|> positions. Loss: rows 0-15 are queries, rows 16-31
their positives; logits = 50 * cos(q_i, p_j) [16, 16]; cross-entropy with labels arange(16).
Model in train mode (LoRA dropout active, torch.manual_seed(0) before the warm-up).

Timed (each step): forward + loss + loss.backward() + AdamW step (lr 2e-4, betas (0.9, 0.999),
eps 1e-8, weight decay 0, over the LoRA parameters only) + zero_grad(set_to_none=True).
Not timed: tokenisation, model load, adapter creation. `--warmup` untimed steps, then `--reps`
timed steps; the reported value is the median step time in ms.

"tokens" = real (unpadded) tokens of the 32 wrapped captions; "gflop" = 3 * 2 * non-embedding
parameters * tokens / 1e9 (the usual forward + backward estimate for training; with frozen base
weights no weight gradients are computed for them, so the real count is nearer 2 * 2 * P * T;
attention scores, LoRA and padding not counted).

--json prints one object:
  {"suite":"train-text","impl":"pytorch","threads":T,"rows":[{"name":..,"ms":..,"gflop":..,"tokens":..}]}
"""

import argparse
import json
import os
import statistics
import sys
import time
import warnings

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from torch_text import CAPTIONS, PREFIX, SMOL_DIR, SMOL_FILE, SUFFIX, load_smollm2  # noqa: E402

BATCH, TARGET_TOKENS, SCALE = 32, 64, 50.0
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def select_batch(tok, captions):
    """The BATCH captions whose wrapped token count is closest to TARGET_TOKENS, in file order.
    Returns (ids [B,S], 4-D mask [B,1,S,S], pool [B,S,1], 1/n [B,1], real tokens, S)."""
    items = []
    for idx, c in enumerate(captions):
        ids = tok(PREFIX + c.strip() + SUFFIX, add_special_tokens=False).input_ids
        n = len(tok(c.strip() + SUFFIX, add_special_tokens=False).input_ids)
        items.append((abs(len(ids) - TARGET_TOKENS), idx, ids, n))
    chosen = sorted(sorted(items)[:BATCH], key=lambda it: it[1])
    pad_id = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    S = max(len(ids) for _, _, ids, _ in chosen)
    ids_t = torch.full((BATCH, S), pad_id, dtype=torch.long)
    keep = torch.zeros(BATCH, S, dtype=torch.bool)
    pool = torch.zeros(BATCH, S, 1)
    for i, (_, _, ids, n) in enumerate(chosen):
        ids_t[i, S - len(ids):] = torch.tensor(ids)
        keep[i, S - len(ids):] = True
        pool[i, S - n:] = 1.0
    # bidirectional: every query may attend to every non-padding key
    mask = torch.zeros(BATCH, 1, S, S).masked_fill(~keep[:, None, None, :], torch.finfo(torch.float32).min)
    tokens = sum(len(ids) for _, _, ids, _ in chosen)
    return ids_t, mask, pool, 1.0 / pool.sum(1), tokens, S, [it[1] for it in chosen]


def train_step(body, opt, ids, mask, pool, inv_n):
    h = body(input_ids=ids, attention_mask=mask, use_cache=False).last_hidden_state
    emb = (h * pool).sum(1) * inv_n
    half = emb.shape[0] // 2
    q, p = emb[:half], emb[half:]
    logits = SCALE * torch.nn.functional.cosine_similarity(q[:, None, :], p[None, :, :], dim=-1)
    loss = torch.nn.functional.cross_entropy(logits, torch.arange(half))
    loss.backward()
    opt.step()
    opt.zero_grad(set_to_none=True)
    return float(loss.detach())


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    warnings.filterwarnings("ignore", category=FutureWarning)
    if not os.path.exists(os.path.join(SMOL_DIR, SMOL_FILE)):
        print(f"missing {SMOL_DIR}/{SMOL_FILE}: run `bash scripts/assets.sh smollm2`", file=sys.stderr)
        return 2
    with open(CAPTIONS, encoding="utf-8") as f:
        captions = [line.rstrip("\n") for line in f if line.strip()]

    from peft import LoraConfig, get_peft_model

    tok, model = load_smollm2()
    body = model.model
    params = sum(p.numel() for name, p in body.named_parameters() if not name.startswith("embed_tokens"))
    ids, mask, pool, inv_n, tokens, S, lines = select_batch(tok, captions)
    cfg = LoraConfig(r=16, lora_alpha=32, lora_dropout=0.05, target_modules=list(TARGETS), bias="none")
    peft_body = get_peft_model(body, cfg)  # injects the LoRA layers into `body` in place
    peft_body.train()
    trainable = [p for p in peft_body.parameters() if p.requires_grad]
    n_lora = sum(p.numel() for p in trainable)
    opt = torch.optim.AdamW(trainable, lr=2e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    gflop = 3.0 * 2.0 * params * tokens / 1e9

    torch.manual_seed(0)
    times, losses = [], []
    for i in range(args.warmup + args.reps):
        t0 = time.perf_counter()
        loss = train_step(body, opt, ids, mask, pool, inv_n)
        t1 = time.perf_counter()
        losses.append(loss)
        if i >= args.warmup:
            times.append((t1 - t0) * 1e3)
    ms = statistics.median(times)
    name = f"smollm2-lora-train-step-{BATCH}x{TARGET_TOKENS}"
    rows = [{"name": name, "ms": ms, "gflop": gflop, "tokens": tokens}]

    if args.json:
        print(json.dumps({"suite": "train-text", "impl": "pytorch", "threads": args.threads, "rows": rows}))
    else:
        print(f"{name:<36} {ms:10.1f} ms  {tokens / (ms / 1e3):9.1f} tokens/s  "
              f"{gflop / (ms / 1e3):7.1f} GFLOP/s  ({tokens} tokens, batch {BATCH} x {S} padded)", flush=True)
        print(f"# torch {torch.__version__}, threads={args.threads}, warmup={args.warmup}, reps={args.reps} "
              f"(median); LoRA params {n_lora}; losses {[round(x, 4) for x in losses]}; caption lines {lines}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
