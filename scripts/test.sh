#!/usr/bin/env bash
# Builds once in release mode (numeric tests are too slow in debug) and runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/assets.sh
swift build --build-tests -c release
swift test -c release --skip-build "$@"
