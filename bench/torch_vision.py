#!/usr/bin/env python3
"""PyTorch counterpart of `llm2clip bench vision`.

    python3 bench/torch_vision.py [--threads 2] [--reps 7] [--warmup 2] [--batch 8] [--json]

Targets PyTorch 2.13.0 (CPU), transformers 5.24.0, float32 (run after
`source scripts/python-env.sh`).

Row `vit-b16-224 embed batch 8`: image embedding with a randomly initialised (seed 0)
transformers `CLIPVisionModelWithProjection` in the OpenAI ViT-B/16 configuration (hidden 768,
12 layers, 12 heads, MLP 3072, patch 16, image 224 -> 196 patches + CLS = 197 tokens, quick_gelu,
LN eps 1e-5, projection 512, SDPA attention). Timed: one forward of a batch of 8 random,
already preprocessed images [8, 3, 224, 224] -> image_embeds [8, 512] under
torch.inference_mode(). `--warmup` untimed runs, then `--reps` timed runs; the reported value is
the median wall time in ms.

"gflop" = (2 * encoder linear weights (q, k, v, out, fc1, fc2 of the 12 layers: 84.93 M) * batch * 197
+ attention 4 * batch * 12 * 197^2 * 64) / 1e9; the patch embedding (~1.85 GFLOP at batch 8), the
projection, norms and activations are not counted. "images" = batch.

--json prints one object:
  {"suite":"vision","impl":"pytorch","threads":T,"rows":[{"name":..,"ms":..,"gflop":..,"images":..}]}
"""

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

# A torchvision that cannot be imported with the installed torch (e.g. a CUDA wheel beside a
# CPU-only torch) breaks every transformers model import; nothing here needs it, so hide it.
if importlib.util.find_spec("torchvision") is not None and subprocess.run(
        [sys.executable, "-c", "import torchvision"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode:
    sys.modules["torchvision"] = None

import torch  # noqa: E402

HIDDEN, LAYERS, HEADS, MLP, PATCH, IMAGE, PROJ = 768, 12, 12, 3072, 16, 224, 512
TOKENS = (IMAGE // PATCH) ** 2 + 1


def build_model():
    import transformers
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    transformers.utils.logging.set_verbosity_error()
    cfg = CLIPVisionConfig(hidden_size=HIDDEN, intermediate_size=MLP, num_hidden_layers=LAYERS,
                           num_attention_heads=HEADS, patch_size=PATCH, image_size=IMAGE, hidden_act="quick_gelu",
                           layer_norm_eps=1e-5, projection_dim=PROJ, num_channels=3, attn_implementation="sdpa")
    torch.manual_seed(0)
    return CLIPVisionModelWithProjection(cfg).eval()


def encoder_linear_weights(model):
    n = 0
    for name, mod in model.vision_model.encoder.named_modules():
        if isinstance(mod, torch.nn.Linear):
            n += mod.weight.numel()
    return n


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    torch.set_num_threads(args.threads)
    model = build_model()
    B = args.batch
    lin = encoder_linear_weights(model)
    assert lin == LAYERS * (4 * HIDDEN * HIDDEN + 2 * HIDDEN * MLP), lin
    gflop = (2.0 * lin * B * TOKENS + 4.0 * B * HEADS * TOKENS * TOKENS * (HIDDEN // HEADS)) / 1e9
    g = torch.Generator().manual_seed(1)
    pixels = torch.randn(B, 3, IMAGE, IMAGE, generator=g)

    times = []
    with torch.inference_mode():
        for i in range(args.warmup + args.reps):
            t0 = time.perf_counter()
            out = model(pixel_values=pixels).image_embeds
            t1 = time.perf_counter()
            assert out.shape == (B, PROJ)
            del out
            if i >= args.warmup:
                times.append((t1 - t0) * 1e3)
    ms = statistics.median(times)
    name = f"vit-b16-224 embed batch {B}"
    rows = [{"name": name, "ms": ms, "gflop": gflop, "images": B}]

    if args.json:
        print(json.dumps({"suite": "vision", "impl": "pytorch", "threads": args.threads, "rows": rows}))
    else:
        print(f"{name:<30} {ms:10.1f} ms  {B / (ms / 1e3):8.2f} images/s  {gflop / (ms / 1e3):7.1f} GFLOP/s  "
              f"({gflop:.1f} GFLOP)", flush=True)
        print(f"# torch {torch.__version__}, threads={args.threads}, warmup={args.warmup}, reps={args.reps} (median)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
