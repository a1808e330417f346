#!/usr/bin/env python3
"""Convert an original LLM2CLIP checkpoint (torch .pt / .bin) to one safetensors file.

    python3 scripts/convert_llm2clip_checkpoint.py IN.pt OUT.safetensors [--dtype float32|bfloat16|float16]
                                                   [--unsafe-pickle]

Input: a torch-saved state dict, possibly wrapped ({"state_dict": ...}, {"model": ...},
{"module": ...} as DeepSpeed writes it, {"model_state_dict": ...}, nested any number of times)
and possibly with "module." (DataParallel / DDP) or "_orig_mod." (torch.compile) key prefixes.
A .safetensors input is accepted too (re-keyed and filtered the same way).

Output keys keep the original names: `visual.*` (EVA02 or OpenAI-CLIP tower), `text.text_adaptor.*`
(the LLM2CLIP adapter) and `logit_scale`. Dropped: RoPE tables (`*.freqs_cos`, `*.freqs_sin`,
anything under a `rope.` module; they are recomputed from the config), and every other key (e.g.
a text LLM stored with the model), which is listed on stdout. `attn.q_bias` / `attn.v_bias`
(original EVA naming) are kept as they are. Floating tensors are cast to --dtype (default
float32); the file is written atomically (temporary file + rename) with metadata
{"format": "llm2clip", "source": <input file name>}.

Checkpoints are loaded with `torch.load(weights_only=True)`. Training checkpoints that also pickle
arbitrary objects (optimizer state with custom classes, argparse namespaces) need --unsafe-pickle,
which unpickles arbitrary code: use it only for files you trust.
"""

import argparse
import os
import sys
import tempfile

import torch

WRAPPER_KEYS = ("state_dict", "model", "module", "model_state_dict", "net")
PREFIXES = ("module.", "_orig_mod.")
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def load_checkpoint(path, unsafe=False):
    if path.endswith(".safetensors"):
        from safetensors.torch import load_file
        return load_file(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=not unsafe)
    except Exception as e:  # pickle.UnpicklingError for non-allowlisted globals
        if unsafe:
            raise
        raise SystemExit(f"error: torch.load(weights_only=True) refused {path}: {e}\n"
                         "If the file comes from a source you trust, rerun with --unsafe-pickle.")


def unwrap(obj):
    """Descend through the common wrapper dicts until a dict holding tensors is reached."""
    path = []
    while isinstance(obj, dict):
        if any(isinstance(v, torch.Tensor) for v in obj.values()):
            return obj, path
        for k in WRAPPER_KEYS:
            if isinstance(obj.get(k), dict):
                path.append(k)
                obj = obj[k]
                break
        else:
            break
    raise SystemExit("error: no state dict found (looked under " + ", ".join(repr(k) for k in WRAPPER_KEYS)
                     + (f"; reached {'/'.join(path)}" if path else "") + ")")


def strip_prefixes(key):
    changed = True
    while changed:
        changed = False
        for p in PREFIXES:
            if key.startswith(p):
                key = key[len(p):]
                changed = True
    return key


def is_rope_buffer(key):
    parts = key.split(".")
    return parts[-1] in ("freqs_cos", "freqs_sin") or "rope" in parts[:-1]


def is_kept(key):
    return key.startswith("visual.") or key.startswith("text.text_adaptor.") or key == "logit_scale"


def convert(state, dtype):
    """-> (tensors, dropped_rope, dropped_other, skipped_non_tensor)"""
    out, rope, other, non_tensor = {}, [], [], []
    for raw_key, value in state.items():
        key = strip_prefixes(str(raw_key))
        if not isinstance(value, torch.Tensor):
            non_tensor.append(key)
            continue
        if is_rope_buffer(key):
            rope.append(key)
            continue
        if not is_kept(key):
            other.append(key)
            continue
        if key in out:
            raise SystemExit(f"error: duplicate key after prefix stripping: {key}")
        t = value.detach()
        if t.is_floating_point():
            t = t.to(dtype)
        out[key] = t.contiguous().clone()  # own storage: safetensors refuses shared tensors
    return out, rope, other, non_tensor


def write_atomic(tensors, dst, metadata):
    from safetensors.torch import save_file
    d = os.path.dirname(os.path.abspath(dst))
    os.makedirs(d, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(dst) + ".", suffix=".tmp", dir=d)
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata=metadata)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the usual permissions
        os.replace(tmp, dst)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def summarize(keys, limit=12):
    keys = sorted(keys)
    head = ", ".join(keys[:limit])
    return head + (f", ... (+{len(keys) - limit} more)" if len(keys) > limit else "")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("input", help="LLM2CLIP checkpoint (.pt / .bin / .safetensors)")
    ap.add_argument("output", help="output .safetensors")
    ap.add_argument("--dtype", choices=sorted(DTYPES), default="float32",
                    help="dtype of floating tensors in the output (default float32)")
    ap.add_argument("--unsafe-pickle", action="store_true",
                    help="torch.load with weights_only=False (arbitrary code execution: trusted files only)")
    args = ap.parse_args(argv)

    obj = load_checkpoint(args.input, args.unsafe_pickle)
    state, path = unwrap(obj)
    tensors, rope, other, non_tensor = convert(state, DTYPES[args.dtype])
    if not any(k.startswith("visual.") for k in tensors):
        raise SystemExit("error: no visual.* tensors found; is this an LLM2CLIP / EVA-CLIP checkpoint? "
                         f"first keys: {summarize([strip_prefixes(str(k)) for k in state], 8)}")
    adapter = [k for k in tensors if k.startswith("text.text_adaptor.")]
    q_bias = sum(k.endswith(".attn.q_bias") for k in tensors)
    q_proj_bias = sum(k.endswith(".attn.q_proj.bias") for k in tensors)

    write_atomic(tensors, args.output, {"format": "llm2clip", "source": os.path.basename(args.input)})

    n_params = sum(t.numel() for t in tensors.values())
    print(f"read {args.input}" + (f" (state dict under {'/'.join(repr(p) for p in path)})" if path else ""))
    print(f"wrote {args.output}: {len(tensors)} tensors, {n_params / 1e6:.2f} M values, {args.dtype}; "
          f"visual {len(tensors) - len(adapter) - ('logit_scale' in tensors)}, text_adaptor {len(adapter)}, "
          f"logit_scale {'yes' if 'logit_scale' in tensors else 'MISSING'}; "
          f"attention biases named {'q_bias/v_bias' if q_bias else 'q_proj.bias/v_proj.bias' if q_proj_bias else 'none'}")
    if rope:
        print(f"dropped {len(rope)} RoPE buffers (recomputed at load): {summarize(rope, 4)}")
    if other:
        print(f"dropped {len(other)} keys outside visual.* / text.text_adaptor.* / logit_scale: {summarize(other)}")
    if non_tensor:
        print(f"ignored {len(non_tensor)} non-tensor entries: {summarize(non_tensor)}")
    if not adapter:
        print("warning: no text.text_adaptor.* tensors (vision tower only?)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
