#!/usr/bin/env bash
# Makes the pinned CPU PyTorch importable (for goldens and benchmark counterparts), installing it
# into the project's cache folder on first use. Source this file; it exports PYTHONPATH.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
pydir="$root/.cache/python"
if ! python3 -c 'import torch, sys; sys.exit(0 if torch.__version__.startswith("2.13.0") else 1)' 2>/dev/null &&
   ! PYTHONPATH="$pydir" python3 -c 'import torch' 2>/dev/null; then
  echo "python-env: installing torch==2.13.0 (CPU) into .cache/python"
  python3 -m pip install -q --target "$pydir" torch==2.13.0 numpy
fi
export PYTHONPATH="$pydir${PYTHONPATH:+:$PYTHONPATH}"
