#!/usr/bin/env python3
"""DeepSeek-V3 renders, ids and labels by transformers and the Rust tokenizer, for
DeepSeekV3LabelParityTest: tool calls whose arguments reach the template as text (the form its
string concatenation needs), given as text and as JSON objects (passed as json.dumps of the
object, ensure_ascii=False, which is the text the Java importer makes of an object), and what
transformers does with the parsed object (a TypeError, recorded).

Spans follow the label contract as render_reference.py computes it for Qwen3, with DeepSeek's
end-of-turn token; a trained turn that would start inside the previous one is refused.
Writes ../resources/fixtures/deepseek-v3-label-fixtures.json.
Run: python3 deepseek_v3_reference.py (needs transformers and tokenizers)."""
import json
import os

import transformers
from tokenizers import Tokenizer, __version__ as tokenizers_version
from transformers import AutoTokenizer

HERE = os.path.dirname(os.path.abspath(__file__))
DIR = os.path.join(HERE, "..", "..", "..", "..", "tokenizers", "deepseek-v3")
OUT = os.path.join(HERE, "..", "resources", "fixtures", "deepseek-v3-label-fixtures.json")
EOT = "<｜end▁of▁sentence｜>"


def call(cid, name, arguments):
    return {"id": cid, "type": "function", "function": {"name": name, "arguments": arguments}}


WEATHER = '{"city": "Paris", "unit": "celsius"}'
CASES = [
    {"id": "chat", "policy": "all", "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hello!"},
        {"role": "assistant", "content": "Hi. How can I help?"},
        {"role": "user", "content": "记下：周五开会。"},
        {"role": "assistant", "content": "Noted: meeting on Friday."}]},
    {"id": "two-calls-text", "policy": "all", "messages": [
        {"role": "user", "content": "Weather and time in Paris?"},
        {"role": "assistant", "content": None, "tool_calls": [
            call("c1", "get_weather", WEATHER),
            call("c2", "get_time", '{"city":"Paris"}')]},
        {"role": "tool", "tool_call_id": "c1", "content": "18 C, cloudy"},
        {"role": "tool", "tool_call_id": "c2", "content": "14:05"},
        {"role": "assistant", "content": "18 °C and cloudy; it is 14:05."}]},
    {"id": "two-calls-object", "policy": "all", "messages": [
        {"role": "user", "content": "Weather and time in Paris?"},
        {"role": "assistant", "content": None, "tool_calls": [
            call("c1", "get_weather", {"city": "Paris", "unit": "celsius", "days": [1, 2.5]}),
            call("c2", "get_time", {"city": "Zürich"})]},
        {"role": "tool", "tool_call_id": "c1", "content": "18 C, cloudy"},
        {"role": "tool", "tool_call_id": "c2", "content": "14:05"},
        {"role": "assistant", "content": "18 °C and cloudy; it is 14:05."}]},
    {"id": "one-call-last", "policy": "last", "messages": [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": None, "tool_calls": [call("c1", "get_weather", WEATHER)]},
        {"role": "tool", "tool_call_id": "c1", "content": "18 C"},
        {"role": "assistant", "content": "18 °C."}]},
    {"id": "one-call-all", "policy": "all", "messages": [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": None, "tool_calls": [call("c1", "get_weather", WEATHER)]},
        {"role": "tool", "tool_call_id": "c1", "content": "18 C"},
        {"role": "assistant", "content": "18 °C."}]},
]


def as_text(messages):
    """The messages with every call's arguments as text: objects through json.dumps."""
    out = []
    for m in messages:
        m = dict(m)
        if m.get("tool_calls"):
            calls = []
            for c in m["tool_calls"]:
                a = c["function"]["arguments"]
                text = a if isinstance(a, str) else json.dumps(a, ensure_ascii=False)
                calls.append({**c, "function": {**c["function"], "arguments": text}})
            m["tool_calls"] = calls
        out.append(m)
    return out


def as_objects(messages):
    out = []
    for m in messages:
        m = dict(m)
        if m.get("tool_calls"):
            m["tool_calls"] = [{**c, "function": {**c["function"], "arguments": json.loads(
                c["function"]["arguments"]) if isinstance(c["function"]["arguments"], str)
                else c["function"]["arguments"]}} for c in m["tool_calls"]]
        out.append(m)
    return out


def spans(tok, messages, policy):
    render = lambda ms, agp: tok.apply_chat_template(ms, tokenize=False,
                                                     add_generation_prompt=agp)
    full = render(messages, False)
    assistants = [i for i, m in enumerate(messages) if m["role"] == "assistant"]
    out = []
    previous_end = 0
    for i in assistants:
        if not (policy == "all" or i == assistants[-1]):
            continue
        prefix = render(messages[:i], True)
        assert full.startswith(prefix), "prefix"
        start = len(prefix)
        if start < previous_end:
            return full, None, ("assistant message %d would start inside the previous trained"
                                " turn" % i)
        end = full.index(EOT, start) + len(EOT)
        out.append([start, end])
        previous_end = end
    return full, out, None


def main():
    tok = AutoTokenizer.from_pretrained(DIR)
    rust = Tokenizer.from_file(os.path.join(DIR, "tokenizer.json"))
    fast = transformers.PreTrainedTokenizerFast(tokenizer_file=os.path.join(DIR,
                                                                          "tokenizer.json"))
    cases = []
    for c in CASES:
        messages = as_text(c["messages"])
        case = {"id": c["id"], "policy": c["policy"], "messages": c["messages"]}
        if any(m.get("tool_calls") for m in messages):
            try:
                tok.apply_chat_template(as_objects(messages), tokenize=False)
                case["object_arguments"] = "rendered"
            except Exception as e:  # noqa: BLE001 - what transformers does is the point
                case["object_arguments"] = type(e).__name__ + ": " + str(e)
        full, trained, refused = spans(tok, messages, c["policy"])
        case["render"] = full
        if refused:
            case["refused"] = refused
            cases.append(case)
            continue
        encoding = rust.encode(full, add_special_tokens=False)
        # transformers 5 loads this directory as a LlamaTokenizer with its own Metaspace
        # pre-tokenizer (it drops CJK text); tokenizer.json's pipeline, which the Rust tokenizer
        # runs, is DeepSeek's own, so the ids come from it, checked through transformers' fast
        # wrapper of the same file.
        assert encoding.ids == fast(full, add_special_tokens=False)["input_ids"], c["id"]
        labels = []
        for token_id, (s, e) in zip(encoding.ids, encoding.offsets):
            hit = any((s < b and e > a) if e > s else (a <= s < b) for a, b in trained)
            labels.append(token_id if hit else -100)
        case.update(input_ids=encoding.ids, labels=labels)
        cases.append(case)
    with open(OUT, "w", encoding="utf-8") as f:
        json.dump({"generator": "deepseek_v3_reference.py, transformers " + transformers.__version__
                   + ", tokenizers " + tokenizers_version, "cases": cases}, f,
                  ensure_ascii=False, indent=1)
    for c in cases:
        print(c["id"], c.get("refused") or (len(c["input_ids"]), sum(l != -100 for l in c["labels"])),
              c.get("object_arguments", ""))


if __name__ == "__main__":
    main()
