#!/usr/bin/env python3
"""Hostile safetensors headers, and whether the safetensors package opens each file, for
SafetensorsHeaderTest: the Java reader must accept exactly what the package accepts.
Writes ../resources/safetensors-headers/<case>.safetensors and expected.json.
Run: python3 safetensors_headers.py (needs safetensors and torch)."""
import json
import os
import struct

from safetensors import safe_open

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "resources",
                   "safetensors-headers")


def f32(n):
    return struct.pack("<%df" % n, *[0.5 * i for i in range(n)])


def file(header, data):
    text = json.dumps(header, separators=(",", ":")).encode()
    return struct.pack("<Q", len(text)) + text + data


def t(dtype, shape, begin, end):
    return {"dtype": dtype, "shape": shape, "data_offsets": [begin, end]}


CASES = {
    "valid": file({"a": t("F32", [2, 2], 0, 16), "b": t("F32", [3], 16, 28),
                   "__metadata__": {"format": "pt"}}, f32(7)),
    "valid-scalar-and-empty": file({"s": t("F32", [], 0, 4), "e": t("F32", [0, 5], 4, 4)}, f32(1)),
    "valid-out-of-order-keys": file({"b": t("F32", [3], 16, 28), "a": t("F32", [4], 0, 16)},
                                    f32(7)),
    "valid-i64": file({"i": t("I64", [2], 0, 16)}, struct.pack("<2q", 3, -4)),
    # 2^62 + 4 elements of 4 bytes: 2^64 + 16, which wraps to the 16 bytes present.
    "shape-product-overflows": file({"a": t("F32", [2**62 + 4], 0, 16)}, f32(4)),
    "shape-product-overflows-2d": file({"a": t("F32", [2**31 + 2, 2**31 - 2, 2], 0, 16)},
                                       f32(4)),
    "gap-between-tensors": file({"a": t("F32", [4], 0, 16), "b": t("F32", [1], 20, 24)},
                                f32(6)),
    "overlapping-tensors": file({"a": t("F32", [4], 0, 16), "b": t("F32", [4], 8, 24)}, f32(6)),
    "first-not-at-zero": file({"a": t("F32", [4], 4, 20)}, f32(5)),
    "trailing-bytes": file({"a": t("F32", [4], 0, 16)}, f32(5)),
    "truncated": file({"a": t("F32", [4], 0, 16)}, f32(2)),
    "span-not-shape": file({"a": t("F32", [3], 0, 16)}, f32(4)),
    "end-before-begin": file({"a": t("F32", [0], 16, 0)}, f32(4)),
    "negative-dimension": file({"a": t("F32", [-4], 0, 16)}, f32(4)),
    "fractional-dimension": file({"a": t("F32", [2.5], 0, 16)}, f32(4)),
    "string-dimension": file({"a": t("F32", ["4"], 0, 16)}, f32(4)),
    "unknown-dtype": file({"a": t("F128", [1], 0, 16)}, f32(4)),
    "three-offsets": file({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16, 16]}},
                          f32(4)),
    "metadata-not-string": file({"__metadata__": {"step": 3}, "a": t("F32", [4], 0, 16)},
                                f32(4)),
    "header-not-object": file([t("F32", [4], 0, 16)], f32(4)),
}


def opens(path):
    try:
        with safe_open(path, framework="pt") as f:
            for k in f.keys():
                f.get_tensor(k)
        return True
    except Exception as e:  # noqa: BLE001 - any refusal is what is recorded
        return str(e).splitlines()[0][:200]


os.makedirs(OUT, exist_ok=True)
expected = {}
for name, data in CASES.items():
    path = os.path.join(OUT, name + ".safetensors")
    with open(path, "wb") as out:
        out.write(data)
    result = opens(path)
    expected[name] = {"accepted": result is True, "python": "ok" if result is True else result}
    print(name, expected[name])
with open(os.path.join(OUT, "expected.json"), "w") as out:
    json.dump(expected, out, indent=1, sort_keys=True)
    out.write("\n")
