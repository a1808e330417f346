#!/usr/bin/env python3
"""Seeded golden-file generator for LoRA (PEFT layout) and the stage-1 contrastive objective.

Run from the repository root, after `source scripts/python-env.sh`:

    python3 scripts/make_goldens_lora.py                       # write Tests/Goldens/lora/
    python3 scripts/make_goldens_lora.py --verify-swift DIR    # check an adapter written by Swift
    python3 scripts/make_goldens_lora.py --verify-swift DIR --record

Targets torch 2.13.0 (CPU), transformers 5.24.0, peft 0.21.2, safetensors 0.8.0. Deterministic
(fixed seeds, one CPU thread) and idempotent (every file it writes is recreated; the Swift
verification record `swift-adapter-verified.json` is left alone). Base model: the tiny Llama of
Tests/Goldens/llm/tiny-llama (written by scripts/make_goldens_llm.py; float32, 2 layers, hidden
64, 4 q / 2 kv heads, head_dim 16, intermediate 128, vocab 256, tied embeddings).

Writes into Tests/Goldens/lora/:

  peft-adapter/                 adapter_model.safetensors + adapter_config.json, written by
                                peft's own save_pretrained: LoraConfig(r=4, lora_alpha=8,
                                lora_dropout=0.0, bias="none", the 7 projections), every lora_A and
                                lora_B set to N(0, 0.1^2) (seeded; PEFT's own init has B = 0).
                                Keys: base_model.model.model.layers.{i}.{self_attn|mlp}.{proj}
                                .lora_{A|B}.weight; A is [r, in], B is [out, r];
                                W_merged = W + (lora_alpha / r) * B @ A.
  lora_outputs.safetensors      input_ids [2,10], attention_mask [2,10] (row 1 right-padded by 3),
                                hidden_with_adapter / hidden_merged / hidden_base [2,10,64] (final-
                                norm hidden states, causal, 2-D padding mask; padded positions
                                included as transformers computes them), logits_with_adapter
                                [2,10,256], merged_q_proj_0 [64,64], merged_down_proj_0 [64,128]
                                (all F32)
  lora.json                     configuration, the exact key names and shapes peft wrote, checks
  contrastive.json              9 token-id sequences (3 queries, 3 positives, 3 negatives) and the
                                number n of trailing positions pooled for each
  contrastive.safetensors       loss (scalar), grad_q_proj_0 [64,64], grad_embed [256,64],
                                embeddings_q [3,64] (+ embeddings_p, embeddings_n, logits [3,6])

Contrastive objective (LLM2Vec supervised stage, reference §1.3): the tiny Llama in bidirectional
mode (4-D additive key-padding mask, no causal part), each sequence run alone from position 0;
embedding = mean of the final-norm hidden states over its last n positions; candidates
c = [p_0, p_1, p_2, n_0, n_1, n_2]; logits[i, j] = 50 * cos(q_i, c_j); loss = mean_i
cross_entropy(logits[i], i). Gradients are of that loss with respect to the base weights
model.layers.0.self_attn.q_proj.weight and model.embed_tokens.weight (no LoRA in this part; the
embedding is tied to the LM head, which the objective does not use).

--verify-swift DIR: loads the tiny Llama, applies DIR (adapter_model.safetensors +
adapter_config.json in PEFT layout) with PeftModel.from_pretrained, checks that every tensor in
the file was consumed and none is missing, runs input_ids / attention_mask of
lora_outputs.safetensors and compares with DIR/swift_outputs.safetensors["hidden_with_adapter"]
over the non-padded positions (tolerance 1e-4). Prints one JSON line; --record also writes it to
Tests/Goldens/lora/swift-adapter-verified.json. Exit status 0 only when it passed.
"""

import argparse
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import warnings  # noqa: E402

import torch  # noqa: E402
from safetensors import safe_open  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
OUT = os.path.join(ROOT, "Tests", "Goldens", "lora")
TINY_REL = "Tests/Goldens/llm/tiny-llama"
TINY = os.path.join(ROOT, TINY_REL)
ADAPTER_DIR = os.path.join(OUT, "peft-adapter")
OUTPUTS = os.path.join(OUT, "lora_outputs.safetensors")
RECORD = os.path.join(OUT, "swift-adapter-verified.json")

TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
RANK, ALPHA = 4, 8
LORA_SEED, INPUT_SEED, CONTRAST_SEED = 4242, 77, 3
LORA_STD = 0.1
SCALE = 50.0
VERIFY_TOL = 1e-4


def log(msg):
    print(msg, flush=True)


def quiet_transformers():
    import transformers
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()


def save_tensors(path, tensors, metadata=None):
    out = {k: v.detach().to(torch.float32).contiguous().cpu() for k, v in tensors.items()}
    save_file(out, path, metadata=metadata)


def write_json(path, obj):
    """indent 1, but lists of plain numbers on one line (token-id lists stay readable)."""
    text = json.dumps(obj, indent=1, ensure_ascii=False)
    text = re.sub(r"\[\s*(-?[0-9][-0-9.e+]*(?:,\s*-?[0-9][-0-9.e+]*)*)\s*\]",
                  lambda m: "[" + ", ".join(x.strip() for x in m.group(1).split(",")) + "]", text)
    assert json.loads(text) == obj
    with open(path, "w", encoding="utf-8") as f:
        f.write(text + "\n")


def maxdiff(a, b):
    return float((a.to(torch.float64) - b.to(torch.float64)).abs().max())


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def load_tiny():
    from transformers import LlamaForCausalLM
    return LlamaForCausalLM.from_pretrained(TINY, dtype=torch.float32).eval()


def bidirectional_mask(attention_mask, dtype=torch.float32):
    """[B, S] 0/1 key-padding mask -> [B, 1, S, S] additive mask with no causal part."""
    keep = attention_mask.to(torch.bool)[:, None, None, :]
    B, S = attention_mask.shape
    return torch.zeros(B, 1, S, S, dtype=dtype).masked_fill(~keep.expand(B, 1, S, S), torch.finfo(dtype).min)


def decoder_of(model):
    """The LlamaModel inside a LlamaForCausalLM, a PeftModel around one, or a merged model."""
    from peft import PeftModel
    if isinstance(model, PeftModel):
        model = model.get_base_model()
    return model.model


def hidden_of(model, ids, mask):
    with torch.no_grad():
        return decoder_of(model)(input_ids=ids, attention_mask=mask).last_hidden_state


def lora_config():
    from peft import LoraConfig
    return LoraConfig(r=RANK, lora_alpha=ALPHA, lora_dropout=0.0, target_modules=list(TARGETS), bias="none")


def golden_inputs():
    g = torch.Generator().manual_seed(INPUT_SEED)
    ids = torch.randint(3, 256, (2, 10), generator=g)
    mask = torch.ones(2, 10, dtype=torch.long)
    mask[1, 7:] = 0
    ids[1, 7:] = 0
    return ids, mask


def adapter_file_keys(d):
    with safe_open(os.path.join(d, "adapter_model.safetensors"), framework="pt") as f:
        return {k: list(f.get_slice(k).get_shape()) for k in f.keys()}, dict(f.metadata() or {})


def check_adapter_loaded(peft_model, d, adapter_name="default"):
    """Every tensor of the adapter file is in the model (same value) and every LoRA weight of the
    model came from the file. Returns the file's key list (sorted)."""
    tensors = load_file(os.path.join(d, "adapter_model.safetensors"))
    params = {n: p for n, p in peft_model.named_parameters() if ".lora_" in n}
    expected = {}
    for n in params:  # base_model.model.X.lora_A.default.weight -> base_model.model.X.lora_A.weight
        expected[n.replace(f".{adapter_name}.", ".")] = n
    unexpected = sorted(set(tensors) - set(expected))
    missing = sorted(set(expected) - set(tensors))
    if unexpected or missing:
        raise SystemExit(f"adapter {d}: unexpected keys {unexpected[:8]} ({len(unexpected)}), "
                         f"missing keys {missing[:8]} ({len(missing)})")
    for k, t in tensors.items():
        p = params[expected[k]]
        if tuple(p.shape) != tuple(t.shape) or maxdiff(p.detach(), t.float()) != 0.0:
            raise SystemExit(f"adapter {d}: tensor {k} {list(t.shape)} not loaded as stored ({list(p.shape)})")
    return sorted(tensors)


# --------------------------------------------------------------------------------------------
# a) + b) PEFT adapter and outputs
# --------------------------------------------------------------------------------------------

def manual_merge(base_sd, adapter, scaling):
    """W + scaling * B @ A from the saved adapter tensors (float64), keyed by base parameter name."""
    out = {}
    for k, a in adapter.items():
        if ".lora_A.weight" not in k:
            continue
        mod = k[len("base_model.model."):-len(".lora_A.weight")]
        b = adapter[k.replace(".lora_A.", ".lora_B.")]
        w = base_sd[mod + ".weight"].to(torch.float64)
        out[mod + ".weight"] = w + scaling * (b.to(torch.float64) @ a.to(torch.float64))
    return out


def adapter_part():
    import peft
    from peft import PeftModel, get_peft_model

    base_ref = load_tiny()
    base_sd = {k: v.detach().clone() for k, v in base_ref.state_dict().items()}
    ids, mask = golden_inputs()
    valid = mask.bool()
    h_base_plain = hidden_of(base_ref, ids, mask)

    model = get_peft_model(load_tiny(), lora_config())
    model.eval()
    # Relative path: adapter_config.json must not depend on where the repository lives.
    model.peft_config["default"].base_model_name_or_path = TINY_REL
    g = torch.Generator().manual_seed(LORA_SEED)
    lora_params = sorted(((n, p) for n, p in model.named_parameters() if ".lora_A." in n or ".lora_B." in n),
                         key=lambda kv: kv[0])
    assert len(lora_params) == 2 * len(TARGETS) * 2, len(lora_params)
    with torch.no_grad():
        for _, p in lora_params:
            p.copy_(LORA_STD * torch.randn(p.shape, generator=g))

    shutil.rmtree(ADAPTER_DIR, ignore_errors=True)
    model.save_pretrained(ADAPTER_DIR)
    files = sorted(os.listdir(ADAPTER_DIR))
    assert files == ["README.md", "adapter_config.json", "adapter_model.safetensors"] or \
        files == ["adapter_config.json", "adapter_model.safetensors"], files
    # peft also writes a model card (README.md, boilerplate); it is not part of the layout, so drop it.
    if "README.md" in files:
        os.remove(os.path.join(ADAPTER_DIR, "README.md"))
    # peft keeps target_modules as a set, so its order in adapter_config.json follows Python's
    # string hashing (varies run to run); sort it so the file is reproducible. Same writer format
    # as peft (indent 2, sorted keys, no trailing newline); nothing else changes.
    cpath = os.path.join(ADAPTER_DIR, "adapter_config.json")
    with open(cpath) as f:
        acfg = json.load(f)
    assert sorted(acfg["target_modules"]) == sorted(TARGETS), acfg["target_modules"]
    acfg["target_modules"] = sorted(acfg["target_modules"])
    with open(cpath, "w") as f:
        f.write(json.dumps(acfg, indent=2, sort_keys=True))
    key_shapes, st_meta = adapter_file_keys(ADAPTER_DIR)
    adapter = load_file(os.path.join(ADAPTER_DIR, "adapter_model.safetensors"))
    scaling = ALPHA / RANK

    h_adapter = hidden_of(model, ids, mask)
    with torch.no_grad():
        logits = model.get_base_model().lm_head(h_adapter)
        logits_full = model(input_ids=ids, attention_mask=mask).logits
    assert maxdiff(logits, logits_full) == 0.0
    with model.disable_adapter():
        h_base = hidden_of(model, ids, mask)
    assert maxdiff(h_base, h_base_plain) == 0.0, "disabled adapter differs from the plain base model"
    assert maxdiff(h_adapter[valid], h_base[valid]) > 0.1, "adapter has no visible effect"

    # Reload through peft from the saved folder: identical outputs, every key consumed.
    re = PeftModel.from_pretrained(load_tiny(), ADAPTER_DIR).eval()
    keys = check_adapter_loaded(re, ADAPTER_DIR)
    d_reload = maxdiff(hidden_of(re, ids, mask), h_adapter)
    assert d_reload == 0.0, d_reload

    # Merge (peft) vs an independent float64 merge of the saved tensors.
    merged = model.merge_and_unload().eval()
    h_merged = hidden_of(merged, ids, mask)
    msd = merged.state_dict()
    ref = manual_merge(base_sd, adapter, scaling)
    assert len(ref) == 2 * len(TARGETS)
    d_merge_w = max(maxdiff(msd[k], v) for k, v in ref.items())
    untouched = [k for k in msd if k not in ref]
    d_untouched = max(maxdiff(msd[k], base_sd[k]) for k in untouched)
    assert d_merge_w < 1e-6 and d_untouched == 0.0, (d_merge_w, d_untouched)
    assert not any("lora" in k for k in msd)
    d_merged = maxdiff(h_merged, h_adapter)
    d_merged_valid = maxdiff(h_merged[valid], h_adapter[valid])
    assert d_merged < 1e-5, d_merged
    # A plain Llama given the float64-merged weights agrees too.
    plain = load_tiny()
    with torch.no_grad():
        for k, v in ref.items():
            plain.state_dict()[k].copy_(v.to(torch.float32))
    d_plain = maxdiff(hidden_of(plain, ids, mask), h_adapter)
    assert d_plain < 1e-5, d_plain

    save_tensors(OUTPUTS, {
        "input_ids": ids.float(), "attention_mask": mask.float(),
        "hidden_with_adapter": h_adapter, "hidden_merged": h_merged, "hidden_base": h_base,
        "logits_with_adapter": logits,
        "merged_q_proj_0": msd["model.layers.0.self_attn.q_proj.weight"],
        "merged_down_proj_0": msd["model.layers.0.mlp.down_proj.weight"],
    })
    write_json(os.path.join(OUT, "lora.json"), {
        "base_model": TINY_REL,
        "peft_version": peft.__version__,
        "torch_version": torch.__version__.split("+")[0],
        "lora_config": {"r": RANK, "lora_alpha": ALPHA, "lora_dropout": 0.0, "bias": "none",
                        "target_modules": TARGETS},
        "scaling": scaling,
        "merge_rule": "W_merged = W + (lora_alpha / r) * lora_B @ lora_A  (A: [r, in], B: [out, r])",
        "init": f"every lora_A and lora_B ~ N(0, {LORA_STD}^2), torch.Generator seed {LORA_SEED}, "
                "parameters in sorted-name order",
        "adapter_files": sorted(os.listdir(ADAPTER_DIR)),
        "adapter_config": acfg,
        "safetensors_metadata": st_meta,
        "keys": keys,
        "key_shapes": {k: key_shapes[k] for k in keys},
        "key_pattern": "base_model.model.model.layers.{i}.{self_attn.q_proj|self_attn.k_proj|self_attn.v_proj|"
                       "self_attn.o_proj|mlp.gate_proj|mlp.up_proj|mlp.down_proj}.lora_{A|B}.weight "
                       "(peft strips the adapter name 'default' when saving; the first 'model.' is "
                       "LlamaForCausalLM.model)",
        "inputs": "input_ids seed %d, ids in [3, 256); row 1 right-padded by 3 (id 0, mask 0)" % INPUT_SEED,
        "hidden": "final-norm hidden states of LlamaModel, causal with the 2-D padding mask; padded positions "
                  "are included as transformers computes them (compare on mask == 1 if yours differ)",
        "checks": {
            "merged_vs_with_adapter_max_abs_diff": d_merged,
            "merged_vs_with_adapter_max_abs_diff_valid_positions": d_merged_valid,
            "peft_merge_vs_float64_manual_merge_weights": d_merge_w,
            "plain_llama_with_manual_merge_vs_with_adapter": d_plain,
            "reload_from_folder_vs_with_adapter": d_reload,
            "with_adapter_vs_base_valid_positions": maxdiff(h_adapter[valid], h_base[valid]),
        },
    })
    log(f"peft {peft.__version__}: {len(keys)} adapter tensors; merged vs with-adapter {d_merged:.2e} "
        f"(valid {d_merged_valid:.2e}); peft merge vs float64 merge {d_merge_w:.2e}; "
        f"plain merged Llama {d_plain:.2e}; adapter vs base {maxdiff(h_adapter[valid], h_base[valid]):.3f}")


# --------------------------------------------------------------------------------------------
# c) verification of an adapter folder written by the Swift project
# --------------------------------------------------------------------------------------------

def verify_swift(d, record, quiet=False):
    import peft
    from peft import PeftModel

    d = os.path.abspath(d)
    for f in ("adapter_config.json", "adapter_model.safetensors", "swift_outputs.safetensors"):
        if not os.path.exists(os.path.join(d, f)):
            raise SystemExit(f"--verify-swift: missing {os.path.join(d, f)}")
    golden = load_file(OUTPUTS)
    ids, mask = golden["input_ids"].long(), golden["attention_mask"].long()
    swift = load_file(os.path.join(d, "swift_outputs.safetensors"))
    if "hidden_with_adapter" not in swift:
        raise SystemExit(f"--verify-swift: {d}/swift_outputs.safetensors has no 'hidden_with_adapter' "
                         f"(has {sorted(swift)})")
    for name, ref in (("input_ids", ids), ("attention_mask", mask)):
        if name in swift and not torch.equal(swift[name].long(), ref):
            raise SystemExit(f"--verify-swift: {name} in swift_outputs differs from {OUTPUTS}")
    h_swift = swift["hidden_with_adapter"].float()
    if tuple(h_swift.shape) != (2, 10, 64):
        raise SystemExit(f"--verify-swift: hidden_with_adapter has shape {list(h_swift.shape)}, want [2, 10, 64]")

    model = PeftModel.from_pretrained(load_tiny(), d).eval()
    keys = check_adapter_loaded(model, d)
    cfg = model.peft_config["default"]
    h = hidden_of(model, ids, mask)
    with model.disable_adapter():
        h_base = hidden_of(model, ids, mask)
    valid = mask.bool()
    diff = maxdiff(h[valid], h_swift[valid])
    diff_all = maxdiff(h, h_swift)
    effect = maxdiff(h[valid], h_base[valid])
    passed = diff < VERIFY_TOL and effect > 10 * VERIFY_TOL
    result = {
        "max_abs_diff": diff,
        "max_abs_diff_all_positions": diff_all,
        "adapter_vs_base_max_abs_diff": effect,
        "tolerance": VERIFY_TOL,
        "passed": passed,
        "peft_version": peft.__version__,
        "torch_version": torch.__version__.split("+")[0],
        "r": int(cfg.r), "lora_alpha": float(cfg.lora_alpha),
        "target_modules": sorted(cfg.target_modules),
        "adapter_sha256": sha256(os.path.join(d, "adapter_model.safetensors")),
        "keys": keys,
    }
    if not quiet:
        print(json.dumps(result))
    if not effect > 10 * VERIFY_TOL:
        log(f"verify-swift: the adapter barely changes the output ({effect:.1e}); B = 0?")
    if record:
        write_json(RECORD, result)
        log(f"verify-swift: recorded {os.path.relpath(RECORD, ROOT)}")
    log(f"verify-swift: {'PASSED' if passed else 'FAILED'}: max |peft - swift| = {diff:.3e} "
        f"(all positions {diff_all:.3e}), tolerance {VERIFY_TOL}")
    return 0 if passed else 1


def self_test_verify():
    """Exercise --verify-swift with a folder made here: (a) re-saved under another name plus
    outputs computed by peft, then the same outputs perturbed (must fail). Nothing is recorded."""
    from peft import PeftModel

    golden = load_file(OUTPUTS)
    with tempfile.TemporaryDirectory() as tmp:
        d = os.path.join(tmp, "swift-like-adapter")
        m = PeftModel.from_pretrained(load_tiny(), ADAPTER_DIR)
        m.save_pretrained(d)
        save_tensors(os.path.join(d, "swift_outputs.safetensors"),
                     {"hidden_with_adapter": golden["hidden_with_adapter"], "input_ids": golden["input_ids"]})
        assert verify_swift(d, record=False, quiet=True) == 0
        bad = golden["hidden_with_adapter"].clone()
        bad[0, 3, 5] += 1e-3
        save_tensors(os.path.join(d, "swift_outputs.safetensors"), {"hidden_with_adapter": bad})
        assert verify_swift(d, record=False, quiet=True) == 1
    log("verify-swift self-test: a re-saved adapter passes, a perturbed output fails")


# --------------------------------------------------------------------------------------------
# d) contrastive-loss golden
# --------------------------------------------------------------------------------------------

def contrastive_sequences():
    """9 sequences (q0 q1 q2 p0 p1 p2 n0 n1 n2) of 10..14 tokens. Independent random sequences give
    cosines so far apart that 50 * cos saturates the softmax (probabilities 1.0 / 1e-9), which would
    leave most candidates untested; so every sequence is one shared 10-token body with 3 random
    substitutions (positives: their query with 2 more), behind a random 0..4-token prefix. The
    pooled span is the last 10, 9 or 8 tokens (k-th sequence of each group: 10 - k)."""
    g = torch.Generator().manual_seed(CONTRAST_SEED)

    def rnd(n):
        return torch.randint(3, 256, (n,), generator=g).tolist()

    def substitute(seq, k):
        seq = list(seq)
        for j in torch.randperm(len(seq), generator=g)[:k].tolist():
            seq[j] = rnd(1)[0]
        return seq

    body = rnd(10)
    prefix_lens = torch.randint(0, 5, (9,), generator=g).tolist()
    q = [substitute(body, 3) for _ in range(3)]
    p = [substitute(q[i], 2) for i in range(3)]
    n = [substitute(body, 3) for _ in range(3)]
    cores = q + p + n
    seqs = [rnd(prefix_lens[i]) + cores[i] for i in range(9)]
    pools = [len(cores[i]) - (i % 3) for i in range(9)]
    return seqs, pools


def embed_bidirectional(model, seqs, pools):
    """Each sequence alone, bidirectional, mean over its last n final-norm hidden states."""
    body = model.model
    out = []
    for ids, n in zip(seqs, pools):
        x = torch.tensor([ids])
        h = body(input_ids=x, attention_mask=bidirectional_mask(torch.ones_like(x), h_dtype(model))).last_hidden_state[0]
        out.append(h[-n:].mean(0))
    return torch.stack(out)


def embed_left_padded(model, seqs, pools):
    """Same, as one left-padded batch (cross-check only)."""
    S = max(len(s) for s in seqs)
    ids = torch.zeros(len(seqs), S, dtype=torch.long)
    mask = torch.zeros(len(seqs), S, dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, S - len(s):] = torch.tensor(s)
        mask[i, S - len(s):] = 1
    h = model.model(input_ids=ids, attention_mask=bidirectional_mask(mask, h_dtype(model))).last_hidden_state
    return torch.stack([h[i, S - n:].mean(0) for i, n in enumerate(pools)])


def h_dtype(model):
    return next(model.parameters()).dtype


def contrastive_loss(emb):
    q, c = emb[:3], emb[3:]
    logits = SCALE * torch.nn.functional.cosine_similarity(q[:, None, :], c[None, :, :], dim=-1)
    return torch.nn.functional.cross_entropy(logits, torch.arange(3)), logits


def run_contrastive(model, seqs, pools, padded=False):
    model.zero_grad(set_to_none=True)
    emb = (embed_left_padded if padded else embed_bidirectional)(model, seqs, pools)
    loss, logits = contrastive_loss(emb)
    loss.backward()
    gq = model.model.layers[0].self_attn.q_proj.weight.grad.detach().clone()
    ge = model.model.embed_tokens.weight.grad.detach().clone()
    return loss.detach(), gq, ge, emb.detach(), logits.detach()


def rel(a, b):
    return maxdiff(a, b) / max(float(b.abs().max()), 1e-30)


def contrastive_part():
    seqs, pools = contrastive_sequences()
    model = load_tiny()
    loss, gq, ge, emb, logits = run_contrastive(model, seqs, pools)
    # float64 copy of the same computation
    m64 = load_tiny().to(torch.float64)
    loss64, gq64, ge64, emb64, _ = run_contrastive(m64, seqs, pools)
    # one left-padded batch: same embeddings (RoPE is relative, attention bidirectional)
    lossp, gqp, gep, embp, _ = run_contrastive(load_tiny(), seqs, pools, padded=True)
    # cosine is unchanged by the similarity definition: explicit normalise-then-dot
    qn = torch.nn.functional.normalize(emb64[:3], dim=-1)
    cn = torch.nn.functional.normalize(emb64[3:], dim=-1)
    loss_explicit = torch.nn.functional.cross_entropy(SCALE * qn @ cn.T, torch.arange(3))
    checks = {
        "loss_float32_vs_float64_abs": abs(float(loss) - float(loss64)),
        "grad_q_proj_0_float32_vs_float64_rel": rel(gq, gq64),
        "grad_embed_float32_vs_float64_rel": rel(ge, ge64),
        "embeddings_float32_vs_float64_max_abs": maxdiff(emb, emb64),
        "left_padded_batch_vs_one_at_a_time_embeddings_max_abs": maxdiff(embp, emb),
        "left_padded_batch_vs_one_at_a_time_loss_abs": abs(float(lossp) - float(loss)),
        "left_padded_batch_vs_one_at_a_time_grad_q_proj_0_rel": rel(gqp, gq),
        "left_padded_batch_vs_one_at_a_time_grad_embed_rel": rel(gep, ge),
        "normalise_then_dot_vs_cosine_similarity_loss_abs": abs(float(loss_explicit) - float(loss64)),
    }
    assert checks["loss_float32_vs_float64_abs"] < 1e-4, checks
    assert checks["grad_q_proj_0_float32_vs_float64_rel"] < 1e-4, checks
    assert checks["grad_embed_float32_vs_float64_rel"] < 1e-4, checks
    assert checks["left_padded_batch_vs_one_at_a_time_embeddings_max_abs"] < 1e-4, checks
    assert checks["left_padded_batch_vs_one_at_a_time_grad_embed_rel"] < 1e-3, checks
    assert checks["normalise_then_dot_vs_cosine_similarity_loss_abs"] < 1e-9, checks
    # embedding rows of tokens that appear nowhere get no gradient
    used = sorted({t for s in seqs for t in s})
    unused = [t for t in range(256) if t not in set(used)]
    assert float(ge[unused].abs().max()) == 0.0
    assert float(ge[used].abs().sum(-1).min()) > 0.0
    # loss sanity: not saturated, not trivial
    assert 0.05 < float(loss) < 20.0, float(loss)
    assert float(torch.softmax(logits, -1).max(-1).values.min()) < 0.8, "softmax saturated in every row"

    write_json(os.path.join(OUT, "contrastive.json"), {
        "base_model": TINY_REL,
        "mode": "bidirectional: 4-D additive mask [1,1,S,S] of zeros (no causal part); each sequence run alone, "
                "positions 0..S-1",
        "queries": seqs[:3], "positives": seqs[3:6], "negatives": seqs[6:],
        "pool_last_n": {"queries": pools[:3], "positives": pools[3:6], "negatives": pools[6:]},
        "pooling": "embedding = mean of the final-norm hidden states (LlamaModel.last_hidden_state) over the "
                   "last n positions of the sequence; not normalised",
        "loss": "candidates c = [p0, p1, p2, n0, n1, n2]; logits[i, j] = 50 * cos(q_i, c_j) "
                "(torch.nn.functional.cosine_similarity, eps 1e-8); loss = mean over i of "
                "cross_entropy(logits[i], label i)",
        "scale": SCALE,
        "gradients": {"grad_q_proj_0": "d loss / d model.layers.0.self_attn.q_proj.weight [64, 64] (out, in)",
                      "grad_embed": "d loss / d model.embed_tokens.weight [256, 64] (tied LM head unused)"},
        "loss_value": float(loss),
        "softmax": [[round(float(x), 6) for x in row] for row in torch.softmax(logits.double(), -1)],
        "token_ids_used": used,
        "checks": checks,
    })
    save_tensors(os.path.join(OUT, "contrastive.safetensors"), {
        "loss": loss.reshape(()), "grad_q_proj_0": gq, "grad_embed": ge,
        "embeddings_q": emb[:3], "embeddings_p": emb[3:6], "embeddings_n": emb[6:], "logits": logits,
    })
    log(f"contrastive: loss {float(loss):.6f} (float64 {float(loss64):.6f}); grads float32 vs float64 rel "
        f"q_proj {checks['grad_q_proj_0_float32_vs_float64_rel']:.1e}, embed "
        f"{checks['grad_embed_float32_vs_float64_rel']:.1e}; left-padded batch vs alone: emb "
        f"{checks['left_padded_batch_vs_one_at_a_time_embeddings_max_abs']:.1e}")


# --------------------------------------------------------------------------------------------

def summary():
    total = 0
    for dp, _, fs in sorted(os.walk(OUT)):
        for f in sorted(fs):
            p = os.path.join(dp, f)
            sz = os.path.getsize(p)
            total += sz
            log(f"  {os.path.relpath(p, ROOT):<60} {sz:>9} B  {sha256(p)[:12]}")
    log(f"  total Tests/Goldens/lora: {total / 1e3:.1f} kB")
    assert total < 1e6


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--verify-swift", metavar="DIR", help="check an adapter folder written by the Swift code")
    ap.add_argument("--record", action="store_true",
                    help="with --verify-swift: write Tests/Goldens/lora/swift-adapter-verified.json")
    ap.add_argument("--self-test", action="store_true",
                    help="only exercise --verify-swift on adapters made here (nothing is recorded)")
    args = ap.parse_args(argv)
    if args.record and not args.verify_swift:
        ap.error("--record needs --verify-swift DIR")

    torch.set_num_threads(1)
    torch.manual_seed(0)
    quiet_transformers()
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
    if not os.path.exists(os.path.join(TINY, "config.json")):
        print(f"missing {TINY}: run scripts/make_goldens_llm.py --only tiny", file=sys.stderr)
        return 2
    if args.verify_swift:
        return verify_swift(args.verify_swift, args.record)
    if args.self_test:
        self_test_verify()
        return 0
    os.makedirs(OUT, exist_ok=True)
    adapter_part()
    contrastive_part()
    self_test_verify()
    summary()
    return 0


if __name__ == "__main__":
    sys.exit(main())
