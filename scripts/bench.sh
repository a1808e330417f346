#!/usr/bin/env bash
# Builds in release mode and runs a benchmark suite side by side with its PyTorch counterpart.
# Usage: scripts/bench.sh [engine|text|vision|train-text|train-clip] [--rounds N] [--json]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/python-env.sh
swift build -c release --product llm2clip 2>&1 | grep -E "error|warning: unre|Compiling llm2clip|Build" || true
suite="${1:-engine}"; shift || true
python3 bench/compare.py "$suite" "$@"
