#!/usr/bin/env bash
# Makes the pinned Python reference stack importable (goldens and benchmark counterparts only;
# the Swift tests never need Python). Installs into .cache/python on first use, without pulling
# undeclared heavy dependencies. Source this file; it exports PYTHONPATH.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
pydir="$root/.cache/python"
# Installed with their (light) dependencies; torch is the small CPU-only wheel.
torch_spec=torch==2.13.0
with_deps=(transformers==5.24.0 tokenizers==0.23.3 safetensors==0.8.0 gguf==0.19.0 ftfy==6.3.1 numpy
           scikit-learn==1.7.2 pillow==12.3.0)
# Installed alone: their declared dependencies (torchvision, scikit-learn, scipy) are heavy and
# the parts used here (open_clip's tokenizer, sentence-transformers' pipeline) do not need them.
# peft imports accelerate at import time; accelerate's psutil import is lazy (device maps and
# multi-process launch only), so neither psutil nor the rest of their dependencies is installed.
no_deps=(sentence-transformers==6.2.0 open_clip_torch==3.2.0 peft==0.21.2 accelerate==1.15.0)
# torchvision's PyPI wheel is a CUDA build whose compiled ops do not load against the CPU torch,
# and transformers imports any torchvision it can find. It goes to its own folder, off
# PYTHONPATH; scripts/make_goldens_images.py loads its pure-Python transforms from there.
torchvision_spec=torchvision==0.28.0
tvdir="$root/.cache/python-torchvision"
stamp="$pydir/.installed-$(echo "$torch_spec ${with_deps[*]} ${no_deps[*]} separate:$torchvision_spec" | md5sum | cut -c1-12)"
if [ ! -f "$stamp" ]; then
  echo "python-env: installing the pinned reference stack into .cache/python"
  mkdir -p "$pydir"
  if ! python3 -c 'import torch, sys; sys.exit(0 if torch.__version__.startswith("2.13.0") else 1)' 2>/dev/null; then
    PIP_ROOT_USER_ACTION=ignore python3 -m pip install -q --disable-pip-version-check --target "$pydir" "$torch_spec"
  fi
  PIP_ROOT_USER_ACTION=ignore python3 -m pip install -q --disable-pip-version-check --upgrade --target "$pydir" "${with_deps[@]}"
  PIP_ROOT_USER_ACTION=ignore python3 -m pip install -q --disable-pip-version-check --no-deps --upgrade --target "$pydir" "${no_deps[@]}"
  rm -rf "$pydir"/torchvision "$pydir"/torchvision-*.dist-info "$pydir"/torchvision.libs
  PIP_ROOT_USER_ACTION=ignore python3 -m pip install -q --disable-pip-version-check --no-deps --upgrade --target "$tvdir" "$torchvision_spec"
  touch "$stamp"
fi
export PYTHONPATH="$pydir${PYTHONPATH:+:$PYTHONPATH}"
export LLM2CLIP_TORCHVISION_DIR="$tvdir"
