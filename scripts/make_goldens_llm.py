#!/usr/bin/env python3
"""Seeded golden-file generator for the LLM / text-encoder side (LLM2Vec-style embeddings).

Run from the repository root, after `source scripts/python-env.sh` and `bash scripts/assets.sh`:

    python3 scripts/make_goldens_llm.py                 # everything
    python3 scripts/make_goldens_llm.py --only tiny     # parts: tiny, smollm2, minilm, captions
    python3 scripts/make_goldens_llm.py --captions      # only bench/captions.txt

Targets torch 2.13.0 (CPU), transformers 5.24.0, tokenizers 0.23.3, safetensors 0.8.0,
gguf 0.19.0, sentence-transformers 6.2.0. Deterministic (fixed seeds, one CPU thread) and
idempotent (output folders are recreated). Writes into Tests/Goldens/llm/:

  tiny-llama/                      random LlamaForCausalLM (llama3 RoPE scaling, GQA, tied
                                   embeddings), float32, 3 shards + model.safetensors.index.json.
                                   config.json is rewritten in the classic (transformers 4.x,
                                   released-checkpoint) form: top-level "rope_theta" + "rope_scaling".
  tiny_llama_outputs.safetensors   input_ids, attention_mask, hidden_causal, logits_causal,
                                   hidden_bidirectional (all F32)
  tiny-mistral/                    random MistralForCausalLM, head_dim 32 (heads*head_dim != hidden),
                                   untied, bfloat16, single model.safetensors. config.json as written
                                   by transformers 5 ("rope_parameters": {"rope_theta", "rope_type"}).
  tiny_mistral_outputs.safetensors input_ids, hidden_causal, logits_causal (F32, from bf16 weights)
  smollm2.json / smollm2_outputs.safetensors   SmolLM2-135M-Instruct (GGUF Q4_1) references
  minilm.json / minilm_embeddings.safetensors  all-MiniLM-L6-v2 sentence-transformers references

and bench/captions.txt (256 procedural captions, 20-80 SmolLM2 tokens each).

Bidirectional mode ("LLM2Vec"): the causal mask is removed and only key padding is kept. It is
implemented by passing an explicit 4-D additive float mask [B, 1, S, S] (0 = attend,
finfo(float32).min = padding key) to the model: transformers returns a 4-D mask unchanged and
SDPA is then called with is_causal=False. It is verified against an independent float64
re-implementation of the decoder, against the eager attention path, and by a
token-perturbation test (see tiny_models()).

Pooling ("embed_mask" semantics of llm2vec): text = "<|im_start|>user\\n" + X + "<|im_end|>",
X = caption.strip() (plain) or instruction.strip() + " " + caption.strip() (instruct);
n = len(tokens(caption.strip() + "<|im_end|>")); embedding = mean of the last n final-norm
hidden states. Not normalised.
"""

import argparse
import hashlib
import json
import math
import os
import random
import shutil
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402
from safetensors.torch import save_file  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
OUT = os.path.join(ROOT, "Tests", "Goldens", "llm")
ASSETS = os.path.join(ROOT, ".cache", "assets")
SMOL_DIR = os.path.join(ASSETS, "smollm2")
SMOL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MINILM_DIR = os.path.join(ASSETS, "minilm")
CAPTIONS_TXT = os.path.join(ROOT, "bench", "captions.txt")

CHAT_PREFIX = "<|im_start|>user\n"
CHAT_SUFFIX = "<|im_end|>"
INSTRUCTION = "Given a sentence, retrieve a detailed relevant sentence"
F32_MIN = torch.finfo(torch.float32).min


def log(msg):
    print(msg, flush=True)


def quiet_transformers():
    import transformers
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()


def save_tensors(path, tensors, metadata=None):
    out = {k: v.detach().to(torch.float32).contiguous().cpu() for k, v in tensors.items()}
    save_file(out, path, metadata=metadata)


def write_json(path, obj):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=1, ensure_ascii=False)
        f.write("\n")


def fl(t):
    """float32 tensor -> list of Python floats (exact float32 values)."""
    return [float(x) for x in t.detach().to(torch.float32).reshape(-1).tolist()]


# --------------------------------------------------------------------------------------------
# Attention masks and pooling shared by all parts
# --------------------------------------------------------------------------------------------

def bidirectional_mask(attention_mask, dtype=torch.float32):
    """[B, S] 0/1 key-padding mask -> [B, 1, S, S] additive mask with no causal part."""
    keep = attention_mask.to(torch.bool)[:, None, None, :]  # [B,1,1,S] over keys
    B, S = attention_mask.shape
    m = torch.zeros(B, 1, S, S, dtype=dtype)
    return m.masked_fill(~keep.expand(B, 1, S, S), torch.finfo(dtype).min)


def causal_additive_mask(attention_mask, dtype=torch.float32):
    """Causal + key padding, as a 4-D additive mask (used only to cross-check the 2-D path)."""
    B, S = attention_mask.shape
    causal = torch.ones(S, S, dtype=torch.bool).tril()
    keep = causal[None, None] & attention_mask.to(torch.bool)[:, None, None, :]
    return torch.zeros(B, 1, S, S, dtype=dtype).masked_fill(~keep, torch.finfo(dtype).min)


def maxdiff(a, b):
    return float((a.to(torch.float64) - b.to(torch.float64)).abs().max())


# --------------------------------------------------------------------------------------------
# Independent float64 reference decoder (Llama / Mistral), used to verify the HF outputs
# --------------------------------------------------------------------------------------------

def ref_inv_freq(cfg):
    rp = dict(cfg.rope_parameters)
    hd = cfg.head_dim
    theta = float(rp["rope_theta"])
    inv = 1.0 / (theta ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd))
    if rp.get("rope_type", "default") == "llama3":
        factor, lo, hi = float(rp["factor"]), float(rp["low_freq_factor"]), float(rp["high_freq_factor"])
        old = float(rp["original_max_position_embeddings"])
        out = []
        for f in inv.tolist():
            wavelen = 2 * math.pi / f
            if wavelen < old / hi:  # high frequency: unchanged
                out.append(f)
            elif wavelen > old / lo:  # low frequency: scaled down
                out.append(f / factor)
            else:  # in between: interpolate
                s = (old / wavelen - lo) / (hi - lo)
                out.append((1 - s) * f / factor + s * f)
        inv = torch.tensor(out, dtype=torch.float64)
    return inv


def ref_decoder(model, input_ids, attention_mask, causal):
    """Plain float64 forward: returns final-norm hidden states [B, S, D]."""
    cfg = model.config
    sd = {k: v.detach().to(torch.float64) for k, v in model.state_dict().items()}
    H, KV, hd, eps = cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim, cfg.rms_norm_eps
    B, S = input_ids.shape
    inv = ref_inv_freq(cfg)
    ang = torch.arange(S, dtype=torch.float64)[:, None] * inv[None, :]
    cos, sin = torch.cos(ang), torch.sin(ang)  # [S, hd/2]

    def rms(x, w):
        return x / torch.sqrt((x * x).mean(-1, keepdim=True) + eps) * w

    def rope(t):  # t [B, h, S, hd]: rotate_half layout (pairs i, i + hd/2)
        a, b = t[..., : hd // 2], t[..., hd // 2:]
        return torch.cat((a * cos - b * sin, b * cos + a * sin), dim=-1)

    allowed = attention_mask.to(torch.bool)[:, None, None, :].expand(B, 1, S, S)
    if causal:
        allowed = allowed & torch.ones(S, S, dtype=torch.bool).tril()
    x = sd["model.embed_tokens.weight"][input_ids]
    for i in range(cfg.num_hidden_layers):
        p = f"model.layers.{i}."
        h = rms(x, sd[p + "input_layernorm.weight"])
        q = (h @ sd[p + "self_attn.q_proj.weight"].T).view(B, S, H, hd).transpose(1, 2)
        k = (h @ sd[p + "self_attn.k_proj.weight"].T).view(B, S, KV, hd).transpose(1, 2)
        v = (h @ sd[p + "self_attn.v_proj.weight"].T).view(B, S, KV, hd).transpose(1, 2)
        q, k = rope(q), rope(k)
        k = k.repeat_interleave(H // KV, dim=1)
        v = v.repeat_interleave(H // KV, dim=1)
        s = (q @ k.transpose(-1, -2)) / math.sqrt(hd)
        s = s.masked_fill(~allowed, float("-inf"))
        o = torch.softmax(s, dim=-1) @ v
        x = x + o.transpose(1, 2).reshape(B, S, H * hd) @ sd[p + "self_attn.o_proj.weight"].T
        h = rms(x, sd[p + "post_attention_layernorm.weight"])
        g = h @ sd[p + "mlp.gate_proj.weight"].T
        u = h @ sd[p + "mlp.up_proj.weight"].T
        x = x + (torch.nn.functional.silu(g) * u) @ sd[p + "mlp.down_proj.weight"].T
    return rms(x, sd["model.norm.weight"])


# --------------------------------------------------------------------------------------------
# a) + b) tiny random models
# --------------------------------------------------------------------------------------------

def init_tiny(model, seed, std=0.15):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _, p in sorted(model.named_parameters(), key=lambda kv: kv[0]):
            if p.ndim == 1:  # RMSNorm weights (no biases in these models)
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(std * torch.randn(p.shape, generator=g))


def hidden_of(model, input_ids, attention_mask):
    with torch.no_grad():
        return model.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state


def tiny_llama():
    from transformers import LlamaConfig, LlamaForCausalLM

    rope_scaling = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                    "original_max_position_embeddings": 16}
    cfg = LlamaConfig(vocab_size=256, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, head_dim=16, rms_norm_eps=1e-5,
                      rope_theta=10000.0, rope_scaling=dict(rope_scaling), max_position_embeddings=128,
                      tie_word_embeddings=True, bos_token_id=1, eos_token_id=2, attn_implementation="sdpa")
    torch.manual_seed(1234)
    model = LlamaForCausalLM(cfg).eval()
    init_tiny(model, seed=1234)
    assert model.lm_head.weight is model.model.embed_tokens.weight

    d = os.path.join(OUT, "tiny-llama")
    shutil.rmtree(d, ignore_errors=True)
    model.save_pretrained(d, max_shard_size="150KB")
    # Classic config layout, as in the released LLM2CLIP checkpoints (transformers 4.x writes
    # "rope_theta" + "rope_scaling"; 5.x writes "rope_parameters"). Both must be loadable.
    cpath = os.path.join(d, "config.json")
    with open(cpath) as f:
        cj = json.load(f)
    rp = cj.pop("rope_parameters")
    cj["rope_theta"] = rp["rope_theta"]
    cj["rope_scaling"] = {k: rp[k] for k in ("factor", "high_freq_factor", "low_freq_factor",
                                              "original_max_position_embeddings", "rope_type")}
    cj = dict(sorted(cj.items()))
    with open(cpath, "w") as f:
        json.dump(cj, f, indent=2)
        f.write("\n")
    files = sorted(os.listdir(d))
    shards = [x for x in files if x.startswith("model-") and x.endswith(".safetensors")]
    assert len(shards) >= 2 and "model.safetensors.index.json" in files, files
    with open(os.path.join(d, "model.safetensors.index.json")) as f:
        wmap = json.load(f)["weight_map"]
    assert "lm_head.weight" not in wmap, "tied lm_head should not be stored"

    # Inputs: row 0 full, row 1 right-padded (last 4 are padding, id 0).
    g = torch.Generator().manual_seed(99)
    ids = torch.randint(3, 256, (2, 12), generator=g)
    mask = torch.ones(2, 12, dtype=torch.long)
    mask[1, 8:] = 0
    ids[1, 8:] = 0

    h_causal = hidden_of(model, ids, mask)
    with torch.no_grad():
        logits = model.lm_head(h_causal)
        logits_full = model(input_ids=ids, attention_mask=mask).logits
    assert maxdiff(logits, logits_full) == 0.0
    h_bidir = hidden_of(model, ids, bidirectional_mask(mask))

    valid = mask.bool()
    # 1. Independent float64 decoder, causal and bidirectional (valid positions only).
    ref_c = ref_decoder(model, ids, mask, causal=True)
    ref_b = ref_decoder(model, ids, mask, causal=False)
    d_c = maxdiff(h_causal[valid], ref_c[valid])
    d_b = maxdiff(h_bidir[valid], ref_b[valid])
    assert d_c < 1e-4 and d_b < 1e-4, (d_c, d_b)
    assert maxdiff(h_causal[valid], h_bidir[valid]) > 0.1
    # 2. 4-D causal mask reproduces the 2-D path (the 4-D route is honoured as given).
    assert maxdiff(hidden_of(model, ids, causal_additive_mask(mask))[valid], h_causal[valid]) < 1e-5
    # 3. Eager attention gives the same bidirectional result.
    model.set_attn_implementation("eager")
    h_bidir_eager = hidden_of(model, ids, bidirectional_mask(mask))
    model.set_attn_implementation("sdpa")
    assert maxdiff(h_bidir_eager[valid], h_bidir[valid]) < 1e-5
    # 4. Perturbation: token 8 of row 0 reaches position 0 only in bidirectional mode.
    ids2 = ids.clone()
    ids2[0, 8] = 3 + (int(ids[0, 8]) - 3 + 100) % 253
    dc = maxdiff(hidden_of(model, ids2, mask)[0, 0], h_causal[0, 0])
    db = maxdiff(hidden_of(model, ids2, bidirectional_mask(mask))[0, 0], h_bidir[0, 0])
    assert dc < 1e-6, f"causal position 0 changed by a later token: {dc}"
    assert db > 1e-3, f"bidirectional position 0 did not see token 8: {db}"
    # 5. Padding invariance: row 1 alone (8 tokens) == row 1 of the padded batch.
    alone = hidden_of(model, ids[1:2, :8], bidirectional_mask(torch.ones(1, 8, dtype=torch.long)))
    assert maxdiff(alone[0], h_bidir[1, :8]) < 1e-5
    # 6. The saved folder (sharded, tied, classic config) reloads to identical outputs.
    re = LlamaForCausalLM.from_pretrained(d, dtype=torch.float32).eval()
    assert dict(re.config.rope_parameters) == dict(model.config.rope_parameters), re.config.rope_parameters
    assert maxdiff(hidden_of(re, ids, mask), h_causal) == 0.0
    assert maxdiff(hidden_of(re, ids, bidirectional_mask(mask)), h_bidir) == 0.0

    save_tensors(os.path.join(OUT, "tiny_llama_outputs.safetensors"), {
        "input_ids": ids.float(), "attention_mask": mask.float(),
        "hidden_causal": h_causal, "logits_causal": logits, "hidden_bidirectional": h_bidir,
    })
    log(f"tiny-llama: {len(shards)} shards; vs float64 reference: causal {d_c:.2e}, bidirectional {d_b:.2e}; "
        f"perturbation at pos 0: causal {dc:.1e}, bidirectional {db:.3f}")


def tiny_mistral():
    from transformers import MistralConfig, MistralForCausalLM

    cfg = MistralConfig(vocab_size=256, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                        num_attention_heads=4, num_key_value_heads=2, head_dim=32, rms_norm_eps=1e-5,
                        rope_theta=1e6, sliding_window=None, max_position_embeddings=128,
                        tie_word_embeddings=False, bos_token_id=1, eos_token_id=2, attn_implementation="sdpa")
    torch.manual_seed(4321)
    model = MistralForCausalLM(cfg).eval()
    init_tiny(model, seed=4321)
    assert model.model.layers[0].self_attn.q_proj.weight.shape == (128, 64)
    model = model.to(torch.bfloat16)
    d = os.path.join(OUT, "tiny-mistral")
    shutil.rmtree(d, ignore_errors=True)
    model.save_pretrained(d)
    files = sorted(os.listdir(d))
    assert "model.safetensors" in files and not any(x.startswith("model-") for x in files), files
    # Outputs come from the bf16 file loaded as float32 (== model.float() for every weight). Not from
    # model.float() itself: `.to(bfloat16)` also rounds the non-persistent RoPE `inv_freq` buffer,
    # which `.float()` does not undo (that shifts the hidden states by ~1e-3).
    bf16_sd = model.state_dict()
    model = MistralForCausalLM.from_pretrained(d, dtype=torch.float32).eval()
    for k, v in model.state_dict().items():
        assert torch.equal(v, bf16_sd[k].float()), k

    g = torch.Generator().manual_seed(77)
    ids = torch.randint(3, 256, (1, 10), generator=g)
    mask = torch.ones(1, 10, dtype=torch.long)
    h = hidden_of(model, ids, None)
    with torch.no_grad():
        logits = model.lm_head(h)
    d_ref = maxdiff(h, ref_decoder(model, ids, mask, causal=True))
    assert d_ref < 1e-4, d_ref
    save_tensors(os.path.join(OUT, "tiny_mistral_outputs.safetensors"), {
        "input_ids": ids.float(), "hidden_causal": h, "logits_causal": logits,
    })
    log(f"tiny-mistral: bf16 single file; vs float64 reference {d_ref:.2e}")


# --------------------------------------------------------------------------------------------
# c) SmolLM2-135M-Instruct from the GGUF
# --------------------------------------------------------------------------------------------

def load_smollm2_tokenizer():
    from transformers import AutoTokenizer
    return AutoTokenizer.from_pretrained(SMOL_DIR, gguf_file=SMOL_FILE)


def load_smollm2_model():
    """AutoModelForCausalLM.from_pretrained(dir, gguf_file=..., dtype=float32).

    transformers 5.24 refuses GGUF loading unless `accelerate` is importable, although nothing on
    this CPU path uses it (accelerate needs psutil, which the pinned stack lacks). If that check
    fails, it is bypassed for the duration of the call; the result was verified to be identical
    to building the model from the config and loading transformers' own
    `load_gguf_checkpoint(...)` tensors.
    """
    import transformers.modeling_utils as mu
    from transformers import AutoModelForCausalLM

    def load():
        return AutoModelForCausalLM.from_pretrained(SMOL_DIR, gguf_file=SMOL_FILE, dtype=torch.float32)
    try:
        model = load()
    except ValueError as e:
        if "accelerate" not in str(e):
            raise
        orig = mu.is_accelerate_available
        mu.is_accelerate_available = lambda *a, **k: True
        try:
            model = load()
        finally:
            mu.is_accelerate_available = orig
    return model.eval()


def smol_alt_tokenizer(tok):
    """The original SmolLM2 / llama.cpp `smollm` pre-tokenisation (digits isolated first)."""
    import tokenizers
    from tokenizers import pre_tokenizers
    alt = tokenizers.Tokenizer.from_str(tok.backend_tokenizer.to_str())
    alt.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                                 pre_tokenizers.ByteLevel(add_prefix_space=False,
                                                                          use_regex=True)])
    return alt


def wrap(caption, instruction=None):
    x = caption.strip() if instruction is None else instruction.strip() + " " + caption.strip()
    return CHAT_PREFIX + x + CHAT_SUFFIX


def encode_for_embedding(tok, caption, instruction=None):
    """-> (full token ids, n pooled tokens)."""
    ids = tok(wrap(caption, instruction), add_special_tokens=False).input_ids
    n = len(tok(caption.strip() + CHAT_SUFFIX, add_special_tokens=False).input_ids)
    return ids, n


def embed_one(model, ids, n, dtype=torch.float32):
    x = torch.tensor([ids])
    h = hidden_of(model, x, bidirectional_mask(torch.ones_like(x), dtype))
    return h[0, -n:].mean(0)


def embed_batch_left(model, seqs, ns, pad_id, dtype=torch.float32, per_row_positions=False):
    """One left-padded batch. Position ids are transformers' default 0..S-1 (what llm2vec gets),
    unless per_row_positions (each row then starts at position 0, as when run alone)."""
    S = max(len(s) for s in seqs)
    B = len(seqs)
    ids = torch.full((B, S), pad_id, dtype=torch.long)
    mask = torch.zeros(B, S, dtype=torch.long)
    pool = torch.zeros(B, S, dtype=dtype)
    for i, (s, n) in enumerate(zip(seqs, ns)):
        ids[i, S - len(s):] = torch.tensor(s)
        mask[i, S - len(s):] = 1
        pool[i, S - n:] = 1.0
    pos = (mask.cumsum(1) - 1).clamp(min=0) if per_row_positions else None
    with torch.no_grad():
        h = model.model(input_ids=ids, attention_mask=bidirectional_mask(mask, dtype),
                        position_ids=pos).last_hidden_state
    return (h * pool[..., None]).sum(1) / pool.sum(1, keepdim=True)


GOLDEN_CAPTIONS = [
    "A cat sleeping on a sofa.",
    "Two brown dogs run across a snowy field toward a wooden fence.",
    "A red double-decker bus passes the clock tower at 3:45 p.m., carrying 27 passengers (and 1 driver)!",
    "A young woman in a yellow raincoat holds a striped umbrella while waiting at a busy crosswalk "
    "in the rain.",
    "An old fishing boat with peeling blue paint rests on the sandy shore at low tide, surrounded by "
    "coiled ropes, a rusty anchor and a few seagulls searching the wet sand for food.",
    "A cozy kitchen with white cabinets and a large wooden table in the middle. On the table there is "
    "a bowl of green apples, a glass jug of orange juice and an open cookbook. Morning sunlight streams "
    "through a window above the sink, where a small potted basil plant sits.",
    "A wide aerial photograph of a mountain valley in autumn. A narrow river winds through the centre, "
    "crossed by a stone bridge near a village with red roofs. The hills on both sides are covered with "
    "orange and yellow trees, and a thin mist hangs over the water. Far away, snowy peaks rise under a "
    "pale sky.",
    "Close-up of a chessboard mid-game: the white queen stands on e5, two black pawns guard the king, "
    "and a hand reaches in from the right edge of the frame.",
]


def smollm2_part():
    from gguf import GGUFReader
    from gguf.quants import dequantize

    tok = load_smollm2_tokenizer()
    model = load_smollm2_model()
    cfg = model.config
    alt = smol_alt_tokenizer(tok)

    # -- prompt, next-token logits, greedy decoding (ordinary causal mode)
    prompt = "The capital of France is"
    pids = tok(prompt).input_ids
    assert pids == tok(prompt, add_special_tokens=False).input_ids == [504, 3575, 282, 4649, 314], pids
    with torch.no_grad():
        last = model(input_ids=torch.tensor([pids])).logits[0, -1]
    top = torch.topk(last, 10)
    top_ids = [int(i) for i in top.indices]
    expected = {7042: 17.371, 260: 14.889, 4528: 13.245, 2250: 13.009, 1315: 12.952}
    assert top_ids[:5] == list(expected), top_ids
    for i, v in expected.items():
        assert abs(float(last[i]) - v) < 0.02, (i, float(last[i]), v)
    gen = list(pids)
    with torch.no_grad():
        for _ in range(8):
            gen.append(int(model(input_ids=torch.tensor([gen])).logits[0, -1].argmax()))
    new_ids = gen[len(pids):]
    greedy_text = tok.decode(new_ids)
    assert greedy_text == " Paris.\n\nThe answer is:", repr(greedy_text)

    emb504 = model.model.embed_tokens.weight[504, :4]
    assert torch.allclose(emb504, torch.tensor([0.10960388, 0.01743698, -0.0946579, 0.08220291]), atol=1e-7)

    # -- Q/K un-permutation, checked against the raw GGUF tensors with an own inverse permutation
    reader = GGUFReader(os.path.join(SMOL_DIR, SMOL_FILE))
    raw = {t.name: t for t in reader.tensors}

    def gguf_dense(name):
        t = raw[name]
        return torch.from_numpy(dequantize(t.data, t.tensor_type).astype("float32")).reshape(
            [int(x) for x in reversed(t.shape.tolist())])

    def unpermute(w, heads):
        hd = w.shape[0] // heads
        # GGUF row h*hd + 2*i + j  <->  HF row h*hd + j*hd/2 + i  (i < hd/2, j in {0, 1})
        idx = torch.empty(w.shape[0], dtype=torch.long)
        for h in range(heads):
            for i in range(hd // 2):
                for j in range(2):
                    idx[h * hd + j * (hd // 2) + i] = h * hd + 2 * i + j
        return w[idx]
    q_raw, k_raw = gguf_dense("blk.0.attn_q.weight"), gguf_dense("blk.0.attn_k.weight")
    q_hf = model.model.layers[0].self_attn.q_proj.weight.detach()
    k_hf = model.model.layers[0].self_attn.k_proj.weight.detach()
    assert torch.equal(unpermute(q_raw, cfg.num_attention_heads), q_hf)
    assert torch.equal(unpermute(k_raw, cfg.num_key_value_heads), k_hf)
    assert not torch.equal(q_raw, q_hf)

    # -- embeddings
    assert all(5 <= len(c.split()) <= 60 for c in GOLDEN_CAPTIONS)
    plain, instruct, cap_info, seqs, ns = [], [], [], [], []
    for c in GOLDEN_CAPTIONS:
        ids_p, n = encode_for_embedding(tok, c)
        ids_i, n_i = encode_for_embedding(tok, c, INSTRUCTION)
        assert n == n_i
        cap_ids = tok(c.strip() + CHAT_SUFFIX, add_special_tokens=False).input_ids
        for t in (wrap(c), wrap(c, INSTRUCTION), c.strip() + CHAT_SUFFIX):
            assert alt.encode(t, add_special_tokens=False).ids == tok(t, add_special_tokens=False).input_ids
        assert ids_p[-n:] == cap_ids  # plain: the pooled tokens are exactly the caption + <|im_end|>
        plain.append(embed_one(model, ids_p, n))
        instruct.append(embed_one(model, ids_i, n))
        seqs.append(ids_p)
        ns.append(n)
        cap_info.append({"caption": c, "n_pooled": n, "ids_plain": ids_p, "ids_instruct": ids_i,
                         "instruct_tail_equals_caption_tokens": ids_i[-n:] == cap_ids})
    plain, instruct = torch.stack(plain), torch.stack(instruct)
    batched = embed_batch_left(model, seqs, ns, pad_id=tok.pad_token_id)
    bdiff = maxdiff(batched, plain)
    bdiff_mean = float((batched - plain).abs().mean())
    assert bdiff < 1e-3 and bdiff_mean < 1e-5, (bdiff, bdiff_mean)
    # bidirectional vs causal must differ (sanity)
    x0 = torch.tensor([seqs[0]])
    causal0 = hidden_of(model, x0, torch.ones_like(x0))[0, -ns[0]:].mean(0)
    assert maxdiff(causal0, plain[0]) > 1e-2
    # The float32 batched-vs-single gap is rounding: in float64 with per-row positions it is exactly 0.
    # (With default positions 0..S-1 a float64 gap of ~5e-5 remains: transformers computes the RoPE
    # angles position * inv_freq in float32 even for a float64 model, so shifted positions round
    # differently.) Done last: converts the model in place.
    model.double()
    plain64 = torch.stack([embed_one(model, s_, n_, torch.float64) for s_, n_ in zip(seqs, ns)])
    b64_default = maxdiff(embed_batch_left(model, seqs, ns, tok.pad_token_id, torch.float64), plain64)
    b64_rows = maxdiff(embed_batch_left(model, seqs, ns, tok.pad_token_id, torch.float64, True), plain64)
    f32_vs_f64 = maxdiff(plain, plain64)
    assert b64_rows < 1e-9 and b64_default < 1e-3 and f32_vs_f64 < 1e-2, (b64_rows, b64_default, f32_vs_f64)

    quirk_text = "at  27 people"
    quirk = {"text": quirk_text,
             "transformers_gguf_ids": tok(quirk_text, add_special_tokens=False).input_ids,
             "digits_isolated_ids": alt.encode(quirk_text, add_special_tokens=False).ids,
             "note": "transformers' GGUF tokenizer uses a plain ByteLevel(use_regex=True) pre-tokenizer; the "
                     "original SmolLM2 tokenizer.json and llama.cpp's 'smollm' pre-tokenizer isolate digits "
                     "first. They differ e.g. when 2+ spaces precede a digit (the spaces then merge into "
                     "'ĠĠ' = 256). All texts in this file tokenise identically under both."}

    write_json(os.path.join(OUT, "smollm2.json"), {
        "model": SMOL_FILE,
        "generator": "scripts/make_goldens_llm.py (transformers GGUF loader, float32, SDPA)",
        "config": {"hidden_size": cfg.hidden_size, "num_hidden_layers": cfg.num_hidden_layers,
                   "num_attention_heads": cfg.num_attention_heads, "num_key_value_heads": cfg.num_key_value_heads,
                   "head_dim": cfg.head_dim, "intermediate_size": cfg.intermediate_size,
                   "vocab_size": cfg.vocab_size, "rope_theta": float(cfg.rope_parameters["rope_theta"]),
                   "rms_norm_eps": float(cfg.rms_norm_eps), "tie_word_embeddings": bool(cfg.tie_word_embeddings),
                   "bos_token_id": cfg.bos_token_id, "eos_token_id": cfg.eos_token_id,
                   "pad_token_id": tok.pad_token_id},
        "prompt": prompt,
        "prompt_ids": pids,
        "top10_ids": top_ids,
        "top10_tokens": tok.convert_ids_to_tokens(top_ids),
        "top10_text": [tok.decode([i]) for i in top_ids],
        "top10_logits": fl(top.values),
        "greedy_ids": new_ids,
        "greedy_ids_note": "the 8 generated ids only (prompt excluded); greedy = argmax of a full causal re-run per step",
        "greedy_text": greedy_text,
        "embed_tokens_504_first4": fl(emb504),
        "q_proj_layer0_note": "q_proj_layer0/k_proj_layer0 in smollm2_outputs are HF-layout rows [:8,:8] "
                              "(un-permuted); *_gguf_raw are the same slice of the dequantised GGUF tensor "
                              "as stored (llama.cpp row order). HF row h*hd + j*hd/2 + i = GGUF row "
                              "h*hd + 2*i + j.",
        "embedding": {
            "mode": "bidirectional (key padding only), final-norm hidden states, mean over last n positions, "
                    "not normalised, one text at a time from position 0",
            "wrapper_prefix": CHAT_PREFIX, "wrapper_suffix": CHAT_SUFFIX,
            "wrapper_prefix_ids": tok(CHAT_PREFIX, add_special_tokens=False).input_ids,
            "add_special_tokens": False,
            "instruction": INSTRUCTION,
            "instruct_format": "instruction.strip() + ' ' + caption.strip()",
            "n_pooled_rule": "len(tokenize(caption.strip() + '<|im_end|>', add_special_tokens=False))",
            "batched_left": "one left-padded batch (pad id %d), default position ids 0..S-1, 4-D key-padding "
                            "mask" % tok.pad_token_id,
            "batched_vs_single_max_abs_diff": bdiff,
            "batched_vs_single_mean_abs_diff": bdiff_mean,
            "float64_batched_default_positions_vs_single_max_abs_diff": b64_default,
            "float64_batched_per_row_positions_vs_single_max_abs_diff": b64_rows,
            "float32_vs_float64_plain_max_abs_diff": f32_vs_f64,
            "norms_plain": fl(plain.norm(dim=-1)),
            "norms_instruct": fl(instruct.norm(dim=-1)),
            "causal_vs_bidirectional_caption0_max_abs_diff": maxdiff(causal0, plain[0]),
        },
        "captions": GOLDEN_CAPTIONS,
        "caption_tokens": cap_info,
        "tokenizer_quirk": quirk,
    })
    save_tensors(os.path.join(OUT, "smollm2_outputs.safetensors"), {
        "last_logits": last,
        "q_proj_layer0": q_hf[:8, :8], "k_proj_layer0": k_hf[:8, :8],
        "q_proj_layer0_gguf_raw": q_raw[:8, :8], "k_proj_layer0_gguf_raw": k_raw[:8, :8],
        "embeddings_plain": plain, "embeddings_instruct": instruct, "embeddings_batched_left": batched,
    })
    log(f"smollm2: top5 {[(tok.decode([i]), round(float(v), 3)) for i, v in zip(top_ids[:5], top.values[:5])]}; "
        f"greedy {greedy_text!r}")
    log(f"smollm2: plain norms {[round(x, 2) for x in fl(plain.norm(dim=-1))]}")
    log(f"smollm2: instruct norms {[round(x, 2) for x in fl(instruct.norm(dim=-1))]}")
    log(f"smollm2: batched-left vs single max |diff| {bdiff:.2e} (mean {bdiff_mean:.1e}); float64: default "
        f"positions {b64_default:.1e}, per-row positions {b64_rows:.1e}; float32 vs float64 {f32_vs_f64:.1e}")


# --------------------------------------------------------------------------------------------
# d) all-MiniLM-L6-v2 via sentence-transformers
# --------------------------------------------------------------------------------------------

LONG_150 = (
    "The museum's new wing, which opened to the public last spring after nearly six years of planning, "
    "debate and construction, houses a remarkable collection of maritime artefacts: hand-drawn navigation "
    "charts from the seventeenth century, brass sextants polished by generations of sailors, carved "
    "figureheads rescued from shipwrecks along the northern coast, and a reconstructed captain's cabin "
    "complete with a narrow bunk, a writing desk and a lantern that still swings gently whenever the "
    "floor vibrates. Visitors move slowly from room to room, reading the weathered letters that crews "
    "sent home, listening to recorded sea shanties, and stopping in front of the enormous window that "
    "looks out over the harbour, where modern container ships now glide past the old lighthouse."
)
LONG_300 = (
    "In the early morning the market square slowly comes to life. Farmers arrive in dusty vans and unload "
    "crates of tomatoes, peppers, courgettes and freshly cut flowers, arranging them on folding tables "
    "beneath striped awnings. A baker carries trays of warm bread and pastries to his stall while the smell "
    "of coffee drifts from a small cart parked near the fountain. Pigeons gather around the benches, hoping "
    "for crumbs, and a street musician tunes his old guitar beside the town hall steps. By eight o'clock "
    "the first customers appear: elderly couples with wicker baskets, parents pushing prams, students "
    "grabbing a quick breakfast on their way to lectures, and tourists photographing the colourful "
    "displays. Conversations mix with the calls of vendors advertising their prices, the clatter of coins "
    "and the occasional bark of a dog tied to a lamp post. Around noon the sun climbs high above the "
    "rooftops, the shadows shrink, and the crowd thickens as office workers come out for lunch. Some "
    "queue for grilled sausages, others sit on the edge of the fountain eating sandwiches and watching "
    "children chase each other between the stalls. In the afternoon the pace slows again; vendors "
    "lower their prices to sell the last of their produce, sweep the cobblestones and fold away the "
    "awnings. By evening only a few scattered leaves, a forgotten paper bag and the quiet murmur of the "
    "fountain remain, until the whole cycle begins once more at dawn the next day, as it has for "
    "hundreds of years, through wars, floods, festivals and ordinary quiet weeks alike."
)

MINILM_SENTENCES = [
    "A man is eating a piece of bread on a park bench.",
    "a",
    "Hello, world!",
    "The quick brown fox jumps over the lazy dog.",
    "Café crème brûlée à la française, s'il vous plaît.",
    "東京は日本の首都です。",
    "我喜欢在公园里散步。",
    "Call me at 555-0123 or email test@example.com before 10:30 a.m. on 2024-03-15.",
    "It's 3.14159 -- approximately pi; isn't that neat?!",
    "Ünïcödé ñoño Straße naïve façade Øresund.",
    "The stock market fell 2.5% on Tuesday after the central bank raised interest rates by 0.25 points.",
    "A dog.",
    LONG_150,
    LONG_300,
    "UPPERCASE TEXT SHOULD BE LOWERCASED BY THE TOKENIZER.",
    "Emoji test 😀🚀 and symbols © ® ™ € £ ¥.",
    "Machine learning models require large amounts of data.",
    "   leading and trailing whitespace   ",
    "Tab\tseparated\tvalues and\nnew lines.",
    "Привет, как дела?",
    "unbelievably antidisestablishmentarianism supercalifragilisticexpialidocious",
    "The cat sat on the mat. The dog sat on the log.",
    "Καλημέρα κόσμε, τι κάνεις;",
    "What is the capital of France? Paris is the capital of France.",
]


def minilm_part():
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(MINILM_DIR, device="cpu")
    max_len = int(st.max_seq_length)
    assert len(MINILM_SENTENCES) == 24
    emb = torch.from_numpy(st.encode(MINILM_SENTENCES, convert_to_numpy=True))
    assert emb.shape == (24, 384)
    hf_tok = st.tokenizer
    full_ids = [hf_tok(s, add_special_tokens=True).input_ids for s in MINILM_SENTENCES]
    used_ids = [hf_tok(s, add_special_tokens=True, truncation=True, max_length=max_len).input_ids
                for s in MINILM_SENTENCES]
    assert 128 < len(full_ids[12]) <= max_len, len(full_ids[12])
    assert len(full_ids[13]) > max_len, len(full_ids[13])

    # sentence 0 token states straight from the BERT module
    feats = st.tokenize([MINILM_SENTENCES[0]]) if not hasattr(st, "preprocess") else st.preprocess([MINILM_SENTENCES[0]])
    with torch.no_grad():
        out = st[0](dict(feats))
    tok0 = out["token_embeddings"][0]
    ids0 = feats["input_ids"][0]
    assert ids0.tolist() == used_ids[0]
    pooled = tok0.mean(0)
    assert maxdiff(pooled / pooled.norm(), emb[0]) < 1e-5
    # every embedding is reproduced by mean pooling + normalize over the truncated ids (one at a time)
    worst = 0.0
    for i, ids in enumerate(used_ids):
        x = torch.tensor([ids])
        with torch.no_grad():
            h = st[0].auto_model(input_ids=x, attention_mask=torch.ones_like(x),
                                 token_type_ids=torch.zeros_like(x)).last_hidden_state[0]
        p = h.mean(0)
        worst = max(worst, maxdiff(p / p.norm(), emb[i]))
    assert worst < 1e-5, worst

    write_json(os.path.join(OUT, "minilm.json"), {
        "model": "all-MiniLM-L6-v2 (sentence-transformers: Transformer -> mean Pooling -> Normalize)",
        "max_seq_length": max_len,
        "max_seq_length_source": "sentence_bert_config.json (tokens including [CLS] and [SEP]; longer input is "
                                 "truncated to this before the model)",
        "tokenizer_model_max_length": int(hf_tok.model_max_length),
        "encode_call": "SentenceTransformer(dir, device='cpu').encode(sentences, convert_to_numpy=True)",
        "sentences": MINILM_SENTENCES,
        "token_ids": used_ids,
        "untruncated_token_counts": [len(x) for x in full_ids],
        "norms": fl(emb.norm(dim=-1)),
        "single_vs_batched_max_abs_diff": worst,
    })
    save_tensors(os.path.join(OUT, "minilm_embeddings.safetensors"), {
        "embeddings": emb, "token_embeddings_0": tok0, "input_ids_0": ids0.float(),
    })
    log(f"minilm: max_seq_length {max_len}; token counts {[len(x) for x in full_ids]}; "
        f"single-vs-batched {worst:.1e}")


# --------------------------------------------------------------------------------------------
# bench/captions.txt: 256 procedural captions of 20..80 SmolLM2 tokens
# --------------------------------------------------------------------------------------------

SUBJECTS = ["dog", "cat", "horse", "bicycle", "car", "boat", "umbrella", "teapot", "lamp", "chair",
            "guitar", "backpack", "kite", "tree", "clock", "train", "bird", "vase", "book", "ball",
            "truck", "bench", "sheep", "cow", "laptop", "suitcase", "tent", "balloon", "fox", "owl"]
COLOURS = ["red", "blue", "green", "yellow", "orange", "purple", "white", "black", "grey", "brown",
           "pink", "golden", "silver", "dark green", "pale blue", "bright red"]
SIZES = ["small", "large", "tiny", "huge", "tall", "short", "old", "new", "shiny", "dusty", "wooden",
         "plastic", "metal", "striped", "spotted"]
PLACES = ["on a sandy beach", "in a crowded street", "in a quiet forest", "on a kitchen table",
          "in a snowy field", "beside a river", "on a city rooftop", "in a small garden",
          "inside a train station", "at the edge of a lake", "on a mountain path", "in an empty parking lot",
          "in a sunny meadow", "under a stone bridge", "in a cluttered workshop", "on a wooden pier"]
POSITIONS = ["to the left of", "to the right of", "behind", "in front of", "next to", "above", "below",
             "far away from", "close to", "leaning against"]
ACTIONS = ["is resting", "is running", "is standing still", "is lying on its side", "is partly hidden",
           "is sitting", "is moving slowly", "is waiting", "is facing the camera", "is tilted slightly"]
LIGHT = ["in soft morning light", "under a cloudy sky", "at sunset", "on a rainy afternoon",
         "in bright midday sun", "at night under street lamps", "in thick fog", "on a clear winter day"]
EXTRAS = ["A few people walk past in the background.", "The ground is wet from recent rain.",
          "Long shadows stretch across the scene.", "Some leaves are scattered around.",
          "A faded sign hangs on the wall nearby.", "The photo is slightly blurred at the edges.",
          "Birds are flying overhead.", "There is a puddle reflecting the sky.",
          "The background is out of focus.", "Everything looks calm and orderly."]


def _article(word):
    return "an" if word[0] in "aeiou" else "a"


def _plural(noun):
    if noun == "sheep":
        return noun
    return noun + ("es" if noun.endswith(("x", "ch", "s")) else "s")


def _np(rng):
    words = f"{rng.choice(SIZES)} {rng.choice(COLOURS)} {rng.choice(SUBJECTS)}"
    return f"{rng.choice([_article(words), 'one'])} {words}"


def _clause(rng, first):
    if first:
        if rng.random() < 0.5:
            s = f"{_np(rng)} {rng.choice(ACTIONS)} {rng.choice(PLACES)} {rng.choice(LIGHT)}."
        else:
            s = f"{_np(rng)} {rng.choice(PLACES)}."
        return s[0].upper() + s[1:]
    k = rng.randrange(4)
    if k == 0:
        s = f"{_np(rng)} {rng.choice(ACTIONS)} {rng.choice(POSITIONS)} {_np(rng)}."
    elif k == 1:
        s = f"{rng.choice(POSITIONS)} it, {_np(rng)} {rng.choice(ACTIONS)}."
    elif k == 2:
        s = f"there are {rng.randint(2, 9)} {rng.choice(COLOURS)} {_plural(rng.choice(SUBJECTS))} {rng.choice(PLACES)}."
    else:
        s = rng.choice(EXTRAS)
    return s[0].upper() + s[1:]


def make_captions(tok, alt=None, n=256, lo=20, hi=80, seed=2024):
    """Targets spread evenly over [lo, hi]; each caption is the first clause sequence whose token
    count lands within 3 of its target."""
    rng = random.Random(seed)
    targets = [lo + round((hi - lo) * i / (n - 1)) for i in range(n)]
    rng.shuffle(targets)
    out = []
    for target in targets:
        cap = None
        while cap is None:
            parts = [_clause(rng, True)]
            while True:
                text = " ".join(parts)
                L = len(tok(text, add_special_tokens=False).input_ids)
                if abs(L - target) <= 3 and lo <= L <= hi:
                    cap = text
                    break
                if L > target:
                    break
                parts.append(_clause(rng, False))
        if alt is not None:
            assert alt.encode(cap, add_special_tokens=False).ids == tok(cap, add_special_tokens=False).input_ids
        out.append(cap)
    return out


def captions_part(tok=None):
    tok = tok or load_smollm2_tokenizer()
    caps = make_captions(tok, smol_alt_tokenizer(tok))
    lens = [len(tok(c, add_special_tokens=False).input_ids) for c in caps]
    assert len(caps) == 256 and min(lens) >= 20 and max(lens) <= 80 and all("\n" not in c for c in caps)
    os.makedirs(os.path.dirname(CAPTIONS_TXT), exist_ok=True)
    with open(CAPTIONS_TXT, "w", encoding="utf-8") as f:
        f.write("\n".join(caps) + "\n")
    q = sorted(lens)
    log(f"captions: 256 lines, tokens min {q[0]} / q25 {q[64]} / median {q[128]} / q75 {q[192]} / max {q[-1]}, "
        f"total {sum(lens)}")


# --------------------------------------------------------------------------------------------

def summary():
    total = 0
    rows = []
    for dp, _, fs in os.walk(OUT):
        for f in fs:
            p = os.path.join(dp, f)
            sz = os.path.getsize(p)
            total += sz
            with open(p, "rb") as fh:
                h = hashlib.sha256(fh.read()).hexdigest()[:12]
            rows.append((os.path.relpath(p, ROOT), sz, h))
    for r in sorted(rows):
        log(f"  {r[0]:<60} {r[1]:>9} B  {r[2]}")
    log(f"  total Tests/Goldens/llm: {total / 1e6:.3f} MB")
    assert total < 3e6


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="+", choices=["tiny", "smollm2", "minilm", "captions"], default=None)
    ap.add_argument("--captions", action="store_true", help="only regenerate bench/captions.txt")
    args = ap.parse_args(argv)
    parts = ["captions"] if args.captions else (args.only or ["tiny", "smollm2", "minilm", "captions"])

    torch.set_num_threads(1)
    torch.manual_seed(0)
    quiet_transformers()
    os.makedirs(OUT, exist_ok=True)
    if "tiny" in parts:
        tiny_llama()
        tiny_mistral()
    if "smollm2" in parts:
        smollm2_part()
    if "minilm" in parts:
        minilm_part()
    if "captions" in parts:
        captions_part()
    summary()
    return 0


if __name__ == "__main__":
    sys.exit(main())
