#!/usr/bin/env bash
# Rebuilds the model zoo in models/ from nothing: the exact commands behind every model card.
#   scripts/build-zoo.sh base-clip     # the base scenes CLIP (image tower + 77-token text tower)
#   scripts/build-zoo.sh cc-adapter    # the caption-contrastive LoRA adapter for SmolLM2
#   scripts/build-zoo.sh               # both, then the cards' hashes and metrics
# Work folders go to ${ZOO_WORK:-.cache/zoo-work}; a rerun continues interrupted training.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/assets.sh
swift build -c release --product llm2clip 2>&1 | grep -E "error|Build" || true
L=.build/release/llm2clip
W="${ZOO_WORK:-.cache/zoo-work}"
mkdir -p "$W" models
what="${1:-all}"

if [ "$what" = base-clip ] || [ "$what" = all ]; then
  # 30,000 training scenes of the 3-object world, short captions only (the analogue of web alt-text).
  [ -f "$W/data/pretrain/scenes.json" ] || $L scenes --out "$W/data/pretrain" --images 30000 --seed 1001 --max-objects 3
  [ -f "$W/data/pretrain-eval/scenes.json" ] || $L scenes --out "$W/data/pretrain-eval" --images 1000 --seed 1002 --split eval --max-objects 3
  $L train-clip --text-tower clip --tower eva02-small --text-config text-mini \
    --data "$W/data/pretrain" --eval "$W/data/pretrain-eval" --out "$W/base-clip" \
    --steps 1200 --batch-size 128 --lr 1e-3 --warmup 60 --layer-decay 1 --long-prob 0 \
    --eval-every 400 --checkpoint-every 100 --seed 1
fi

if [ "$what" = cc-adapter ] || [ "$what" = all ]; then
  # Stage 1 on 3,000 caption pairs of the same world (their own seed: no evaluation split shares
  # a scene), run h's recipe (top-10 LoRA, per-batch direction, lr 2e-3); CRA on 500 held-out pairs.
  [ -f "$W/data/cc-train/scenes.json" ] || $L scenes --out "$W/data/cc-train" --images 3000 --seed 2001 --max-objects 3 --layouts pairs
  head -501 "$W/data/pretrain-eval/pairs.csv" > "$W/data/cc-eval-500.csv"
  $L finetune-text --model .cache/assets/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf \
    --pairs "$W/data/cc-train/pairs.csv" --eval-pairs "$W/data/cc-eval-500.csv" --out "$W/cc-adapter" \
    --steps 360 --batch-size 16 --lr 2e-3 --lora-top-layers 10 --max-length 192 --keep-graphs \
    --no-gradient-checkpointing --direction per-batch --eval-every 0 --checkpoint-every 60 --seed 1
fi
