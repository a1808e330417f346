#!/usr/bin/env python3
"""PyTorch counterpart of `llm2clip bench train-clip`.

    python3 bench/torch_train_clip.py [--threads 2] [--reps 7] [--warmup 2] [--tower small|tiny]
                                      [--batch 64] [--json]
    python3 bench/torch_train_clip.py --check [--tower tiny|small] [--from PATH] [--binary .build/release/llm2clip]

Targets PyTorch 2.13.0 (CPU), float32 (run after `source scripts/python-env.sh`).

Row `eva02-<tower>-clip-train-step-<batch>`: ONE stage-2 training step of LLM2CLIP (reference §3)
with the vision tower trained from scratch, written here in plain torch with the same shapes, the
same parameter names (it loads the Swift model's safetensors) and the same FLOPs as the Swift
model (Sources/Models/EVA02.swift, LLM2CLIPModel.swift):

- EVA02 tower (`small`: 64 px, patch 8 -> 64 patches + CLS = 65 tokens, width 192, 6 blocks,
  3 heads of 64, SwiGLU hidden 512, head 192 -> 256; `tiny`: patch 16, width 64, 2 blocks,
  2 heads, hidden 170, head 64): Conv2d patch embedding (bias), CLS token, learnable absolute
  position embedding, pre-LN blocks (LN eps 1e-6) with separate q/k/v projections (q and v
  biases, no k bias), 2-D interleaved rotary embedding on the patch tokens only (EVA's tables:
  half the head for rows, half for columns, 1/10000^(2k/(hd/2)), each frequency twice),
  F.scaled_dot_product_attention, `inner_attn_ln` before `proj`, SwiGLU `w3(ffn_ln(silu(w1 x) *
  w2 x))`, final LN, CLS token, `head`.
- Text adapter on cached LLM features [B, 576] (SmolLM2-135M's width): l2norm -> 4 pre-LN
  residual blocks x + Linear(2d->d)(GELU_erf(Linear(d->2d)(LN(x)))) (LN eps 1e-5) -> LN -> Linear(d -> embed).
- Both embeddings l2-normalised; logits = exp(logit_scale) * img @ txt.T (logit_scale init
  ln(1/0.07)); loss = mean of the two cross-entropies with labels arange(B).

Timed (each step): forward + loss + backward + clip_grad_norm_(all params, 5.0) + AdamW step
(lr 1e-5, betas (0.9, 0.999), eps 1e-8, weight decay 0.05 on matrices, 0 on biases, norms,
pos_embed, cls_token, logit_scale; torch's default implementation) + logit_scale.clamp_(0, ln 100)
+ zero_grad(set_to_none=True). Model in train mode (no dropout anywhere). Inputs: random normal
pixels [B, 3, 64, 64] (already normalised) and features [B, 576], drawn once. `--warmup` untimed
steps, then `--reps` timed steps; the reported value is the median step time in ms.

"gflop" = 3 x forward GEMM FLOPs (tower linears, patch embedding, attention scores and
values, head, adapter, logits); norms and elementwise work not counted. "images" = batch.

--check: equivalence of the two implementations. Runs `llm2clip bench train-clip --save-weights
PATH` (or reads an existing PATH with --from), which writes the Swift model's initial weights
(PATH, LLM2CLIPModel.save), the inputs (PATH.inputs.safetensors) and, for three training steps
on them, the losses, the global gradient norms before clipping and the first step's
per-parameter gradient norms (PATH.json). Loads the same weights and inputs here, runs the same
three steps and compares; exits 1 when a loss or gradient norm differs by more than 1e-3 relative.

--json prints one object:
  {"suite":"train-clip","impl":"pytorch","threads":T,"rows":[{"name":..,"ms":..,"gflop":..,"images":..}]}
"""

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time

import torch
import torch.nn.functional as F
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)

# EVA02Config presets (Sources/Models/EVA02.swift).
TOWERS = {
    "small": dict(image=64, patch=8, width=192, layers=6, heads=3, mlp=512, embed=256),
    "tiny": dict(image=64, patch=16, width=64, layers=2, heads=2, mlp=170, embed=64),
}
LLM_DIM = 576
LN_EPS_VISION, LN_EPS_TEXT = 1e-6, 1e-5
MAX_LOGIT_SCALE = math.log(100.0)


def eva_rope_tables(head_dim, grid, pt_grid, theta=10000.0):
    """EVA02's 2-D rotary cos/sin [grid*grid, head_dim] (float64 angles, as the Swift side)."""
    dim = head_dim // 2
    freqs = [1.0 / theta ** (2 * i / dim) for i in range(dim // 2)]
    t = torch.arange(grid, dtype=torch.float64) / grid * pt_grid
    f = torch.tensor(freqs, dtype=torch.float64)
    ang = (t[:, None] * f[None, :]).repeat_interleave(2, dim=-1)  # [grid, dim]
    ah = ang[:, None, :].expand(grid, grid, dim)
    aw = ang[None, :, :].expand(grid, grid, dim)
    angles = torch.cat([ah, aw], dim=-1).reshape(grid * grid, head_dim)
    return angles.cos().float(), angles.sin().float()


def rotate_interleaved(x):
    x = x.unflatten(-1, (-1, 2))
    x1, x2 = x.unbind(-1)
    return torch.stack((-x2, x1), dim=-1).flatten(-2)


class Attention(nn.Module):
    def __init__(self, width, heads):
        super().__init__()
        self.heads = heads
        self.q_proj = nn.Linear(width, width)
        self.k_proj = nn.Linear(width, width, bias=False)
        self.v_proj = nn.Linear(width, width)
        self.inner_attn_ln = nn.LayerNorm(width, eps=LN_EPS_VISION)
        self.proj = nn.Linear(width, width)

    def forward(self, x, cos, sin):
        B, N, D = x.shape
        hd = D // self.heads

        def split(t):
            return t.reshape(B, N, self.heads, hd).permute(0, 2, 1, 3)

        def rope(t):  # patch tokens only; CLS passes through
            p = t[:, :, 1:]
            return torch.cat([t[:, :, :1], p * cos + rotate_interleaved(p) * sin], dim=2)

        q, k, v = rope(split(self.q_proj(x))), rope(split(self.k_proj(x))), split(self.v_proj(x))
        o = F.scaled_dot_product_attention(q, k, v)
        return self.proj(self.inner_attn_ln(o.permute(0, 2, 1, 3).reshape(B, N, D)))


class SwiGLU(nn.Module):
    def __init__(self, width, hidden):
        super().__init__()
        self.w1 = nn.Linear(width, hidden)
        self.w2 = nn.Linear(width, hidden)
        self.ffn_ln = nn.LayerNorm(hidden, eps=LN_EPS_VISION)
        self.w3 = nn.Linear(hidden, width)

    def forward(self, x):
        return self.w3(self.ffn_ln(F.silu(self.w1(x)) * self.w2(x)))


class Block(nn.Module):
    def __init__(self, width, heads, mlp):
        super().__init__()
        self.norm1 = nn.LayerNorm(width, eps=LN_EPS_VISION)
        self.attn = Attention(width, heads)
        self.norm2 = nn.LayerNorm(width, eps=LN_EPS_VISION)
        self.mlp = SwiGLU(width, mlp)

    def forward(self, x, cos, sin):
        h = x + self.attn(self.norm1(x), cos, sin)
        return h + self.mlp(self.norm2(h))


class PatchEmbed(nn.Module):
    def __init__(self, width, patch):
        super().__init__()
        self.proj = nn.Conv2d(3, width, kernel_size=patch, stride=patch)

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)  # [B, patches, width]


class EVA02Tower(nn.Module):
    def __init__(self, c):
        super().__init__()
        grid = c["image"] // c["patch"]
        w = c["width"]
        self.cls_token = nn.Parameter(torch.randn(1, 1, w) * 0.02)
        self.pos_embed = nn.Parameter(torch.randn(1, grid * grid + 1, w) * 0.02)
        self.patch_embed = PatchEmbed(w, c["patch"])
        self.blocks = nn.ModuleList([Block(w, c["heads"], c["mlp"]) for _ in range(c["layers"])])
        self.norm = nn.LayerNorm(w, eps=LN_EPS_VISION)
        self.head = nn.Linear(w, c["embed"])
        cos, sin = eva_rope_tables(w // c["heads"], grid, grid)
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)

    def forward(self, pixels):
        p = self.patch_embed(pixels)
        x = torch.cat([self.cls_token.expand(p.shape[0], -1, -1), p], dim=1) + self.pos_embed
        for b in self.blocks:
            x = b(x, self.rope_cos, self.rope_sin)
        return self.head(self.norm(x)[:, 0])


class AdaptorBlock(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.ln = nn.LayerNorm(d, eps=LN_EPS_TEXT)
        self.fn = nn.Sequential(nn.Linear(d, 2 * d), nn.GELU(), nn.Dropout(0.0), nn.Linear(2 * d, d))

    def forward(self, x):
        return x + self.fn(self.ln(x))


class TextSide(nn.Module):
    def __init__(self, d, embed):
        super().__init__()
        self.text_adaptor = nn.Sequential(*[AdaptorBlock(d) for _ in range(4)], nn.LayerNorm(d, eps=LN_EPS_TEXT),
                                          nn.Linear(d, embed))

    def forward(self, feats):
        return self.text_adaptor(F.normalize(feats, dim=-1))


class LLM2CLIP(nn.Module):
    def __init__(self, c, llm_dim):
        super().__init__()
        self.visual = EVA02Tower(c)
        self.text = TextSide(llm_dim, c["embed"])
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))

    def loss(self, pixels, feats):
        img = F.normalize(self.visual(pixels), dim=-1)
        txt = F.normalize(self.text(feats), dim=-1)
        logits = self.logit_scale.exp() * img @ txt.t()
        labels = torch.arange(logits.shape[0])
        return 0.5 * (F.cross_entropy(logits, labels) + F.cross_entropy(logits.t(), labels))


def decays(name, p):
    return p.dim() >= 2 and not name.endswith("pos_embed") and not name.endswith("cls_token")


def make_optimizer(model):
    named = list(model.named_parameters())
    groups = [{"params": [p for n, p in named if decays(n, p)], "weight_decay": 0.05},
              {"params": [p for n, p in named if not decays(n, p)], "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=1e-5, betas=(0.9, 0.999), eps=1e-8)


def train_step(model, opt, pixels, feats, per_param=None):
    loss = model.loss(pixels, feats)
    loss.backward()
    if per_param is not None:
        for n, p in model.named_parameters():
            if p.grad is not None:
                per_param[n] = float(p.grad.double().norm())
    norm = torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
    opt.step()
    with torch.no_grad():
        model.logit_scale.clamp_(0.0, MAX_LOGIT_SCALE)
    opt.zero_grad(set_to_none=True)
    return float(loss.detach()), float(norm)


def gflop(c, batch, llm_dim):
    T, B, D, Fh = (c["image"] // c["patch"]) ** 2 + 1, batch, c["width"], c["mlp"]
    grid2 = (c["image"] // c["patch"]) ** 2
    per_block = 4 * D * D + 3 * D * Fh
    tower = (2 * B * T * c["layers"] * per_block + 4 * B * c["layers"] * T * T * D
             + 2 * B * grid2 * D * 3 * c["patch"] ** 2 + 2 * B * D * c["embed"])
    L = llm_dim
    adapter = 2 * B * (16 * L * L + L * c["embed"])
    logits = 2 * B * B * c["embed"]
    return 3 * (tower + adapter + logits) / 1e9


def check(args):
    from safetensors.torch import load_file

    tmp = None
    path = args.from_path
    if path is None:
        tmp = tempfile.TemporaryDirectory()
        path = os.path.join(tmp.name, "model.safetensors")
        binary = args.binary if os.path.isabs(args.binary) else os.path.join(REPO, args.binary)
        cmd = [binary, "bench", "train-clip", "--threads", str(args.threads), "--tower", args.tower,
               "--batch", str(args.batch), "--save-weights", path]
        print("# " + " ".join(cmd), flush=True)
        subprocess.run(cmd, check=True, cwd=REPO)
    with open(path + ".json") as f:
        ref = json.load(f)
    state = load_file(path)
    inputs = load_file(path + ".inputs.safetensors")
    model = LLM2CLIP(TOWERS[args.tower], inputs["features"].shape[1])
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise SystemExit(f"state dict mismatch: missing {missing}, unexpected {unexpected}")
    model.train()
    opt = make_optimizer(model)
    per_param, losses, norms = {}, [], []
    for i in range(len(ref["losses"])):
        loss, norm = train_step(model, opt, inputs["pixels"], inputs["features"], per_param if i == 0 else None)
        losses.append(loss)
        norms.append(norm)

    def rel(a, b):
        return abs(a - b) / max(abs(b), 1e-12)

    worst = 0.0
    for i, (a, b) in enumerate(zip(ref["losses"], losses)):
        print(f"step {i + 1}: loss ours {a:.7f} torch {b:.7f} (rel {rel(a, b):.1e}); "
              f"grad norm ours {ref['grad_norms'][i]:.6f} torch {norms[i]:.6f} (rel {rel(ref['grad_norms'][i], norms[i]):.1e})")
        worst = max(worst, rel(a, b), rel(ref["grad_norms"][i], norms[i]))
    pworst, pname = 0.0, None
    for n, g in ref["param_grad_norms"].items():
        if n not in per_param:
            raise SystemExit(f"no torch gradient for {n}")
        r = abs(g - per_param[n]) / max(abs(per_param[n]), 1e-6 * norms[0])
        if r > pworst:
            pworst, pname = r, n
    print(f"per-parameter gradient norms ({len(per_param)} tensors): worst rel diff {pworst:.1e} ({pname})")
    ls = float(model.logit_scale.detach())
    print(f"logit scale after 3 steps: ours {ref['logit_scale_after']:.7f} torch {ls:.7f}")
    ok = worst < 1e-3 and pworst < 1e-3 and abs(ls - ref["logit_scale_after"]) < 1e-6
    print("check: " + ("PASS" if ok else "FAIL"))
    return 0 if ok else 1


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--tower", choices=sorted(TOWERS), default="small")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--check", action="store_true", help="compare one batch's losses and gradients with the Swift model")
    ap.add_argument("--from", dest="from_path", help="--check: an existing --save-weights PATH instead of running the binary")
    ap.add_argument("--binary", default=".build/release/llm2clip")
    args = ap.parse_args(argv)

    torch.set_num_threads(args.threads)
    if args.check:
        return check(args)

    c = TOWERS[args.tower]
    B = args.batch
    torch.manual_seed(0)
    model = LLM2CLIP(c, LLM_DIM).train()
    opt = make_optimizer(model)
    g = torch.Generator().manual_seed(1)
    pixels = torch.randn(B, 3, c["image"], c["image"], generator=g)
    feats = torch.randn(B, LLM_DIM, generator=g)
    gf = gflop(c, B, LLM_DIM)

    times, losses = [], []
    for i in range(args.warmup + args.reps):
        t0 = time.perf_counter()
        loss, _ = train_step(model, opt, pixels, feats)
        t1 = time.perf_counter()
        losses.append(loss)
        if i >= args.warmup:
            times.append((t1 - t0) * 1e3)
    ms = statistics.median(times)
    name = f"eva02-{args.tower}-clip-train-step-{B}"
    rows = [{"name": name, "ms": ms, "gflop": gf, "images": B}]
    if args.json:
        print(json.dumps({"suite": "train-clip", "impl": "pytorch", "threads": args.threads, "rows": rows}))
    else:
        print(f"{name:<36} {ms:10.1f} ms  {B / (ms / 1e3):7.1f} images/s  {gf / (ms / 1e3):7.1f} GFLOP/s", flush=True)
        print(f"# torch {torch.__version__}, threads={args.threads}, warmup={args.warmup}, reps={args.reps} (median); "
              f"losses {[round(x, 4) for x in losses]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
