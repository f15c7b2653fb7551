#!/usr/bin/env python3
"""Tokenizes the Qwen3 renders made by render_reference.py with the Rust Hugging Face tokenizer
(the `tokenizers` package, which binds it) and labels every token whose character span overlaps
a trained span and no excluded (left-out reasoning) span: labels[i] = ids[i] there, -100
elsewhere. A conversation the template refuses
is written as refused, with the template's error.

Writes ../resources/fixtures/qwen3-label-fixtures.json.  pip install tokenizers==0.23.2
"""
import json
import os

from tokenizers import Tokenizer, __version__ as tokenizers_version

HERE = os.path.dirname(os.path.abspath(__file__))
RES = os.path.join(HERE, "..", "resources")


def main():
    tokenizer = Tokenizer.from_file(os.path.join(HERE, "..", "..", "..", "..", "tokenizers",
                                                 "qwen3", "tokenizer.json"))
    with open(os.path.join(HERE, "qwen3-spans.json"), encoding="utf-8") as f:
        cases = json.load(f)
    out = []
    for c in cases:
        case = {"id": c["id"], "policy": c["policy"], "reasoning": c["reasoning"]}
        if "refused" in c:
            case["refused"] = c["refused"]
            out.append(case)
            continue
        encoding = tokenizer.encode(c["render"], add_special_tokens=False)
        labels = []
        def overlaps(s, e, spans):
            return any((s < b and e > a) if e > s else (a <= s < b) for a, b in spans)

        for token_id, (s, e) in zip(encoding.ids, encoding.offsets):  # code points, [s, e)
            trained = overlaps(s, e, c["spans"]) and not overlaps(s, e, c["excluded"])
            labels.append(token_id if trained else -100)
        case.update(render=c["render"], input_ids=encoding.ids, labels=labels)
        out.append(case)
    with open(os.path.join(RES, "fixtures", "qwen3-label-fixtures.json"), "w",
              encoding="utf-8") as f:
        json.dump({"generator": "tokenize_reference.py, tokenizers " + tokenizers_version,
                   "cases": out}, f, ensure_ascii=False, indent=1)
    print(f"{len(out)} label fixtures")


if __name__ == "__main__":
    main()
