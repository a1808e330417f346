#!/usr/bin/env python3
"""PyTorch counterpart of `llm2clip bench engine`.

    python3 bench/torch_engine.py [--threads 2] [--reps 7] [--warmup 2] [--json] [--only NAME] [--list]

Targets PyTorch 2.13.0 (CPU), float32. Each row: `--warmup` untimed runs, then
`--reps` timed runs; the reported value is the median wall time in ms.
fwd+bwd rows free gradients (`.grad = None`) before every run, outside the timed
region. Outputs are allocated by PyTorch as usual (no preallocation).

--json prints one object:
  {"suite":"engine","impl":"pytorch","threads":T,"rows":[{"name":..,"ms":..,"gflop":..|null}]}
"""

import argparse
import json
import math
import statistics
import sys
import time

import torch
import torch.nn.functional as F

# Row-wise workloads: 12608 = 64 x 197 tokens (ViT-B/16 at 224px, batch 64), width 768.
ROWS_N, ROWS_D = 12608, 768


def _rand(*shape, scale=1.0, grad=False):
    t = torch.randn(*shape, dtype=torch.float32) * scale
    if grad:
        t.requires_grad_(True)
    return t


def _free(*ts):
    for t in ts:
        t.grad = None


# ---------------------------------------------------------------- workloads
# Each factory builds its inputs and returns (run, reset or None, gflop or None).


def w_sgemm_square():
    M = N = K = 1024
    a, b = _rand(M, K), _rand(K, N)

    def run():
        return a @ b
    return run, None, 2.0 * M * N * K / 1e9


def w_sgemm_linear():
    M, N, K = 12608, 3072, 768
    x, w = _rand(M, K), _rand(N, K, scale=0.02)

    def run():
        return F.linear(x, w)
    return run, None, 2.0 * M * N * K / 1e9


def _fwd_bwd_rowwise(fn, with_params=False):
    x = _rand(ROWS_N, ROWS_D, grad=True)
    g = _rand(ROWS_N, ROWS_D)
    params = []
    if with_params:
        params = [(1.0 + 0.1 * torch.randn(ROWS_D)).requires_grad_(True),
                  (0.1 * torch.randn(ROWS_D)).requires_grad_(True)]

    def run():
        out = fn(x, *params)
        out.backward(g)
        return out

    def reset():
        _free(x, *params)
    return run, reset


def w_layernorm():
    run, reset = _fwd_bwd_rowwise(lambda x, w, b: F.layer_norm(x, (ROWS_D,), w, b, 1e-5), with_params=True)
    return run, reset, None


def w_softmax():
    run, reset = _fwd_bwd_rowwise(lambda x: torch.softmax(x, dim=-1))
    return run, reset, None


def w_gelu_erf():
    run, reset = _fwd_bwd_rowwise(lambda x: F.gelu(x))
    return run, reset, None


def w_gelu_tanh():
    run, reset = _fwd_bwd_rowwise(lambda x: F.gelu(x, approximate="tanh"))
    return run, reset, None


def w_attention():
    B, H, T, D = 8, 12, 197, 64
    q, k, v = (_rand(B, H, T, D, grad=True) for _ in range(3))
    g = _rand(B, H, T, D)

    def run():
        out = F.scaled_dot_product_attention(q, k, v)
        out.backward(g)
        return out

    def reset():
        _free(q, k, v)
    fwd = 4.0 * B * H * T * T * D
    return run, reset, 3.0 * fwd / 1e9


def w_vit_block():
    B, T, D, H, FF = 8, 197, 768, 12, 3072
    hd = D // H
    x = _rand(B, T, D, grad=True)
    g = _rand(B, T, D)

    def P(*shape, scale):
        return _rand(*shape, scale=scale, grad=True)
    ln1_w, ln1_b = (1.0 + 0.1 * torch.randn(D)).requires_grad_(True), P(D, scale=0.1)
    qkv_w, qkv_b = P(3 * D, D, scale=0.02), P(3 * D, scale=0.02)
    proj_w, proj_b = P(D, D, scale=0.02), P(D, scale=0.02)
    ln2_w, ln2_b = (1.0 + 0.1 * torch.randn(D)).requires_grad_(True), P(D, scale=0.1)
    fc1_w, fc1_b = P(FF, D, scale=0.02), P(FF, scale=0.02)
    fc2_w, fc2_b = P(D, FF, scale=0.02), P(D, scale=0.02)
    params = [ln1_w, ln1_b, qkv_w, qkv_b, proj_w, proj_b, ln2_w, ln2_b, fc1_w, fc1_b, fc2_w, fc2_b]

    def run():
        a = F.layer_norm(x, (D,), ln1_w, ln1_b, 1e-6)
        qkv = F.linear(a, qkv_w, qkv_b).view(B, T, 3, H, hd).permute(2, 0, 3, 1, 4)
        o = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2])
        o = o.transpose(1, 2).reshape(B, T, D)
        h = x + F.linear(o, proj_w, proj_b)
        m = F.layer_norm(h, (D,), ln2_w, ln2_b, 1e-6)
        out = h + F.linear(F.gelu(F.linear(m, fc1_w, fc1_b)), fc2_w, fc2_b)
        out.backward(g)
        return out

    def reset():
        _free(x, *params)
    N = B * T
    lin = 2.0 * N * (D * 3 * D + D * D + D * FF + FF * D)
    attn = 4.0 * B * H * T * T * hd
    return run, reset, 3.0 * (lin + attn) / 1e9


def w_llama_block():
    # SmolLM2-135M layer: hidden 576, 9 heads / 3 kv heads, head_dim 64, MLP 1536.
    B, T, D, H, KV, hd, FF = 8, 64, 576, 9, 3, 64, 1536
    theta, eps = 100000.0, 1e-5
    x = _rand(B, T, D)

    def W(o, i):
        return _rand(o, i, scale=0.02)
    in_norm = 1.0 + 0.1 * torch.randn(D)
    post_norm = 1.0 + 0.1 * torch.randn(D)
    q_w, k_w, v_w, o_w = W(H * hd, D), W(KV * hd, D), W(KV * hd, D), W(D, H * hd)
    gate_w, up_w, down_w = W(FF, D), W(FF, D), W(D, FF)
    # Rotary table is model-level in HF (computed once per forward for all layers): precomputed here.
    inv_freq = 1.0 / (theta ** (torch.arange(0, hd, 2, dtype=torch.float32) / hd))
    ang = torch.arange(T, dtype=torch.float32)[:, None] * inv_freq[None, :]
    emb = torch.cat((ang, ang), dim=-1)
    cos, sin = emb.cos(), emb.sin()

    def rms(t, w):
        return t * torch.rsqrt(t.pow(2).mean(-1, keepdim=True) + eps) * w

    def rope(t):
        rot = torch.cat((-t[..., hd // 2:], t[..., : hd // 2]), dim=-1)
        return t * cos + rot * sin

    def run():
        with torch.inference_mode():
            a = rms(x, in_norm)
            q = F.linear(a, q_w).view(B, T, H, hd).transpose(1, 2)
            k = F.linear(a, k_w).view(B, T, KV, hd).transpose(1, 2)
            v = F.linear(a, v_w).view(B, T, KV, hd).transpose(1, 2)
            q, k = rope(q), rope(k)
            o = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
            h = x + F.linear(o.transpose(1, 2).reshape(B, T, H * hd), o_w)
            m = rms(h, post_norm)
            return h + F.linear(F.silu(F.linear(m, gate_w)) * F.linear(m, up_w), down_w)
    N = B * T
    lin = 2.0 * N * (D * H * hd + 2 * D * KV * hd + H * hd * D + 3 * D * FF)
    attn = 4.0 * B * H * T * T * hd  # dense T x T (no causal discount)
    return run, None, (lin + attn) / 1e9


WORKLOADS = [
    ("sgemm 1024x1024x1024", w_sgemm_square),
    ("sgemm 12608x3072x768", w_sgemm_linear),
    ("layernorm fwd+bwd [12608,768]", w_layernorm),
    ("softmax fwd+bwd [12608,768]", w_softmax),
    ("gelu-erf fwd+bwd [12608,768]", w_gelu_erf),
    ("gelu-tanh fwd+bwd [12608,768]", w_gelu_tanh),
    ("attention fwd+bwd 8x12x197x64", w_attention),
    ("vit-b16 block fwd+bwd 8x197x768", w_vit_block),
    ("llama block fwd 8x64 smollm2", w_llama_block),
]


def time_workload(factory, warmup, reps):
    run, reset, gflop = factory()
    times = []
    for i in range(warmup + reps):
        if reset is not None:
            reset()
        t0 = time.perf_counter()
        out = run()
        t1 = time.perf_counter()
        del out
        if i >= warmup:
            times.append((t1 - t0) * 1e3)
    if reset is not None:
        reset()
    return statistics.median(times), gflop


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--only", default=None, help="run a single row by exact name")
    ap.add_argument("--list", action="store_true", help="list row names and exit")
    args = ap.parse_args(argv)

    if args.list:
        for name, _ in WORKLOADS:
            print(name)
        return 0
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    selected = WORKLOADS
    if args.only is not None:
        selected = [w for w in WORKLOADS if w[0] == args.only]
        if not selected:
            print(f"unknown row {args.only!r}; known: " + ", ".join(n for n, _ in WORKLOADS), file=sys.stderr)
            return 2

    rows = []
    for name, factory in selected:
        ms, gflop = time_workload(factory, args.warmup, args.reps)
        rows.append({"name": name, "ms": ms, "gflop": gflop})
        if not args.json:
            rate = f"{gflop / (ms / 1e3):9.1f}" if gflop else "        —"
            print(f"{name:<36} {ms:10.3f} ms  {rate} GFLOP/s", flush=True)

    if args.json:
        print(json.dumps({"suite": "engine", "impl": "pytorch", "threads": args.threads, "rows": rows}))
    else:
        print(f"# torch {torch.__version__}, threads={args.threads}, warmup={args.warmup}, reps={args.reps} (median)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
