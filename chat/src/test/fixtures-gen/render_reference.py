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
                            ("features", {})):
        with open(os.path.join(RES, "templates", name + ".jinja"), encoding="utf-8") as f:
            templates[name] = (f.read(), variables)
    return templates


def render(template, variables, messages, tools, add_generation_prompt):
    chat = [{"role": m["role"], "content": m["content"]} for m in messages]
    return template.render(messages=chat, tools=tools, documents=None,
                           add_generation_prompt=add_generation_prompt, **variables)


def qwen3_spans(template, variables, conversation):
    """Trained character spans [start, end) in code points, per the label contract."""
    messages = conversation["messages"]
    tools = conversation.get("tools")
    policy = conversation.get("policy", "all")
    full = render(template, variables, messages, tools, False)
    assistants = [i for i, m in enumerate(messages) if m["role"] == "assistant"]
    spans = []
    for i in assistants:
        trained = policy == "all" or i == assistants[-1]
        if messages[i].get("train") is not None:
            trained = messages[i]["train"]
        if not trained:
            continue
        prefix = render(template, variables, messages[:i], tools, True)
        assert full.startswith(prefix), conversation["id"]
        start = len(prefix)
        end = full.index("<|im_end|>", start) + len("<|im_end|>")
        spans.append([start, end])
    return full, spans


def main():
    with open(os.path.join(HERE, "conversations.json"), encoding="utf-8") as f:
        conversations = json.load(f)
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
                except jinja2.exceptions.TemplateError as e:
                    case["error"] = str(e)
                renders.append(case)
    qwen3, qwen3_vars = templates["qwen3"]
    compiled = compile_template(qwen3)
    labels = []
    for conversation in conversations:
        if conversation.get("render_only"):
            continue
        full, spans = qwen3_spans(compiled, qwen3_vars, conversation)
        labels.append({"id": conversation["id"], "policy": conversation.get("policy", "all"),
                       "render": full, "spans": spans})
    out_dir = os.path.join(RES, "fixtures")
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "render-fixtures.json"), "w", encoding="utf-8") as f:
        json.dump({"generator": "render_reference.py, jinja2 " + jinja2.__version__,
                   "renders": renders}, f, ensure_ascii=False, indent=1)
    with open(os.path.join(HERE, "qwen3-spans.json"), "w", encoding="utf-8") as f:
        json.dump(labels, f, ensure_ascii=False, indent=1)
    print(f"{len(renders)} renders, {len(labels)} label cases")


if __name__ == "__main__":
    main()
