#!/usr/bin/env python3
"""Renders the test conversations with Python jinja2, configured exactly as transformers
configures it for chat templates (ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks,
loopcontrols, its tojson, raise_exception, strftime_now, the {% generation %} tag), and computes
the assistant spans of the label contract the simple way: a turn's span starts where
render(messages[:i], add_generation_prompt=True) ends and runs through the next end-of-turn token.

Writes ../resources/fixtures/render-fixtures.json. Needs only jinja2 (Debian: python3-jinja2).
Run from this directory:  python3 render_reference.py && node tokenize_reference.js
"""
import json
import os
from datetime import datetime

import jinja2
from jinja2 import nodes
from jinja2.ext import Extension
from jinja2.sandbox import ImmutableSandboxedEnvironment

HERE = os.path.dirname(os.path.abspath(__file__))
RES = os.path.join(HERE, "..", "resources")
FIXED_NOW = datetime(2026, 11, 29, 10, 15, 30)  # the Java tests use the same fixed clock


class AssistantTracker(Extension):
    # transformers' {% generation %} tag; only the rendering matters here.
    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return nodes.CallBlock(self.call_method("_render", []), [], [], body).set_lineno(lineno)

    def _render(self, caller):
        return caller()


def compile_template(source):
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                          sort_keys=sort_keys)

    def strftime_now(format):
        return FIXED_NOW.strftime(format)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[AssistantTracker, jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env.from_string(source)


def load_templates():
    qwen3_dir = os.path.join(HERE, "..", "..", "..", "..", "tokenizers", "qwen3")
    with open(os.path.join(qwen3_dir, "tokenizer_config.json"), encoding="utf-8") as f:
        qwen3 = json.load(f)
    templates = {"qwen3": (qwen3["chat_template"], {"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"})}
    llama_vars = {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"}
    for name, variables in (("chatml", {"eos_token": "<|im_end|>"}), ("llama3", llama_vars),
                            ("features", {}), ("llama31-tools", llama_vars)):
        with open(os.path.join(RES, "templates", name + ".jinja"), encoding="utf-8") as f:
            templates[name] = (f.read(), variables)
    return templates


def transformers_message(m):
    """A message as a transformers user hands it to apply_chat_template: role and content
    (None for a call-only turn), the optional keys only when set, and each tool call's arguments
    as the parsed JSON object (the fixtures hold them as JSON text, as the Avro event does)."""
    out = {"role": m["role"], "content": m.get("content")}
    if m.get("reasoning_content") is not None:
        out["reasoning_content"] = m["reasoning_content"]
    if m.get("tool_calls") is not None:
        calls = []
        for c in m["tool_calls"]:
            call = {}
            if c.get("id") is not None:
                call["id"] = c["id"]
            call["type"] = c.get("type", "function")
            call["function"] = {"name": c["function"]["name"],
                                "arguments": json.loads(c["function"]["arguments"])}
            calls.append(call)
        out["tool_calls"] = calls
    if m.get("tool_call_id") is not None:
        out["tool_call_id"] = m["tool_call_id"]
    if m.get("name") is not None:
        out["name"] = m["name"]
    return out


def render(template, variables, messages, tools, add_generation_prompt):
    chat = [transformers_message(m) for m in messages]
    return template.render(messages=chat, tools=tools, documents=None,
                           add_generation_prompt=add_generation_prompt, **variables)


def qwen3_spans(template, variables, conversation):
    """Trained character spans [start, end) in code points, per the label contract.

    A turn starts where render(messages[:i], add_generation_prompt=True) ends; where that is not
    a prefix of the full render (Qwen3 drops reasoning before the last user query, which the
    prefix still shows), at the end of the k-th generation header for the k-th assistant turn.
    It runs through the next <|im_end|>. With reasoning "exclude", what the turn's
    reasoning_content adds to the render (between the common prefix and suffix of the renders
    with and without it) is an excluded span: a token overlapping one is not trained."""
    messages = conversation["messages"]
    tools = conversation.get("tools")
    policy = conversation.get("policy", "all")
    exclude_reasoning = conversation.get("reasoning", "train") == "exclude"
    full = render(template, variables, messages, tools, False)
    assistants = [i for i, m in enumerate(messages) if m["role"] == "assistant"]
    spans = []
    excluded = []
    for k, i in enumerate(assistants):
        trained = policy == "all" or i == assistants[-1]
        if messages[i].get("train") is not None:
            trained = messages[i]["train"]
        if not trained:
            continue
        prefix = render(template, variables, messages[:i], tools, True)
        if full.startswith(prefix):
            start = len(prefix)
        else:
            without = render(template, variables, messages[:i], tools, False)
            header = prefix[len(without):]
            at = -1
            for _ in range(k + 1):
                at = full.index(header, at + 1)
            start = at + len(header)
        end = full.index("<|im_end|>", start) + len("<|im_end|>")
        spans.append([start, end])
        if exclude_reasoning and messages[i].get("reasoning_content"):
            other_messages = [dict(m) for m in messages]
            del other_messages[i]["reasoning_content"]
            other = render(template, variables, other_messages, tools, False)
            limit = min(len(full), len(other))
            p = 0
            while p < limit and full[p] == other[p]:
                p += 1
            q = 0
            while q < limit - p and full[len(full) - 1 - q] == other[len(other) - 1 - q]:
                q += 1
            cut_from, cut_to = p, len(full) - q
            if cut_from < cut_to:
                assert start <= cut_from and cut_to <= end, conversation["id"]
                excluded.append([cut_from, cut_to])
    return full, spans, excluded


def main():
    with open(os.path.join(HERE, "conversations.json"), encoding="utf-8") as f:
        source = f.read()
    conversations = json.loads(source)
    with open(os.path.join(RES, "fixtures", "conversations.json"), "w", encoding="utf-8") as f:
        f.write(source)  # the copy the Java tests read
    templates = load_templates()
    renders = []
    for name, (source, variables) in templates.items():
        template = compile_template(source)
        for conversation in conversations:
            for agp in (False, True):
                case = {"template": name, "conversation": conversation["id"],
                        "add_generation_prompt": agp}
                try:
                    case["output"] = render(template, variables, conversation["messages"],
                                            conversation.get("tools"), agp)
                except Exception as e:  # transformers lets a TypeError through too
                    case["error"] = str(e)
                    case["error_type"] = ("TemplateError"
                                          if isinstance(e, jinja2.exceptions.TemplateError)
                                          else type(e).__name__)
                renders.append(case)
    qwen3, qwen3_vars = templates["qwen3"]
    compiled = compile_template(qwen3)
    labels = []
    for conversation in conversations:
        if conversation.get("render_only"):
            continue
        case = {"id": conversation["id"], "policy": conversation.get("policy", "all"),
                "reasoning": conversation.get("reasoning", "train")}
        try:
            full, spans, excluded = qwen3_spans(compiled, qwen3_vars, conversation)
            case.update(render=full, spans=spans, excluded=excluded)
        except Exception as e:  # the template refuses it: so must the labeler
            case["refused"] = type(e).__name__ + ": " + str(e)
        labels.append(case)
    out_dir = os.path.join(RES, "fixtures")
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "render-fixtures.json"), "w", encoding="utf-8") as f:
        json.dump({"generator": "render_reference.py, jinja2 " + jinja2.__version__,
                   "renders": renders}, f, ensure_ascii=False, indent=1)
    with open(os.path.join(HERE, "qwen3-spans.json"), "w", encoding="utf-8") as f:
        json.dump(labels, f, ensure_ascii=False, indent=1)
    print(f"{len(renders)} renders, {len(labels)} label cases")
    check_against_transformers(conversations, renders)


def check_against_transformers(conversations, renders):
    """Where transformers is installed, its own apply_chat_template must give the Qwen3 renders
    above from the same messages: the check that this script passes what transformers passes."""
    try:
        from transformers import AutoTokenizer
    except ImportError:
        print("transformers not installed: skipped the cross-check")
        return
    tokenizer = AutoTokenizer.from_pretrained(os.path.join(HERE, "..", "..", "..", "..",
                                                           "tokenizers", "qwen3"))
    by_id = {c["id"]: c for c in conversations}
    checked = 0
    for case in renders:
        if case["template"] != "qwen3" or case["conversation"] not in by_id:
            continue
        c = by_id[case["conversation"]]
        messages = [transformers_message(m) for m in c["messages"]]
        try:
            out = tokenizer.apply_chat_template(messages, tools=c.get("tools"), tokenize=False,
                                                add_generation_prompt=case["add_generation_prompt"])
        except Exception as e:
            assert "error" in case, (case["conversation"], e)
            checked += 1
            continue
        assert out == case.get("output"), case["conversation"]
        checked += 1
    print(f"transformers' apply_chat_template agrees on {checked} Qwen3 renders")


if __name__ == "__main__":
    main()
