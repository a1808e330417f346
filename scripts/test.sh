#!/usr/bin/env bash
# Builds once in release mode (numeric tests are too slow in debug) and runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/assets.sh
swift build --build-tests -c release
# A hung test must fail the run rather than stall it.
timeout --signal=KILL 1200 swift test -c release --skip-build "$@" || {
  status=$?
  [ $status -eq 137 ] && echo "test.sh: the test run exceeded 20 minutes and was stopped" >&2
  exit $status
}
