#!/usr/bin/env python3
"""Seeded golden-file generator for the Swift tensor engine tests.

Run from the repository root:

    python3 scripts/make_goldens.py

Targets PyTorch 2.13.0 (CPU) and numpy. Writes safetensors files (all tensors
F32, little-endian) into Tests/Goldens/engine/ using a small built-in writer
(the `safetensors` package is not needed).

Conventions
-----------
* All inputs are drawn in float32 from a seeded generator. References are
  computed in float64 from those float32 values and then cast to float32,
  except where noted (optimizers run in float32 exactly as torch does; RoPE
  inverse frequencies / angles follow HF transformers' float32 arithmetic).
* "r" tensors are random cotangents: the loss is sum(out * r) and "grad.*"
  tensors are d loss / d input.
* Integer-valued things (targets, positions, masks) are stored as F32.
"""

import json
import math
import os
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F

TORCH_TARGET = "2.13.0"
OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Goldens", "engine")
F32_MIN = float(torch.finfo(torch.float32).min)


# --------------------------------------------------------------------------
# Minimal safetensors writer / reader
# --------------------------------------------------------------------------

def write_safetensors(path, tensors, metadata=None):
    """tensors: dict name -> torch.Tensor (any float dtype); stored as F32."""
    header = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    blobs = []
    offset = 0
    for name, t in tensors.items():
        arr = np.ascontiguousarray(t.detach().to(torch.float32).cpu().numpy(), dtype="<f4")
        raw = arr.tobytes(order="C")
        header[name] = {"dtype": "F32", "shape": list(arr.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    hbytes = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hbytes += b" " * ((8 - len(hbytes) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hbytes)))
        f.write(hbytes)
        for b in blobs:
            f.write(b)


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n].decode("utf-8"))
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        out[name] = np.frombuffer(data[base + b:base + e], dtype="<f4").reshape(info["shape"])
    return out, header.get("__metadata__", {})


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------

def randn(*shape, gen):
    return torch.randn(*shape, generator=gen, dtype=torch.float32)


def d(t):
    """float32 leaf -> float64 leaf requiring grad."""
    return t.detach().to(torch.float64).requires_grad_(True)


def f32(t):
    return t.detach().to(torch.float32)


def seeded(seed):
    torch.manual_seed(seed)
    np.random.seed(seed)
    g = torch.Generator().manual_seed(seed)
    return g


# --------------------------------------------------------------------------
# a) transformer block
# --------------------------------------------------------------------------

def make_transformer_block():
    g = seeded(0)
    B, T, D, H, FFN = 2, 7, 32, 4, 64
    hd = D // H
    eps = 1e-5
    x = randn(B, T, D, gen=g)
    mask = torch.ones(B, T)
    mask[1, T - 2:] = 0.0
    r = randn(B, T, D, gen=g)

    shapes = [
        ("ln1.weight", (D,), "lnw"), ("ln1.bias", (D,), "lnb"),
        ("attn.q_proj.weight", (D, D), "w"), ("attn.q_proj.bias", (D,), "b"),
        ("attn.k_proj.weight", (D, D), "w"), ("attn.k_proj.bias", (D,), "b"),
        ("attn.v_proj.weight", (D, D), "w"), ("attn.v_proj.bias", (D,), "b"),
        ("attn.o_proj.weight", (D, D), "w"), ("attn.o_proj.bias", (D,), "b"),
        ("ln2.weight", (D,), "lnw"), ("ln2.bias", (D,), "lnb"),
        ("mlp.fc1.weight", (FFN, D), "w"), ("mlp.fc1.bias", (FFN,), "b"),
        ("mlp.fc2.weight", (D, FFN), "w"), ("mlp.fc2.bias", (D,), "b"),
    ]
    params = {}
    for name, shp, kind in shapes:
        z = randn(*shp, gen=g)
        if kind == "w":
            params[name] = z * 0.2
        elif kind == "b":
            params[name] = z * 0.1
        elif kind == "lnw":
            params[name] = 1.0 + 0.1 * z
        else:
            params[name] = 0.1 * z

    xd = d(x)
    pd = {k: d(v) for k, v in params.items()}
    add_mask = (1.0 - mask.to(torch.float64)) * F32_MIN  # [B,T]: 0 keep, finfo.min pad
    add_mask = add_mask[:, None, None, :]  # broadcast over heads and queries

    def lin(t, name):
        return F.linear(t, pd[name + ".weight"], pd[name + ".bias"])

    a = F.layer_norm(xd, (D,), pd["ln1.weight"], pd["ln1.bias"], eps)
    q = lin(a, "attn.q_proj").view(B, T, H, hd).transpose(1, 2)
    k = lin(a, "attn.k_proj").view(B, T, H, hd).transpose(1, 2)
    v = lin(a, "attn.v_proj").view(B, T, H, hd).transpose(1, 2)
    s = q @ k.transpose(-1, -2) / math.sqrt(hd) + add_mask
    p = torch.softmax(s, dim=-1)
    o = (p @ v).transpose(1, 2).reshape(B, T, D)
    h = xd + lin(o, "attn.o_proj")
    m = F.layer_norm(h, (D,), pd["ln2.weight"], pd["ln2.bias"], eps)
    out = h + lin(F.gelu(lin(m, "mlp.fc1")), "mlp.fc2")
    (out * r.to(torch.float64)).sum().backward()

    t = {"x": x, "mask": mask, "r": r}
    t.update(params)
    t["out"] = f32(out)
    t["grad.x"] = f32(xd.grad)
    for name in params:
        t["grad." + name] = f32(pd[name].grad)
    meta = {"B": B, "T": T, "D": D, "H": H, "head_dim": hd, "ffn": FFN, "ln_eps": eps,
            "mask_value": "torch.finfo(float32).min", "gelu": "erf", "loss": "sum(out*r)"}
    return t, meta


# --------------------------------------------------------------------------
# b) optimizers
# --------------------------------------------------------------------------

def make_optim():
    g = seeded(1)
    p0 = randn(5, 7, gen=g)
    grads = [randn(5, 7, gen=g) for _ in range(3)]
    t = {"p0": p0.clone()}
    for i, gr in enumerate(grads):
        t[f"g{i + 1}"] = gr.clone()

    lr, betas, eps, wd = 1e-2, (0.9, 0.999), 1e-8, 0.1
    p = torch.nn.Parameter(p0.clone())
    opt = torch.optim.AdamW([p], lr=lr, betas=betas, eps=eps, weight_decay=wd, amsgrad=False, foreach=False)
    for i, gr in enumerate(grads):
        p.grad = gr.clone()
        opt.step()
        t[f"p{i + 1}"] = p.detach().clone()

    s_lr, s_mom, s_wd = 0.1, 0.9, 0.01
    sp0 = randn(5, 7, gen=g)
    t["sgd.p0"] = sp0.clone()
    sp = torch.nn.Parameter(sp0.clone())
    sopt = torch.optim.SGD([sp], lr=s_lr, momentum=s_mom, dampening=0.0, weight_decay=s_wd, nesterov=False, foreach=False)
    for i, gr in enumerate(grads):
        sp.grad = gr.clone()
        sopt.step()
        t[f"sgd.p{i + 1}"] = sp.detach().clone()

    meta = {
        "adamw.lr": lr, "adamw.beta1": betas[0], "adamw.beta2": betas[1], "adamw.eps": eps,
        "adamw.weight_decay": wd, "adamw.amsgrad": "false",
        "sgd.lr": s_lr, "sgd.momentum": s_mom, "sgd.dampening": 0.0, "sgd.weight_decay": s_wd,
        "sgd.nesterov": "false", "grads": "g1,g2,g3 shared by adamw and sgd",
        "precision": "float32 (torch.optim, foreach=False)",
    }
    return t, meta


# --------------------------------------------------------------------------
# c) single ops
# --------------------------------------------------------------------------

def llama3_inv_freq(head_dim, theta, factor, low_ff, high_ff, old_ctx):
    """Mirrors transformers' _compute_default_rope_parameters + _compute_llama3_parameters (float32)."""
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.int64).to(dtype=torch.float) / head_dim))
    low_freq_wavelen = old_ctx / low_ff
    high_freq_wavelen = old_ctx / high_ff
    wavelen = 2 * math.pi / inv_freq
    inv_freq_llama = torch.where(wavelen > low_freq_wavelen, inv_freq / factor, inv_freq)
    smooth_factor = (old_ctx / wavelen - low_ff) / (high_ff - low_ff)
    smoothed = (1 - smooth_factor) * inv_freq_llama / factor + smooth_factor * inv_freq_llama
    is_medium = ~(wavelen < high_freq_wavelen) * ~(wavelen > low_freq_wavelen)
    return torch.where(is_medium, smoothed, inv_freq_llama)


def default_inv_freq(head_dim, theta):
    return 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.int64).to(dtype=torch.float) / head_dim))


def rope_rotate_half(x, cos, sin):
    half = x.shape[-1] // 2
    rot = torch.cat((-x[..., half:], x[..., :half]), dim=-1)
    return x * cos + rot * sin


def rope_case(t, prefix, x, positions, inv_freq, gen):
    """x [B,H,T,D] float32; positions [T]; inv_freq float32 [D/2]."""
    # Angles as HF computes them: float32 inv_freq * float32 position (single rounding).
    ang = positions.to(torch.float32)[:, None] * inv_freq[None, :]  # [T, D/2] float32
    emb = torch.cat((ang, ang), dim=-1).to(torch.float64)
    cos, sin = emb.cos(), emb.sin()
    r = randn(*x.shape, gen=gen)
    xd = d(x)
    out = rope_rotate_half(xd, cos, sin)
    (out * r.to(torch.float64)).sum().backward()
    t[prefix + ".x"] = x
    t[prefix + ".positions"] = positions.to(torch.float32)
    t[prefix + ".inv_freq"] = inv_freq
    t[prefix + ".r"] = r
    t[prefix + ".out"] = f32(out)
    t[prefix + ".grad.x"] = f32(xd.grad)


def eva_rope_case(t, prefix, x, grid, pt_seq_len, gen, head_dim=16, theta=10000.0):
    dim = head_dim // 2
    freqs = 1.0 / (theta ** (torch.arange(0, dim, 2, dtype=torch.float64)[: dim // 2] / dim))  # [dim/2]
    tt = torch.arange(grid, dtype=torch.float64) / grid * pt_seq_len
    f = torch.outer(tt, freqs).repeat_interleave(2, dim=-1)  # [grid, dim] -> [f0,f0,f1,f1,...]
    full = torch.cat((f[:, None, :].expand(grid, grid, dim), f[None, :, :].expand(grid, grid, dim)), dim=-1)
    full = full.reshape(grid * grid, head_dim)
    cos, sin = full.cos(), full.sin()

    def rot(v):
        v2 = v.reshape(*v.shape[:-1], -1, 2)
        x1, x2 = v2.unbind(-1)
        return torch.stack((-x2, x1), dim=-1).reshape(v.shape)

    r = randn(*x.shape, gen=gen)
    xd = d(x)
    out = xd * cos + rot(xd) * sin
    (out * r.to(torch.float64)).sum().backward()
    t[prefix + ".x"] = x
    t[prefix + ".r"] = r
    t[prefix + ".out"] = f32(out)
    t[prefix + ".grad.x"] = f32(xd.grad)


def attention_ref(q, k, v, add_mask):
    rep = q.shape[1] // k.shape[1]
    kk = k.repeat_interleave(rep, dim=1)
    vv = v.repeat_interleave(rep, dim=1)
    s = q @ kk.transpose(-1, -2) / math.sqrt(q.shape[-1])
    if add_mask is not None:
        s = s + add_mask
    return torch.softmax(s, dim=-1) @ vv


def make_ops():
    g = seeded(2)
    t = {}
    meta = {}

    # activations
    acts = {
        "gelu_erf": lambda v: F.gelu(v),
        "gelu_tanh": lambda v: F.gelu(v, approximate="tanh"),
        "quick_gelu": lambda v: v * torch.sigmoid(1.702 * v),
        "silu": lambda v: F.silu(v),
    }
    for name, fn in acts.items():
        x = randn(3, 37, gen=g) * 2.0
        r = randn(3, 37, gen=g)
        xd = d(x)
        out = fn(xd)
        (out * r.double()).sum().backward()
        t.update({f"{name}.x": x, f"{name}.r": r, f"{name}.out": f32(out), f"{name}.grad": f32(xd.grad)})

    # layer norm
    x = randn(4, 33, gen=g) * 1.5 + 0.3
    w = 1.0 + 0.1 * randn(33, gen=g)
    b = 0.1 * randn(33, gen=g)
    r = randn(4, 33, gen=g)
    xd, wd, bd = d(x), d(w), d(b)
    out = F.layer_norm(xd, (33,), wd, bd, 1e-5)
    (out * r.double()).sum().backward()
    t.update({"layer_norm.x": x, "layer_norm.weight": w, "layer_norm.bias": b, "layer_norm.r": r,
              "layer_norm.out": f32(out), "layer_norm.grad.x": f32(xd.grad),
              "layer_norm.grad.weight": f32(wd.grad), "layer_norm.grad.bias": f32(bd.grad)})
    meta["layer_norm.eps"] = 1e-5

    # rms norm (Llama)
    x = randn(4, 33, gen=g)
    w = 1.0 + 0.1 * randn(33, gen=g)
    r = randn(4, 33, gen=g)
    xd, wd = d(x), d(w)
    out = xd * torch.rsqrt(xd.pow(2).mean(-1, keepdim=True) + 1e-5) * wd
    (out * r.double()).sum().backward()
    t.update({"rms_norm.x": x, "rms_norm.weight": w, "rms_norm.r": r, "rms_norm.out": f32(out),
              "rms_norm.grad.x": f32(xd.grad), "rms_norm.grad.weight": f32(wd.grad)})
    meta["rms_norm.eps"] = 1e-5

    # softmax with broadcast additive mask [3,1,9]
    x = randn(3, 4, 9, gen=g) * 2.0
    mask = torch.zeros(3, 1, 9)
    mask[0, 0, 8] = F32_MIN
    mask[1, 0, 0] = F32_MIN
    mask[1, 0, 5] = F32_MIN
    mask[2, 0, 6:] = F32_MIN
    r = randn(3, 4, 9, gen=g)
    xd = d(x)
    out = torch.softmax(xd + mask.double(), dim=-1)
    (out * r.double()).sum().backward()
    t.update({"softmax.x": x, "softmax.mask": mask, "softmax.r": r, "softmax.out": f32(out),
              "softmax.grad.x": f32(xd.grad)})
    meta["softmax.mask"] = "additive, broadcast [3,1,9] over axis 1, masked = finfo(float32).min"

    # log softmax
    x = randn(5, 11, gen=g) * 2.0
    r = randn(5, 11, gen=g)
    xd = d(x)
    out = torch.log_softmax(xd, dim=-1)
    (out * r.double()).sum().backward()
    t.update({"log_softmax.x": x, "log_softmax.r": r, "log_softmax.out": f32(out),
              "log_softmax.grad.x": f32(xd.grad)})

    # cross entropy
    logits = randn(6, 10, gen=g) * 2.0
    targets = torch.tensor([3, 0, 9, -100, 5, 3], dtype=torch.int64)
    ld = d(logits)
    loss = F.cross_entropy(ld, targets, ignore_index=-100, label_smoothing=0.1, reduction="mean")
    loss.backward()
    t.update({"cross_entropy.logits": logits, "cross_entropy.targets": targets.to(torch.float32),
              "cross_entropy.loss": f32(loss).reshape(1), "cross_entropy.grad.logits": f32(ld.grad)})
    meta["cross_entropy"] = "ignore_index=-100, label_smoothing=0.1, reduction=mean (over non-ignored)"

    # RoPE llama3
    inv = llama3_inv_freq(64, 500000.0, 32.0, 1.0, 4.0, 8192)
    rope_case(t, "rope_llama3", randn(1, 2, 5, 64, gen=g), torch.tensor([0, 1, 2, 100, 5000]), inv, g)
    meta["rope_llama3"] = ("head_dim=64 theta=500000 factor=32 low_freq_factor=1 high_freq_factor=4 "
                           "original_max_position_embeddings=8192; inv_freq float32 as HF; "
                           "angle = float32(pos)*inv_freq in float32, cos/sin in float64")
    # RoPE plain
    inv = default_inv_freq(16, 10000.0)
    rope_case(t, "rope_plain", randn(1, 2, 6, 16, gen=g), torch.arange(6), inv, g)
    meta["rope_plain"] = "head_dim=16 theta=10000 no scaling"

    # EVA02 2-D RoPE
    eva_rope_case(t, "rope_eva", randn(1, 2, 16, 16, gen=g), grid=4, pt_seq_len=16, gen=g)
    eva_rope_case(t, "rope_eva336", randn(1, 1, 36, 16, gen=g), grid=6, pt_seq_len=16, gen=g)
    meta["rope_eva"] = ("EVA02 interleaved 2-D RoPE, head_dim=16, theta=10000, pt_seq_len=16, "
                        "grid 4x4 (rope_eva) / 6x6 (rope_eva336), t=i/grid*pt_seq_len, "
                        "freqs[h*grid+w]=cat(f[h],f[w]) with f repeat_interleave(2)")

    # attention (GQA: 4 query heads, 2 kv heads)
    for case in ("none", "causal", "padding"):
        pre = f"attn_{case}"
        q = randn(2, 4, 6, 8, gen=g)
        k = randn(2, 2, 6, 8, gen=g)
        v = randn(2, 2, 6, 8, gen=g)
        r = randn(2, 4, 6, 8, gen=g)
        add = None
        if case == "causal":
            add = torch.zeros(6, 6, dtype=torch.float64)
            add[torch.triu(torch.ones(6, 6, dtype=torch.bool), diagonal=1)] = F32_MIN
        elif case == "padding":
            pm = torch.ones(2, 6)
            pm[1, 4:] = 0.0
            t[pre + ".mask"] = pm
            add = ((1.0 - pm.double()) * F32_MIN)[:, None, None, :]
        qd, kd, vd = d(q), d(k), d(v)
        out = attention_ref(qd, kd, vd, add)
        (out * r.double()).sum().backward()
        t.update({pre + ".q": q, pre + ".k": k, pre + ".v": v, pre + ".r": r, pre + ".out": f32(out),
                  pre + ".grad.q": f32(qd.grad), pre + ".grad.k": f32(kd.grad), pre + ".grad.v": f32(vd.grad)})
    meta["attention"] = ("scale=1/sqrt(8); GQA kv head j serves query heads 2j,2j+1 (repeat_interleave dim=1); "
                         "causal: key j>i masked; padding mask [2,6] 1 keep 0 pad")

    # patch embed
    x = randn(2, 3, 8, 12, gen=g)
    w = randn(8, 3, 4, 4, gen=g) * 0.2
    b = randn(8, gen=g) * 0.1
    r = randn(2, 8, 2, 3, gen=g)
    xd, wd, bd = d(x), d(w), d(b)
    out = F.conv2d(xd, wd, bd, stride=4)
    (out * r.double()).sum().backward()
    t.update({"patch_embed.x": x, "patch_embed.weight": w, "patch_embed.bias": b, "patch_embed.r": r,
              "patch_embed.out": f32(out), "patch_embed.grad.x": f32(xd.grad),
              "patch_embed.grad.weight": f32(wd.grad), "patch_embed.grad.bias": f32(bd.grad)})
    meta["patch_embed"] = "Conv2d(3,8,kernel=4,stride=4,bias=True)"
    return t, meta


# --------------------------------------------------------------------------

def main():
    if not torch.__version__.startswith(TORCH_TARGET):
        print(f"warning: targeting torch {TORCH_TARGET}, running {torch.__version__}", file=sys.stderr)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    os.makedirs(OUT_DIR, exist_ok=True)
    jobs = [
        ("transformer_block.safetensors", make_transformer_block),
        ("adamw.safetensors", make_optim),
        ("ops.safetensors", make_ops),
    ]
    for fname, fn in jobs:
        tensors, meta = fn()
        meta = dict(meta)
        meta["generator"] = "scripts/make_goldens.py"
        meta["torch"] = torch.__version__
        path = os.path.normpath(os.path.join(OUT_DIR, fname))
        write_safetensors(path, tensors, meta)
        back, _ = read_safetensors(path)
        assert list(back.keys()) == list(tensors.keys())
        for k, v in tensors.items():
            assert np.array_equal(back[k], v.detach().to(torch.float32).numpy()), k
            assert np.isfinite(back[k]).all(), k
        size = os.path.getsize(path)
        assert size < 200 * 1024, (fname, size)
        print(f"wrote {path}: {len(tensors)} tensors, {size} bytes")


if __name__ == "__main__":
    main()
