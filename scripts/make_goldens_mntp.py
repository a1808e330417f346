#!/usr/bin/env python3
"""Seeded golden-file generator for masked next-token prediction (MNTP, LLM2Vec's first step).

Run from the repository root, after `source scripts/python-env.sh`:

    python3 scripts/make_goldens_mntp.py          # writes Tests/Goldens/mntp/

Targets torch 2.13.0 (CPU) and transformers 5.24.0. Deterministic (fixed seeds, one CPU thread)
and idempotent. Base model: the tiny Llama of Tests/Goldens/llm/tiny-llama (written by
scripts/make_goldens_llm.py; float32, 2 layers, hidden 64, 4 q / 2 kv heads, vocab 256, tied
embeddings, so the LM head is the embedding matrix).

Masking (the collator of llm2vec's run_mntp.py, i.e. transformers' DataCollatorForLanguageModeling
with mlm_probability 0.2): every non-special token is selected with probability 0.2; a selected
token becomes the mask token with probability 0.8, a random token with 0.1, and stays unchanged
with 0.1; labels are the original ids at selected positions and -100 elsewhere. Here id 1 (BOS)
starts each row and is special; the mask token is id 95 (the tiny model has no tokenizer; any id
works for the loss), and it is special too, as `_` is once run_mntp.py makes it the mask token.

Loss (llm2vec's LlamaBiForMNTP = transformers LlamaForCausalLM with the causal mask removed):
the model runs with a 4-D additive attention mask of zeros [B, 1, T, T] (bidirectional, no
padding), `labels` passed to LlamaForCausalLM, which shifts them: the logits at position i − 1
predict the label at position i; cross-entropy averaged over labelled positions. Cross-checked
against an explicit shift (logits[:, :-1] vs labels[:, 1:]) and a float64 run.

Writes into Tests/Goldens/mntp/:

  mntp.safetensors   input_ids [2, 24] (masked inputs), labels [2, 24] (-100 where not selected),
                     original_ids [2, 24], loss (scalar), grad_q_proj_0 [64, 64]
                     (d loss / d model.layers.0.self_attn.q_proj.weight), grad_embed [256, 64]
                     (d loss / d model.embed_tokens.weight, input embedding + tied head), all F32
  mntp.json          settings, the ids as lists, loss value, checks
"""

import json
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

import torch  # noqa: E402
from safetensors.torch import save_file  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
OUT = os.path.join(ROOT, "Tests", "Goldens", "mntp")
TINY_REL = "Tests/Goldens/llm/tiny-llama"
TINY = os.path.join(ROOT, TINY_REL)

SEED = 2024
B, T, VOCAB = 2, 24, 256
BOS, MASK = 1, 95
PROBABILITY = 0.2


def load_tiny(dtype=torch.float32):
    import transformers
    from transformers import LlamaForCausalLM
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    return LlamaForCausalLM.from_pretrained(TINY, dtype=dtype).eval()


def masked_batch():
    g = torch.Generator().manual_seed(SEED)
    ids = torch.randint(3, VOCAB, (B, T), generator=g)
    ids[:, 0] = BOS
    ids[0, 9] = MASK                       # a literal mask token in the text: special, never selected
    special = (ids == BOS) | (ids == MASK)
    labels = ids.clone()
    prob = torch.full(ids.shape, PROBABILITY).masked_fill(special, 0.0)
    selected = torch.bernoulli(prob, generator=g).bool()
    labels[~selected] = -100
    replaced = torch.bernoulli(torch.full(ids.shape, 0.8), generator=g).bool() & selected
    inputs = ids.clone()
    inputs[replaced] = MASK
    randomised = torch.bernoulli(torch.full(ids.shape, 0.5), generator=g).bool() & selected & ~replaced
    inputs[randomised] = torch.randint(VOCAB, ids.shape, generator=g)[randomised]
    return ids, inputs, labels


def bidirectional(dtype):
    return torch.zeros(B, 1, T, T, dtype=dtype)


def run(model, inputs, labels):
    model.zero_grad(set_to_none=True)
    dtype = next(model.parameters()).dtype
    out = model(input_ids=inputs, attention_mask=bidirectional(dtype), labels=labels)
    out.loss.backward()
    gq = model.model.layers[0].self_attn.q_proj.weight.grad.detach().clone()
    ge = model.model.embed_tokens.weight.grad.detach().clone()
    return out.loss.detach(), out.logits.detach(), gq, ge


def rel(a, b):
    return float((a.double() - b.double()).abs().max() / b.double().abs().max())


def main():
    torch.set_num_threads(1)
    torch.manual_seed(0)
    if not os.path.exists(os.path.join(TINY, "config.json")):
        print(f"missing {TINY}: run scripts/make_goldens_llm.py --only tiny", file=sys.stderr)
        return 2
    ids, inputs, labels = masked_batch()
    model = load_tiny()
    assert model.config.tie_word_embeddings
    loss, logits, gq, ge = run(model, inputs, labels)
    # explicit shift: position i - 1 predicts label i
    explicit = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, VOCAB).double(), labels[:, 1:].reshape(-1),
                                                 ignore_index=-100)
    loss64, _, gq64, ge64 = run(load_tiny(torch.float64), inputs, labels)
    # the causal model gives a different loss: the mask really is bidirectional
    with torch.no_grad():
        causal = load_tiny()(input_ids=inputs, labels=labels).loss
    n_labels = int((labels[:, 1:] != -100).sum())
    checks = {
        "explicit_shift_vs_transformers_loss_abs": abs(float(explicit) - float(loss)),
        "loss_float32_vs_float64_abs": abs(float(loss) - float(loss64)),
        "grad_q_proj_0_float32_vs_float64_rel": rel(gq, gq64),
        "grad_embed_float32_vs_float64_rel": rel(ge, ge64),
        "causal_minus_bidirectional_loss": float(causal) - float(loss),
        "labelled_positions_after_shift": n_labels,
        "selected_total": int((labels != -100).sum()),
        "replaced_by_mask": int(((labels != -100) & (inputs == MASK)).sum()),
        "unchanged": int(((labels != -100) & (inputs == ids)).sum()),
    }
    assert checks["explicit_shift_vs_transformers_loss_abs"] < 1e-5, checks
    assert checks["loss_float32_vs_float64_abs"] < 1e-5, checks
    assert checks["grad_q_proj_0_float32_vs_float64_rel"] < 1e-4, checks
    assert checks["grad_embed_float32_vs_float64_rel"] < 1e-4, checks
    assert abs(checks["causal_minus_bidirectional_loss"]) > 1e-4, checks
    assert n_labels >= 5, checks
    assert not bool(((ids == BOS) | (ids == MASK))[labels != -100].any()), "a special token was selected"

    os.makedirs(OUT, exist_ok=True)
    tensors = {"input_ids": inputs, "labels": labels, "original_ids": ids, "loss": loss.reshape(()),
               "grad_q_proj_0": gq, "grad_embed": ge}
    save_file({k: v.detach().to(torch.float32).contiguous() for k, v in tensors.items()},
              os.path.join(OUT, "mntp.safetensors"))
    with open(os.path.join(OUT, "mntp.json"), "w", encoding="utf-8") as f:
        json.dump({
            "base_model": TINY_REL,
            "seed": SEED, "mask_token": MASK, "special_ids": [BOS, MASK], "mlm_probability": PROBABILITY,
            "mode": "bidirectional: 4-D additive attention mask of zeros [B,1,T,T]; labels shifted inside "
                    "LlamaForCausalLM (logits at i-1 predict label i); mean cross-entropy over labelled positions",
            "input_ids": inputs.tolist(), "labels": labels.tolist(), "original_ids": ids.tolist(),
            "loss_value": float(loss),
            "checks": checks,
        }, f, indent=1)
        f.write("\n")
    print(f"mntp: loss {float(loss):.6f} (float64 {float(loss64):.6f}, causal {float(causal):.6f}); "
          f"{n_labels} labelled positions; grads float32 vs float64 rel q {checks['grad_q_proj_0_float32_vs_float64_rel']:.1e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
