#!/usr/bin/env python3
"""Golden files for the GGUF reader (seeded; gguf-py 0.19.0 is the reference).

Writes Tests/Goldens/gguf/:
  blocks-v3.gguf    metadata of every value type (and arrays of several), and one [2, 512]
                    tensor per supported type (F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0,
                    Q4_K, Q5_K, Q6_K) made of random block bytes with finite scales
  blocks-v2.gguf    the same file with the version field set to 2 (v2 and v3 share the layout)
  expected.safetensors   gguf-py's dequantisation of each tensor, named like the tensor

    source scripts/python-env.sh && python3 scripts/make_goldens_gguf.py
"""
import os

import numpy as np
import gguf
from gguf import GGMLQuantizationType as Q
from gguf import quants
from safetensors.numpy import save_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "Tests", "Goldens", "gguf")
rng = np.random.default_rng(20261129)


def half_bytes(values):
    return np.asarray(values, dtype=np.float16).view(np.uint8)


def random_blocks(qtype, nblocks):
    """Random bytes in the layout of `qtype`, with its fp16 scales overwritten by small finite
    values (random bytes could encode NaN or huge scales)."""
    elems, size = gguf.GGML_QUANT_SIZES[qtype]
    raw = rng.integers(0, 256, size=(nblocks, size), dtype=np.uint8)
    scale = lambda n: half_bytes(rng.uniform(-0.05, 0.05, size=(nblocks, n))).reshape(nblocks, 2 * n)
    if qtype in (Q.Q4_0, Q.Q5_0, Q.Q8_0):
        raw[:, 0:2] = scale(1)
    elif qtype in (Q.Q4_1, Q.Q5_1, Q.Q4_K, Q.Q5_K):
        raw[:, 0:4] = scale(2)
    elif qtype == Q.Q6_K:
        raw[:, size - 2:size] = scale(1)
    return raw


def main():
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, "blocks-v3.gguf")
    w = gguf.GGUFWriter(path, "llama")
    w.add_uint8("test.u8", 200)
    w.add_int8("test.i8", -100)
    w.add_uint16("test.u16", 60000)
    w.add_int16("test.i16", -30000)
    w.add_uint32("test.u32", 4000000000)
    w.add_int32("test.i32", -2000000000)
    w.add_float32("test.f32", 1.5)
    w.add_bool("test.bool", True)
    w.add_string("test.string", "héllo ✓")
    w.add_uint64("test.u64", 2**60)
    w.add_int64("test.i64", -(2**60))
    w.add_float64("test.f64", 0.1)
    w.add_array("test.strings", ["a", "bc", "<|im_end|>"])
    w.add_array("test.ints", [1, -2, 3])
    w.add_array("test.floats", [0.5, 0.25])
    expected = {}
    data = rng.standard_normal((2, 512)).astype(np.float32)
    w.add_tensor("f32", data)
    expected["f32"] = data
    f16 = data.astype(np.float16)
    w.add_tensor("f16", f16)
    expected["f16"] = f16.astype(np.float32)
    bf16 = quants.quantize(data, Q.BF16)
    w.add_tensor("bf16", bf16, raw_shape=bf16.shape, raw_dtype=Q.BF16)
    expected["bf16"] = quants.dequantize(bf16, Q.BF16).astype(np.float32)
    for qtype in (Q.Q4_0, Q.Q4_1, Q.Q5_0, Q.Q5_1, Q.Q8_0, Q.Q4_K, Q.Q5_K, Q.Q6_K):
        elems, size = gguf.GGML_QUANT_SIZES[qtype]
        nblocks = 2 * 512 // elems
        raw = random_blocks(qtype, nblocks).reshape(2, 512 // elems * size)
        name = qtype.name.lower()
        w.add_tensor(name, raw, raw_shape=raw.shape, raw_dtype=qtype)
        expected[name] = quants.dequantize(raw, qtype).astype(np.float32).reshape(2, 512)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    blob = bytearray(open(path, "rb").read())
    assert blob[4:8] == (3).to_bytes(4, "little")
    blob[4:8] = (2).to_bytes(4, "little")
    open(os.path.join(OUT, "blocks-v2.gguf"), "wb").write(bytes(blob))
    save_file({k: np.ascontiguousarray(v) for k, v in expected.items()}, os.path.join(OUT, "expected.safetensors"))
    print("wrote", sorted(os.listdir(OUT)))


if __name__ == "__main__":
    main()
