#!/usr/bin/env python3
"""Seeded golden-file generator for the vision side (HF CLIP towers, EVA02 tower, LLM2CLIP adapter).

Run from the repository root, after `source scripts/python-env.sh`:

    python3 scripts/make_goldens_vision.py                  # everything
    python3 scripts/make_goldens_vision.py --only eva       # parts: clip, eva, convert

Targets torch 2.13.0 (CPU), transformers 5.24.0, safetensors 0.8.0. Deterministic (fixed seeds,
one CPU thread) and idempotent (outputs are recreated). Everything is float32. Writes into
Tests/Goldens/vision/:

  clip-quick_gelu/, clip-gelu/      random Hugging Face CLIPModel folders (config.json,
                                    model.safetensors, preprocessor_config.json). Same seed and
                                    weights for both; only `hidden_act` differs (both towers).
                                    vision: image 32, patch 8 (4x4 grid + CLS = 17 tokens), hidden 48,
                                    2 layers, 4 heads, MLP 96; text: vocab 100, hidden 40, 2 layers,
                                    4 heads, MLP 80, 16 positions; projection 24; LN eps 1e-5.
  clip-<act>_outputs.safetensors    pixel_values [2,3,32,32], vision_last_hidden [2,17,48] (encoder
                                    output, no post-LN), vision_pooled [2,48] (post_layernorm of CLS),
                                    image_embeds [2,24] (visual_projection, not normalised),
                                    input_ids [2,16] (as float), attention_mask [2,16],
                                    text_last_hidden [2,16,40] (after final_layer_norm, every position),
                                    text_pooled [2,40], text_embeds [2,24] (not normalised),
                                    logit_scale [] (raw, i.e. ln of the scale), logits_per_image [2,2].

  Text pooling in transformers 5.24 (CLIPTextTransformer): if config.eos_token_id == 2 (the legacy
  value of the original OpenAI configs, used here) the pooled token is at `input_ids.argmax(-1)`,
  i.e. the FIRST position of the largest id (CLIP's EOT is the largest id of the vocabulary);
  otherwise it is the first position where input_ids == eos_token_id. Here BOS = 98, EOS = 99,
  ordinary tokens 3..97. Row 0 fills all 16 positions (EOS last); row 1 has 9 real tokens and is
  padded with id 99 (= EOS, as the OpenAI HF tokenizer pads with <|endoftext|>), attention_mask 0 on
  the padding: argmax must pick the first 99. The text attention is causal AND key-padding masked:
  query i attends keys j <= i with mask[j] == 1 (padded query rows still see the real keys, so the
  hidden states at padded positions are well defined and included in text_last_hidden).

  eva02-tiny.safetensors            a whole tiny LLM2CLIP model in the original key layout:
                                    visual.* (EVA02 tower) + text.text_adaptor.* + logit_scale.
  eva02-tiny-evanames.safetensors   identical, but with the original EVA02 bias names
                                    visual.blocks.{i}.attn.q_bias / v_bias (instead of
                                    q_proj.bias / v_proj.bias).
  eva02-tiny.json                   the configuration (see eva_config()).
  eva02-tiny_outputs.safetensors    pixel_values [2,3,56,56], embed_tokens [2,17,64] (CLS + patches
                                    + pos_embed, before block 0), block0_out [2,17,64],
                                    tokens_final [2,17,64] (after the final norm), image_embeds [2,24]
                                    (head(norm(x)[:, 0]), not normalised), rope_cos / rope_sin [16,16]
                                    (rows = patch index r*4+c, columns = head dim);
                                    pixel_values_84 [1,3,84,84], pos_embed_84 [1,37,64],
                                    rope_cos_84 / rope_sin_84 [36,16], tokens_final_84 [1,37,64],
                                    image_embeds_84 [1,24];
                                    llm_features [3,32], adapter_out [3,24] (input l2norm on),
                                    adapter_out_no_l2 [3,24] (input l2norm off), logit_scale [],
                                    logits_per_image [2,3] = exp(logit_scale) * n(image_embeds) @
                                    n(adapter_out)^T.

The EVA02 tower follows LLM2CLIP's eva_clip/eva_vit_model.py + rope.py (subln=True, naiveswiglu=True,
xattn off, rope=True, intp_freq=True, use_mean_pooling=False), re-implemented here:

  patch_embed: Conv2d(3, W, 14, stride 14, bias) -> [B, N, W] (row-major patches); prepend
    cls_token; add pos_embed (CLS at row 0). No LN before the blocks.
  Block (pre-LN): x = x + attn(norm1(x)); x = x + mlp(norm2(x)).
  Attention: q = q_proj(x) (bias), k = k_proj(x) (NO bias), v = v_proj(x) (bias); split heads
    (head_dim = W / heads); RoPE on q and k of the patch tokens only (token 0 = CLS untouched);
    softmax((q * head_dim^-0.5) k^T) v; merge heads; inner_attn_ln (LN over W); proj (bias).
  SwiGLU: w3(ffn_ln(silu(w1(x)) * w2(x))): w1 is the gated branch (SiLU), w2 the linear branch,
    ffn_ln is an LN over the hidden size, w3 the down projection. All with bias.
  Final: norm (LN) on every token; image embedding = head(norm(x)[:, 0]) (Linear W -> embed, bias).
  Every vision LN has eps 1e-6 (norm1, norm2, inner_attn_ln, ffn_ln, norm).
  RoPE (VisionRotaryEmbeddingFast(dim = head_dim/2, pt_seq_len = pt_hw_seq_len,
    ft_seq_len = image/patch)): inv = 1/10000^(arange(0, dim, 2)/dim) (dim/2 frequencies);
    t = arange(ft)/ft * pt (float32, in that order); f = t[:, None] * inv -> each frequency
    repeated twice, interleaved (f0 f0 f1 f1 ...); angle[r, c] = concat(f[r], f[c]) (first half of
    the head dim = row/height, second half = column/width); flattened to [ft*ft, head_dim]; cos and
    sin in float32. Applied as x*cos + rotate_half(x)*sin with interleaved pairs:
    (x0, x1) -> (x0 cos - x1 sin, x1 cos + x0 sin).
  Another resolution (84 px here, 336 px in LLM2CLIP): the model is built at the new size, so the
    RoPE table is rebuilt with ft = 6 and the same pt = 4 (t = i * 4/6), and the checkpoint's
    pos_embed is resized on load (resize_evaclip_pos_embed): CLS row kept, the 4x4 patch rows
    reshaped to [1, W, 4, 4] and F.interpolate(size=(6, 6), mode="bicubic", align_corners=False)
    (cubic convolution with A = -0.75, source coordinate (i + 0.5) * in/out - 0.5, border indices
    clamped, no antialias), then flattened row-major again.
  Text adapter (TextProj): x = l2norm(e) (switchable); 4 x LinearBlock: x = x + fn(ln(x)) with
    fn = Sequential(Linear d->2d [fn.0], GELU exact erf [fn.1], Dropout(0) [fn.2], Linear 2d->d
    [fn.3]); then LayerNorm [text_adaptor.4]; then Linear d -> embed [text_adaptor.5]. All adapter
    LNs have eps 1e-5.

The tower is also checked against an independent float64 re-implementation (complex-number RoPE,
hand-written bicubic) and the HF CLIP outputs against a float64 re-implementation of CLIP.

The `convert` part tests scripts/convert_llm2clip_checkpoint.py: the tiny model is saved as a
torch .pt (nested under "state_dict", "module." prefixes, RoPE buffers, an LLM tensor and an
"epoch" entry), converted, and compared tensor-for-tensor with eva02-tiny.safetensors. The .pt is
written to a temporary directory and removed.
"""

import argparse
import hashlib
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _hide_broken_torchvision():
    """A torchvision whose compiled ops do not match the installed torch (e.g. a CUDA wheel next to
    a CPU-only torch) makes every `import transformers` model class fail. Nothing here needs
    torchvision: if it cannot be imported cleanly, hide it so that transformers treats it as absent
    (importlib.util.find_spec returns None for a module set to None in sys.modules)."""
    import importlib.util
    if importlib.util.find_spec("torchvision") is None:
        return False
    ok = subprocess.run([sys.executable, "-c", "import torchvision"], stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL).returncode == 0
    if not ok:
        sys.modules["torchvision"] = None
    return not ok


TORCHVISION_HIDDEN = _hide_broken_torchvision()

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from safetensors import safe_open  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
OUT = os.path.join(ROOT, "Tests", "Goldens", "vision")
CONVERTER = os.path.join(ROOT, "scripts", "convert_llm2clip_checkpoint.py")

CLIP_BOS, CLIP_EOS = 98, 99


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
        json.dump(obj, f, indent=1)
        f.write("\n")


def maxdiff(a, b):
    return float((a.detach().to(torch.float64) - b.detach().to(torch.float64)).abs().max())


def maxabs(t):
    return float(t.detach().abs().max())


def ln64(x, w, b, eps):
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu) ** 2).mean(-1, keepdim=True)
    return (x - mu) / torch.sqrt(var + eps) * w + b


# --------------------------------------------------------------------------------------------
# a) Hugging Face CLIP, tiny, random
# --------------------------------------------------------------------------------------------

def clip_config(act):
    from transformers import CLIPConfig
    text = dict(vocab_size=100, hidden_size=40, num_hidden_layers=2, num_attention_heads=4,
                intermediate_size=80, max_position_embeddings=16, hidden_act=act, layer_norm_eps=1e-5,
                bos_token_id=0, eos_token_id=2, pad_token_id=1, projection_dim=24)
    vision = dict(image_size=32, patch_size=8, hidden_size=48, num_hidden_layers=2, num_attention_heads=4,
                  intermediate_size=96, hidden_act=act, layer_norm_eps=1e-5, num_channels=3, projection_dim=24)
    return CLIPConfig(text_config=text, vision_config=vision, projection_dim=24, logit_scale_init_value=2.6592,
                      attn_implementation="sdpa")


def init_clip(model, seed):
    """Non-trivial random init, in sorted-name order (independent of module construction order)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in sorted(model.named_parameters(), key=lambda kv: kv[0]):
            if name == "logit_scale":
                continue  # keep the config value (ln(1/0.07) rounded: 2.6592)
            if "norm" in name or "layrnorm" in name:  # layer_norm1/2, pre_layrnorm, post_layernorm, final_layer_norm
                base = 1.0 if name.endswith(".weight") else 0.0
                p.copy_(base + 0.1 * torch.randn(p.shape, generator=g))
            elif name.endswith(".bias"):
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
            elif name.endswith("class_embedding"):
                p.copy_(0.5 * torch.randn(p.shape, generator=g))
            elif "patch_embedding" in name:
                p.copy_(0.06 * torch.randn(p.shape, generator=g))
            elif "embedding" in name:  # token / position tables
                p.copy_(0.5 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(0.15 * torch.randn(p.shape, generator=g))


def clip_inputs():
    g = torch.Generator().manual_seed(2024)
    pixel = torch.randn(2, 3, 32, 32, generator=g)
    ids = torch.randint(3, 98, (2, 16), generator=g)
    ids[:, 0] = CLIP_BOS
    ids[0, 15] = CLIP_EOS
    n1 = 9  # row 1: BOS + 7 tokens + EOS, then padding
    ids[1, n1 - 1] = CLIP_EOS
    ids[1, n1:] = CLIP_EOS
    mask = torch.ones(2, 16, dtype=torch.long)
    mask[1, n1:] = 0
    return pixel, ids, mask


def ref_clip(sd, cfg, pixel, ids, mask):
    """Independent float64 forward of HF CLIP (both towers)."""
    sd = {k: v.detach().to(torch.float64) for k, v in sd.items()}
    vc, tc = cfg.vision_config, cfg.text_config

    def act(x, kind):
        if kind == "quick_gelu":
            return x * torch.sigmoid(1.702 * x)
        assert kind == "gelu"
        return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))

    def layer(x, p, heads, eps, kind, allowed=None):
        B, S, D = x.shape
        hd = D // heads
        h = ln64(x, sd[p + "layer_norm1.weight"], sd[p + "layer_norm1.bias"], eps)

        def lin(t, n):
            return t @ sd[p + n + ".weight"].T + sd[p + n + ".bias"]
        q = lin(h, "self_attn.q_proj").view(B, S, heads, hd).transpose(1, 2)
        k = lin(h, "self_attn.k_proj").view(B, S, heads, hd).transpose(1, 2)
        v = lin(h, "self_attn.v_proj").view(B, S, heads, hd).transpose(1, 2)
        s = (q @ k.transpose(-1, -2)) / math.sqrt(hd)
        if allowed is not None:
            s = s.masked_fill(~allowed, float("-inf"))
        o = (torch.softmax(s, -1) @ v).transpose(1, 2).reshape(B, S, D)
        x = x + lin(o, "self_attn.out_proj")
        h = ln64(x, sd[p + "layer_norm2.weight"], sd[p + "layer_norm2.bias"], eps)
        return x + lin(act(lin(h, "mlp.fc1"), kind), "mlp.fc2")

    # vision
    P = "vision_model."
    x = F.conv2d(pixel.to(torch.float64), sd[P + "embeddings.patch_embedding.weight"], stride=vc.patch_size)
    x = x.flatten(2).transpose(1, 2)
    B = x.shape[0]
    x = torch.cat([sd[P + "embeddings.class_embedding"].expand(B, 1, -1), x], 1)
    x = x + sd[P + "embeddings.position_embedding.weight"][None]
    x = ln64(x, sd[P + "pre_layrnorm.weight"], sd[P + "pre_layrnorm.bias"], vc.layer_norm_eps)
    for i in range(vc.num_hidden_layers):
        x = layer(x, f"{P}encoder.layers.{i}.", vc.num_attention_heads, vc.layer_norm_eps, vc.hidden_act)
    v_last = x
    v_pooled = ln64(x[:, 0], sd[P + "post_layernorm.weight"], sd[P + "post_layernorm.bias"], vc.layer_norm_eps)
    img = v_pooled @ sd["visual_projection.weight"].T

    # text
    P = "text_model."
    B, S = ids.shape
    x = sd[P + "embeddings.token_embedding.weight"][ids] + sd[P + "embeddings.position_embedding.weight"][:S][None]
    allowed = torch.ones(S, S, dtype=torch.bool).tril()[None, None] & mask.bool()[:, None, None, :]
    for i in range(tc.num_hidden_layers):
        x = layer(x, f"{P}encoder.layers.{i}.", tc.num_attention_heads, tc.layer_norm_eps, tc.hidden_act, allowed)
    t_last = ln64(x, sd[P + "final_layer_norm.weight"], sd[P + "final_layer_norm.bias"], tc.layer_norm_eps)
    pos = torch.tensor([int((row == row.max()).nonzero()[0]) for row in ids])  # first occurrence of the max id
    t_pooled = t_last[torch.arange(B), pos]
    txt = t_pooled @ sd["text_projection.weight"].T
    return dict(vision_last_hidden=v_last, vision_pooled=v_pooled, image_embeds=img,
                text_last_hidden=t_last, text_pooled=t_pooled, text_embeds=txt)


def image_processor_class():
    try:
        from transformers import CLIPImageProcessor
        CLIPImageProcessor()  # the torchvision backend may be unavailable
        return CLIPImageProcessor
    except Exception:
        from transformers import CLIPImageProcessorPil
        return CLIPImageProcessorPil


def clip_part():
    from transformers import CLIPModel

    results = {}
    for act in ("quick_gelu", "gelu"):
        cfg = clip_config(act)
        torch.manual_seed(77)
        model = CLIPModel(cfg).eval()
        init_clip(model, seed=77)
        d = os.path.join(OUT, f"clip-{act}")
        shutil.rmtree(d, ignore_errors=True)
        model.save_pretrained(d)
        proc_cls = image_processor_class()
        proc = proc_cls(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
        proc.save_pretrained(d)
        with open(os.path.join(d, "preprocessor_config.json")) as f:
            pj = json.load(f)
        assert pj["image_processor_type"] == "CLIPImageProcessor", pj
        assert pj["size"] == {"shortest_edge": 32} and pj["crop_size"] == {"height": 32, "width": 32}, pj
        files = sorted(os.listdir(d))
        assert files == ["config.json", "model.safetensors", "preprocessor_config.json"], files

        pixel, ids, mask = clip_inputs()
        with torch.no_grad():
            vo = model.vision_model(pixel_values=pixel)
            to = model.text_model(input_ids=ids, attention_mask=mask)
            img = model.visual_projection(vo.pooler_output)
            txt = model.text_projection(to.pooler_output)
            full = model(input_ids=ids, pixel_values=pixel, attention_mask=mask)
            img_f = model.get_image_features(pixel_values=pixel).pooler_output
            txt_f = model.get_text_features(input_ids=ids, attention_mask=mask).pooler_output
        assert maxdiff(img_f, img) == 0.0 and maxdiff(txt_f, txt) == 0.0
        n = F.normalize
        lpi = model.logit_scale.exp() * n(img, dim=-1) @ n(txt, dim=-1).T
        assert maxdiff(full.logits_per_image, lpi) < 1e-5

        # Pooling rule of transformers 5.24 with eos_token_id == 2: argmax of ids (first max).
        assert model.text_model.eos_token_id == 2
        want = torch.tensor([15, 8])
        assert torch.equal(ids.argmax(-1), want), ids.argmax(-1)
        assert maxdiff(to.pooler_output, to.last_hidden_state[torch.arange(2), want]) == 0.0

        ref = ref_clip(model.state_dict(), cfg, pixel, ids, mask)
        outs = dict(vision_last_hidden=vo.last_hidden_state, vision_pooled=vo.pooler_output, image_embeds=img,
                    text_last_hidden=to.last_hidden_state, text_pooled=to.pooler_output, text_embeds=txt)
        dref = max(maxdiff(outs[k], ref[k]) for k in outs)
        assert dref < 1e-4, {k: maxdiff(outs[k], ref[k]) for k in outs}

        # The saved folder reloads to identical outputs.
        re = CLIPModel.from_pretrained(d, dtype=torch.float32).eval()
        with torch.no_grad():
            assert maxdiff(re.vision_model(pixel_values=pixel).last_hidden_state, vo.last_hidden_state) == 0.0
            assert maxdiff(re.text_model(input_ids=ids, attention_mask=mask).last_hidden_state,
                           to.last_hidden_state) == 0.0
        assert re.config.vision_config.hidden_act == act and re.config.text_config.hidden_act == act

        tensors = dict(pixel_values=pixel, **{k: outs[k] for k in ("vision_last_hidden", "vision_pooled", "image_embeds")},
                       input_ids=ids.float(), attention_mask=mask.float(),
                       **{k: outs[k] for k in ("text_last_hidden", "text_pooled", "text_embeds")},
                       logit_scale=model.logit_scale.detach().clone(), logits_per_image=lpi)
        assert tuple(tensors["vision_last_hidden"].shape) == (2, 17, 48)
        save_tensors(os.path.join(OUT, f"clip-{act}_outputs.safetensors"), tensors)
        results[act] = tensors
        log(f"clip-{act}: vs float64 reference {dref:.2e}; |image_embeds| max {maxabs(img):.3f}, "
            f"|text_embeds| max {maxabs(txt):.3f}; pooled positions {want.tolist()}"
            + ("; preprocessor via CLIPImageProcessorPil (torchvision unusable)" if proc_cls.__name__.endswith("Pil") else ""))
    d_act = maxdiff(results["quick_gelu"]["image_embeds"], results["gelu"]["image_embeds"])
    d_act_t = maxdiff(results["quick_gelu"]["text_embeds"], results["gelu"]["text_embeds"])
    assert d_act > 1e-2 and d_act_t > 1e-2, (d_act, d_act_t)
    log(f"clip: quick_gelu vs gelu differ by {d_act:.3f} (image) / {d_act_t:.3f} (text)")


# --------------------------------------------------------------------------------------------
# b) Tiny EVA02 tower + LLM2CLIP text adapter (written from the reference notes)
# --------------------------------------------------------------------------------------------

def eva_config():
    width, heads = 64, 4
    return {
        "image_size": 56, "patch_size": 14, "width": width, "layers": 2, "heads": heads,
        "head_dim": width // heads, "mlp_ratio": 2.6667, "mlp_hidden": int(width * 2.6667),
        "pt_seq_len": 4, "intp_freq": True, "rope_theta": 10000.0,
        "embed_dim": 24, "llm_dim": 32, "adapter_blocks": 4, "adapter_expansion": 2,
        "vision_ln_eps": 1e-6, "adapter_ln_eps": 1e-5, "adapter_input_l2norm": True,
        "logit_scale": math.log(1 / 0.07),
        "q_bias": True, "k_bias": False, "v_bias": True,
        "rope_on": "q and k of patch tokens only (not CLS)", "pooling": "cls", "adapter_gelu": "erf",
        "extra_resolution": {"image_size": 84, "grid": 6, "pos_embed": "bicubic, align_corners=False, CLS kept",
                             "rope_ft_seq_len": 6, "rope_pt_seq_len": 4},
    }


def eva_rope_tables(head_dim, pt_seq_len, ft_seq_len, theta=10000.0):
    """cos, sin [ft*ft, head_dim] (float32), as EVA02's VisionRotaryEmbeddingFast builds them."""
    dim = head_dim // 2
    inv = 1.0 / (theta ** (torch.arange(0, dim, 2)[: dim // 2].float() / dim))
    t = torch.arange(ft_seq_len) / ft_seq_len * pt_seq_len
    f = (t[:, None] * inv[None, :]).repeat_interleave(2, dim=-1)  # [ft, dim]: f0 f0 f1 f1 ...
    ang = torch.cat([f[:, None, :].expand(ft_seq_len, ft_seq_len, dim),   # row (height) part
                     f[None, :, :].expand(ft_seq_len, ft_seq_len, dim)],  # column (width) part
                    dim=-1).reshape(ft_seq_len * ft_seq_len, head_dim)
    return ang.cos(), ang.sin()


def rotate_pairs(x):
    """Interleaved rotate_half: (x0, x1, x2, x3, ...) -> (-x1, x0, -x3, x2, ...)."""
    x = x.unflatten(-1, (-1, 2))
    return torch.stack((-x[..., 1], x[..., 0]), dim=-1).flatten(-2)


class EvaAttention(nn.Module):
    def __init__(self, width, heads, eps):
        super().__init__()
        self.heads = heads
        self.scale = (width // heads) ** -0.5
        self.q_proj = nn.Linear(width, width, bias=True)
        self.k_proj = nn.Linear(width, width, bias=False)
        self.v_proj = nn.Linear(width, width, bias=True)
        self.inner_attn_ln = nn.LayerNorm(width, eps=eps)
        self.proj = nn.Linear(width, width)

    def forward(self, x, cos, sin):
        B, N, C = x.shape

        def split(t):
            return t.view(B, N, self.heads, C // self.heads).transpose(1, 2)
        q, k, v = split(self.q_proj(x)), split(self.k_proj(x)), split(self.v_proj(x))

        def rope(t):  # patch tokens only; token 0 (CLS) untouched
            p = t[:, :, 1:]
            return torch.cat([t[:, :, :1], p * cos + rotate_pairs(p) * sin], dim=2)
        q, k = rope(q), rope(k)
        attn = torch.softmax((q * self.scale) @ k.transpose(-2, -1), dim=-1)
        o = (attn @ v).transpose(1, 2).reshape(B, N, C)
        return self.proj(self.inner_attn_ln(o))


class EvaSwiGLU(nn.Module):
    def __init__(self, width, hidden, eps):
        super().__init__()
        self.w1 = nn.Linear(width, hidden)
        self.w2 = nn.Linear(width, hidden)
        self.ffn_ln = nn.LayerNorm(hidden, eps=eps)
        self.w3 = nn.Linear(hidden, width)

    def forward(self, x):
        return self.w3(self.ffn_ln(F.silu(self.w1(x)) * self.w2(x)))


class EvaBlock(nn.Module):
    def __init__(self, width, heads, hidden, eps):
        super().__init__()
        self.norm1 = nn.LayerNorm(width, eps=eps)
        self.attn = EvaAttention(width, heads, eps)
        self.norm2 = nn.LayerNorm(width, eps=eps)
        self.mlp = EvaSwiGLU(width, hidden, eps)

    def forward(self, x, cos, sin):
        x = x + self.attn(self.norm1(x), cos, sin)
        return x + self.mlp(self.norm2(x))


class PatchEmbed(nn.Module):
    def __init__(self, width, patch):
        super().__init__()
        self.proj = nn.Conv2d(3, width, kernel_size=patch, stride=patch)

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)


class EvaVisionTower(nn.Module):
    def __init__(self, cfg, image_size=None):
        super().__init__()
        W = cfg["width"]
        self.image_size = image_size or cfg["image_size"]
        self.grid = self.image_size // cfg["patch_size"]
        self.patch_embed = PatchEmbed(W, cfg["patch_size"])
        self.cls_token = nn.Parameter(torch.zeros(1, 1, W))
        self.pos_embed = nn.Parameter(torch.zeros(1, self.grid * self.grid + 1, W))
        eps = cfg["vision_ln_eps"]
        self.blocks = nn.ModuleList([EvaBlock(W, cfg["heads"], cfg["mlp_hidden"], eps) for _ in range(cfg["layers"])])
        self.norm = nn.LayerNorm(W, eps=eps)
        self.head = nn.Linear(W, cfg["embed_dim"])
        # intp_freq=True: ft_seq_len = grid at this image size, pt_seq_len from the config.
        cos, sin = eva_rope_tables(cfg["head_dim"], cfg["pt_seq_len"], self.grid, cfg["rope_theta"])
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)

    def forward_tokens(self, pixel, keep=None):
        assert pixel.shape[-1] == self.image_size and pixel.shape[-2] == self.image_size
        x = self.patch_embed(pixel)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        if keep is not None:
            keep["embed_tokens"] = x
        for i, blk in enumerate(self.blocks):
            x = blk(x, self.rope_cos, self.rope_sin)
            if keep is not None:
                keep[f"block{i}_out"] = x
        return self.norm(x)

    def forward(self, pixel, keep=None):
        return self.head(self.forward_tokens(pixel, keep)[:, 0])


class AdapterBlock(nn.Module):
    def __init__(self, d, expansion, eps):
        super().__init__()
        self.fn = nn.Sequential(nn.Linear(d, expansion * d), nn.GELU(), nn.Dropout(0.0), nn.Linear(expansion * d, d))
        self.ln = nn.LayerNorm(d, eps=eps)

    def forward(self, x):
        return x + self.fn(self.ln(x))


class TextAdapter(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        d, eps = cfg["llm_dim"], cfg["adapter_ln_eps"]
        self.text_adaptor = nn.Sequential(
            *[AdapterBlock(d, cfg["adapter_expansion"], eps) for _ in range(cfg["adapter_blocks"])],
            nn.LayerNorm(d, eps=eps), nn.Linear(d, cfg["embed_dim"]))

    def forward(self, e, l2norm=True):
        if l2norm:
            e = F.normalize(e, p=2, dim=-1)
        return self.text_adaptor(e)


class TinyLLM2CLIP(nn.Module):
    def __init__(self, cfg, image_size=None):
        super().__init__()
        self.visual = EvaVisionTower(cfg, image_size)
        self.text = TextAdapter(cfg)
        self.logit_scale = nn.Parameter(torch.tensor(float(cfg["logit_scale"])))


def init_eva(model, seed):
    g = torch.Generator().manual_seed(seed)
    norm_names = ("norm1", "norm2", "inner_attn_ln", "ffn_ln", "visual.norm", ".ln.", "text_adaptor.4.")
    with torch.no_grad():
        for name, p in sorted(model.named_parameters(), key=lambda kv: kv[0]):
            if name == "logit_scale":
                continue
            if any(s in name for s in norm_names):
                base = 1.0 if name.endswith(".weight") else 0.0
                p.copy_(base + 0.1 * torch.randn(p.shape, generator=g))
            elif name.endswith(".bias"):
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
            elif name in ("visual.cls_token", "visual.pos_embed"):
                p.copy_(0.3 * torch.randn(p.shape, generator=g))
            elif name == "visual.patch_embed.proj.weight":
                p.copy_(0.05 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(0.15 * torch.randn(p.shape, generator=g))


def expected_eva_keys(cfg):
    keys = ["visual.cls_token", "visual.pos_embed", "visual.patch_embed.proj.weight", "visual.patch_embed.proj.bias"]
    for i in range(cfg["layers"]):
        p = f"visual.blocks.{i}."
        keys += [p + "norm1.weight", p + "norm1.bias",
                 p + "attn.q_proj.weight", p + "attn.q_proj.bias", p + "attn.k_proj.weight",
                 p + "attn.v_proj.weight", p + "attn.v_proj.bias",
                 p + "attn.inner_attn_ln.weight", p + "attn.inner_attn_ln.bias",
                 p + "attn.proj.weight", p + "attn.proj.bias",
                 p + "norm2.weight", p + "norm2.bias"]
        for n in ("w1", "w2", "ffn_ln", "w3"):
            keys += [p + f"mlp.{n}.weight", p + f"mlp.{n}.bias"]
    keys += ["visual.norm.weight", "visual.norm.bias", "visual.head.weight", "visual.head.bias"]
    for i in range(cfg["adapter_blocks"]):
        p = f"text.text_adaptor.{i}."
        keys += [p + "ln.weight", p + "ln.bias", p + "fn.0.weight", p + "fn.0.bias", p + "fn.3.weight", p + "fn.3.bias"]
    keys += ["text.text_adaptor.4.weight", "text.text_adaptor.4.bias",
             "text.text_adaptor.5.weight", "text.text_adaptor.5.bias", "logit_scale"]
    return keys


def interpolate_pos_embed(pos, new_grid):
    """EVA's resize on load: CLS kept; patch rows -> [1, W, g, g] -> bicubic (align_corners=False)."""
    n_extra = 1
    W = pos.shape[-1]
    old = int(round((pos.shape[1] - n_extra) ** 0.5))
    if old == new_grid:
        return pos.clone()
    extra, tok = pos[:, :n_extra], pos[:, n_extra:]
    tok = tok.reshape(-1, old, old, W).permute(0, 3, 1, 2)
    tok = F.interpolate(tok, size=(new_grid, new_grid), mode="bicubic", align_corners=False)
    tok = tok.permute(0, 2, 3, 1).flatten(1, 2)
    return torch.cat([extra, tok], dim=1)


def eva_state_dict_at(sd, cfg, image_size):
    grid = image_size // cfg["patch_size"]
    out = dict(sd)
    out["visual.pos_embed"] = interpolate_pos_embed(sd["visual.pos_embed"], grid)
    return out


# ---- independent float64 reference -------------------------------------------------------

def ref_bicubic_1d_weights(n_in, n_out, A=-0.75):
    """[n_out, n_in] float64 matrix of PyTorch's bicubic (align_corners=False) along one axis."""
    M = torch.zeros(n_out, n_in, dtype=torch.float64)
    scale = n_in / n_out

    def cc1(x):  # |x| <= 1
        return ((A + 2) * x - (A + 3)) * x * x + 1

    def cc2(x):  # 1 < |x| < 2
        return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A
    for i in range(n_out):
        src = (i + 0.5) * scale - 0.5
        i0 = math.floor(src)
        t = src - i0
        ws = [cc2(t + 1), cc1(t), cc1(1 - t), cc2(2 - t)]
        for k, w in zip(range(i0 - 1, i0 + 3), ws):
            M[i, min(max(k, 0), n_in - 1)] += w
    return M


def ref_pos_embed(pos, new_grid):
    pos = pos.to(torch.float64)
    old = int(round((pos.shape[1] - 1) ** 0.5))
    Mr = ref_bicubic_1d_weights(old, new_grid)
    g = pos[0, 1:].reshape(old, old, -1)  # [r, c, W]
    g = torch.einsum("ir,jc,rcw->ijw", Mr, Mr, g).reshape(new_grid * new_grid, -1)
    return torch.cat([pos[:, :1], g[None]], dim=1)


def ref_eva(sd, cfg, pixel, feats, image_size):
    """Float64, functional, complex-number RoPE computed from the angles directly."""
    sd = {k: v.detach().to(torch.float64) for k, v in sd.items()}
    W, H, hd, eps = cfg["width"], cfg["heads"], cfg["head_dim"], cfg["vision_ln_eps"]
    grid = image_size // cfg["patch_size"]
    pt = cfg["pt_seq_len"]
    # angle[r*grid + c, m] for pair m of the head dim: pairs 0..hd/4-1 use the row, the rest the column.
    npair = hd // 2
    nf = npair // 2
    inv = [cfg["rope_theta"] ** (-(2.0 * k) / (hd // 2)) for k in range(nf)]
    ang = torch.zeros(grid * grid, npair, dtype=torch.float64)
    for r in range(grid):
        for c in range(grid):
            for m in range(npair):
                pos = (r if m < nf else c) * pt / grid
                ang[r * grid + c, m] = pos * inv[m % nf]
    rot = torch.polar(torch.ones_like(ang), ang)  # e^{i angle}

    def rope(t):  # [B, H, N-1, hd]
        z = torch.view_as_complex(t.reshape(*t.shape[:-1], npair, 2).contiguous())
        return torch.view_as_real(z * rot).reshape(t.shape)

    x = F.conv2d(pixel.to(torch.float64), sd["visual.patch_embed.proj.weight"], sd["visual.patch_embed.proj.bias"],
                 stride=cfg["patch_size"]).flatten(2).transpose(1, 2)
    B, N = x.shape[0], x.shape[1] + 1
    x = torch.cat([sd["visual.cls_token"].expand(B, 1, W), x], 1) + sd["visual.pos_embed"]
    for i in range(cfg["layers"]):
        p = f"visual.blocks.{i}."
        h = ln64(x, sd[p + "norm1.weight"], sd[p + "norm1.bias"], eps)
        q = (h @ sd[p + "attn.q_proj.weight"].T + sd[p + "attn.q_proj.bias"]).view(B, N, H, hd).transpose(1, 2)
        k = (h @ sd[p + "attn.k_proj.weight"].T).view(B, N, H, hd).transpose(1, 2)
        v = (h @ sd[p + "attn.v_proj.weight"].T + sd[p + "attn.v_proj.bias"]).view(B, N, H, hd).transpose(1, 2)
        q = torch.cat([q[:, :, :1], rope(q[:, :, 1:])], 2)
        k = torch.cat([k[:, :, :1], rope(k[:, :, 1:])], 2)
        a = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(hd), -1)
        o = (a @ v).transpose(1, 2).reshape(B, N, W)
        o = ln64(o, sd[p + "attn.inner_attn_ln.weight"], sd[p + "attn.inner_attn_ln.bias"], eps)
        x = x + o @ sd[p + "attn.proj.weight"].T + sd[p + "attn.proj.bias"]
        h = ln64(x, sd[p + "norm2.weight"], sd[p + "norm2.bias"], eps)
        g1 = h @ sd[p + "mlp.w1.weight"].T + sd[p + "mlp.w1.bias"]
        g2 = h @ sd[p + "mlp.w2.weight"].T + sd[p + "mlp.w2.bias"]
        m = ln64(g1 * torch.sigmoid(g1) * g2, sd[p + "mlp.ffn_ln.weight"], sd[p + "mlp.ffn_ln.bias"], eps)
        x = x + m @ sd[p + "mlp.w3.weight"].T + sd[p + "mlp.w3.bias"]
    tokens = ln64(x, sd["visual.norm.weight"], sd["visual.norm.bias"], eps)
    img = tokens[:, 0] @ sd["visual.head.weight"].T + sd["visual.head.bias"]

    def adapter(e, l2):
        y = e.to(torch.float64)
        if l2:
            y = y / y.norm(dim=-1, keepdim=True)
        ae = cfg["adapter_ln_eps"]
        for j in range(cfg["adapter_blocks"]):
            p = f"text.text_adaptor.{j}."
            h = ln64(y, sd[p + "ln.weight"], sd[p + "ln.bias"], ae)
            h = h @ sd[p + "fn.0.weight"].T + sd[p + "fn.0.bias"]
            h = 0.5 * h * (1.0 + torch.erf(h / math.sqrt(2.0)))
            y = y + h @ sd[p + "fn.3.weight"].T + sd[p + "fn.3.bias"]
        y = ln64(y, sd["text.text_adaptor.4.weight"], sd["text.text_adaptor.4.bias"], ae)
        return y @ sd["text.text_adaptor.5.weight"].T + sd["text.text_adaptor.5.bias"]
    out = dict(tokens_final=tokens, image_embeds=img, rope_cos=rot.real.repeat_interleave(2, -1),
               rope_sin=rot.imag.repeat_interleave(2, -1))
    if feats is not None:
        out["adapter_out"] = adapter(feats, True)
        out["adapter_out_no_l2"] = adapter(feats, False)
    return out


def eva_part():
    cfg = eva_config()
    assert cfg["mlp_hidden"] == 170 and cfg["head_dim"] == 16
    torch.manual_seed(555)
    model = TinyLLM2CLIP(cfg).eval()
    init_eva(model, seed=555)
    sd = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    want_keys = expected_eva_keys(cfg)
    assert sorted(sd) == sorted(want_keys), sorted(set(sd) ^ set(want_keys))
    assert tuple(sd["visual.cls_token"].shape) == (1, 1, 64) and tuple(sd["visual.pos_embed"].shape) == (1, 17, 64)
    assert tuple(sd["visual.blocks.0.mlp.w1.weight"].shape) == (170, 64)
    assert tuple(sd["text.text_adaptor.0.fn.0.weight"].shape) == (64, 32)
    assert tuple(sd["text.text_adaptor.5.weight"].shape) == (24, 32) and sd["logit_scale"].dim() == 0

    save_tensors(os.path.join(OUT, "eva02-tiny.safetensors"), {k: sd[k] for k in want_keys})
    eva_sd = {}
    for k in want_keys:
        if k.endswith("attn.q_proj.bias"):
            eva_sd[k.replace("attn.q_proj.bias", "attn.q_bias")] = sd[k]
        elif k.endswith("attn.v_proj.bias"):
            eva_sd[k.replace("attn.v_proj.bias", "attn.v_bias")] = sd[k]
        else:
            eva_sd[k] = sd[k]
    assert len(eva_sd) == len(sd)
    save_tensors(os.path.join(OUT, "eva02-tiny-evanames.safetensors"), eva_sd)
    jcfg = dict(cfg)
    jcfg["keys"] = len(want_keys)
    jcfg["key_variants"] = {"eva02-tiny.safetensors": "attn.q_proj.bias / attn.v_proj.bias (LLM2CLIP)",
                            "eva02-tiny-evanames.safetensors": "attn.q_bias / attn.v_bias (original EVA02)"}
    write_json(os.path.join(OUT, "eva02-tiny.json"), jcfg)

    # Inputs.
    g = torch.Generator().manual_seed(4242)
    pixel = torch.randn(2, 3, 56, 56, generator=g)
    pixel84 = torch.randn(1, 3, 84, 84, generator=g)
    feats = 3.0 * torch.randn(3, 32, generator=g)

    keep = {}
    with torch.no_grad():
        tokens = model.visual.forward_tokens(pixel, keep)
        img = model.visual.head(tokens[:, 0])
        assert maxdiff(model.visual(pixel), img) == 0.0
        txt = model.text(feats, l2norm=True)
        txt_nol2 = model.text(feats, l2norm=False)
        lpi = model.logit_scale.exp() * F.normalize(img, dim=-1) @ F.normalize(txt, dim=-1).T

        # 84 px: a model built at 84 (RoPE ft 6, pt 4) loading the checkpoint with pos_embed resized.
        model84 = TinyLLM2CLIP(cfg, image_size=84).eval()
        sd84 = eva_state_dict_at(sd, cfg, 84)
        model84.load_state_dict(sd84, strict=True)
        tokens84 = model84.visual.forward_tokens(pixel84)
        img84 = model84.visual.head(tokens84[:, 0])
    assert tuple(sd84["visual.pos_embed"].shape) == (1, 37, 64)
    assert model84.visual.rope_cos.shape == (36, 16)

    # Checks against the independent float64 reference.
    ref = ref_eva(sd, cfg, pixel, feats, 56)
    checks = {"tokens_final": maxdiff(tokens, ref["tokens_final"]), "image_embeds": maxdiff(img, ref["image_embeds"]),
              "adapter_out": maxdiff(txt, ref["adapter_out"]), "adapter_out_no_l2": maxdiff(txt_nol2, ref["adapter_out_no_l2"]),
              "rope_cos": maxdiff(model.visual.rope_cos, ref["rope_cos"]),
              "rope_sin": maxdiff(model.visual.rope_sin, ref["rope_sin"])}
    pos84_ref = ref_pos_embed(sd["visual.pos_embed"], 6)
    checks["pos_embed_84"] = maxdiff(sd84["visual.pos_embed"], pos84_ref)
    ref84 = ref_eva(sd84, cfg, pixel84, None, 84)
    checks["image_embeds_84"] = maxdiff(img84, ref84["image_embeds"])
    checks["tokens_final_84"] = maxdiff(tokens84, ref84["tokens_final"])
    checks["rope_cos_84"] = maxdiff(model84.visual.rope_cos, ref84["rope_cos"])
    bad = {k: v for k, v in checks.items() if not v < 1e-4}
    assert not bad, bad
    # Sanity: RoPE matters, the l2norm matters, CLS rows of the rope tables do not exist.
    assert maxdiff(txt, txt_nol2) > 1e-2
    assert float(model.visual.rope_cos[0].min()) == 1.0 and float(model.visual.rope_sin[0].abs().max()) == 0.0
    t84 = torch.arange(6) / 6 * 4
    assert abs(float(t84[1]) - 4 / 6) < 1e-7
    with torch.no_grad():  # the same weights without RoPE would give a clearly different result
        c0, s0 = model.visual.rope_cos, model.visual.rope_sin
        model.visual.rope_cos, model.visual.rope_sin = torch.ones_like(c0), torch.zeros_like(s0)
        no_rope = model.visual(pixel)
        model.visual.rope_cos, model.visual.rope_sin = c0, s0
    d_rope = maxdiff(no_rope, img)
    assert d_rope > 1e-2, d_rope

    save_tensors(os.path.join(OUT, "eva02-tiny_outputs.safetensors"), {
        "pixel_values": pixel, "embed_tokens": keep["embed_tokens"], "block0_out": keep["block0_out"],
        "tokens_final": tokens, "image_embeds": img,
        "rope_cos": model.visual.rope_cos, "rope_sin": model.visual.rope_sin,
        "pixel_values_84": pixel84, "pos_embed_84": sd84["visual.pos_embed"],
        "rope_cos_84": model84.visual.rope_cos, "rope_sin_84": model84.visual.rope_sin,
        "tokens_final_84": tokens84, "image_embeds_84": img84,
        "llm_features": feats, "adapter_out": txt, "adapter_out_no_l2": txt_nol2,
        "logit_scale": model.logit_scale.detach().clone(), "logits_per_image": lpi,
    })
    log("eva02-tiny: vs float64 reference " + ", ".join(f"{k} {v:.1e}" for k, v in checks.items()))
    log(f"eva02-tiny: |image_embeds| max {maxabs(img):.3f}, |image_embeds_84| max {maxabs(img84):.3f}, "
        f"|adapter_out| max {maxabs(txt):.3f}, without RoPE differs by {d_rope:.3f}; "
        f"logits_per_image {[[round(float(v), 3) for v in r] for r in lpi]}")
    return sd


# --------------------------------------------------------------------------------------------
# c) Converter round trip
# --------------------------------------------------------------------------------------------

def convert_part():
    ref = load_file(os.path.join(OUT, "eva02-tiny.safetensors"))
    cfg = eva_config()
    with tempfile.TemporaryDirectory(prefix="llm2clip-convert-") as tmp:
        inner = {"module." + k: v.clone() for k, v in ref.items()}
        # What a training checkpoint also carries: RoPE buffers (shared module registered on the
        # tower and on every attention), and the frozen LLM when it was part of the model.
        g = torch.Generator().manual_seed(1)
        cos, sin = eva_rope_tables(cfg["head_dim"], cfg["pt_seq_len"], 4)
        inner["module.visual.rope.freqs_cos"] = cos
        inner["module.visual.rope.freqs_sin"] = sin
        for i in range(cfg["layers"]):
            inner[f"module.visual.blocks.{i}.attn.rope.freqs_cos"] = cos
            inner[f"module.visual.blocks.{i}.attn.rope.freqs_sin"] = sin
        inner["module.text.model.embed_tokens.weight"] = torch.randn(10, 32, generator=g)
        ckpt = {"epoch": 3, "name": "tiny", "state_dict": inner}
        src = os.path.join(tmp, "tiny-llm2clip.pt")
        torch.save(ckpt, src)
        dst = os.path.join(tmp, "tiny.safetensors")
        proc = subprocess.run([sys.executable, CONVERTER, src, dst], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True)
        assert proc.returncode == 0, proc.stdout
        got = load_file(dst)
        assert sorted(got) == sorted(ref), sorted(set(got) ^ set(ref))
        for k in ref:
            assert got[k].dtype == torch.float32 and torch.equal(got[k], ref[k]), k
        with safe_open(dst, "pt") as f:
            meta = f.metadata()
        assert meta == {"format": "llm2clip", "source": "tiny-llm2clip.pt"}, meta
        assert "text.model.embed_tokens.weight" in proc.stdout, proc.stdout
        assert not [x for x in os.listdir(tmp) if x not in ("tiny-llm2clip.pt", "tiny.safetensors")], os.listdir(tmp)

        # bfloat16 output; a bare state dict under "module" (DeepSpeed) with original EVA bias names.
        eva = load_file(os.path.join(OUT, "eva02-tiny-evanames.safetensors"))
        src2 = os.path.join(tmp, "ds.bin")
        torch.save({"module": dict(eva)}, src2)
        dst2 = os.path.join(tmp, "ds.safetensors")
        proc2 = subprocess.run([sys.executable, CONVERTER, src2, dst2, "--dtype", "bfloat16"], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
        assert proc2.returncode == 0, proc2.stdout
        got2 = load_file(dst2)
        assert sorted(got2) == sorted(eva)
        for k in eva:
            assert got2[k].dtype == torch.bfloat16 and torch.equal(got2[k], eva[k].to(torch.bfloat16)), k
    log(f"convert: .pt (state_dict + module. prefixes + rope buffers + LLM tensor) -> {len(got)} tensors, "
        f"identical to eva02-tiny.safetensors; bfloat16 / EVA-names path ok")


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
    for name in sorted(os.listdir(OUT)):
        if name.endswith("_outputs.safetensors"):
            t = load_file(os.path.join(OUT, name))
            log(f"  {name}: " + ", ".join(f"{k} {list(v.shape)} max|.| {maxabs(v):.3g}" for k, v in sorted(t.items())))
    log(f"  total Tests/Goldens/vision: {total / 1e6:.3f} MB")
    assert total < 3e6


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="+", choices=["clip", "eva", "convert"], default=None)
    args = ap.parse_args(argv)
    parts = args.only or ["clip", "eva", "convert"]

    torch.set_num_threads(1)
    torch.manual_seed(0)
    quiet_transformers()
    os.makedirs(OUT, exist_ok=True)
    if TORCHVISION_HIDDEN:
        log("note: torchvision is installed but cannot be imported with this torch; hidden from transformers")
    if "clip" in parts:
        clip_part()
    if "eva" in parts:
        eva_part()
    if "convert" in parts:
        convert_part()
    summary()
    return 0


if __name__ == "__main__":
    sys.exit(main())
