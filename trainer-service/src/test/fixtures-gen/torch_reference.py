#!/usr/bin/env python3
"""An independent PyTorch implementation of the Llama-family forward pass with LoRA (written from
transformers' modeling_llama / modeling_qwen2 / modeling_qwen3 and PEFT's LoRA layer), used once
to make the parity fixtures the Java tests compare against.

For each architecture it writes, under ../resources/parity/<arch>/:
  model/config.json, model/model.safetensors     a small random model (llama in BF16, qwen2 in F16,
                                                 qwen3 in F32, so every reader path is exercised)
  adapter/adapter_config.json, adapter/adapter_model.safetensors   a random non-zero LoRA adapter
  batch.json                                     ids and labels of two rows (the second padded)
  expected.safetensors                           logits [B,T,V], the summed loss and its token
                                                 count, and the gradient of the summed loss for
                                                 every LoRA parameter

Needs only torch (Debian: python3-torch). Run from this directory: python3 torch_reference.py
"""
import json
import math
import os
import struct

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "resources", "parity")
DTYPES = {torch.float32: ("F32", 4), torch.float16: ("F16", 2), torch.bfloat16: ("BF16", 2)}


def write_safetensors(path, tensors, metadata=None):
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name in sorted(tensors):
        t = tensors[name].contiguous()
        code, width = DTYPES[t.dtype]
        data = t.view(torch.int16).numpy().tobytes() if width == 2 else t.numpy().tobytes()
        header[name] = {"dtype": code, "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    raw = json.dumps(header).encode()
    raw += b" " * ((8 - len(raw) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for b in blobs:
            f.write(b)


def rms_norm(x, w, eps):
    variance = x.pow(2).mean(-1, keepdim=True)
    return w * (x * torch.rsqrt(variance + eps))


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class Reference:
    def __init__(self, cfg, weights, lora, scaling):
        self.c, self.w, self.lora, self.scaling = cfg, weights, lora, scaling

    def linear(self, x, layer, block, module):
        name = f"model.layers.{layer}.{block}.{module}"
        y = F.linear(x, self.w[name + ".weight"], self.w.get(name + ".bias"))
        key = f"base_model.model.{name}"
        if key + ".lora_A.weight" in self.lora:
            a, b = self.lora[key + ".lora_A.weight"], self.lora[key + ".lora_B.weight"]
            y = y + self.scaling * F.linear(F.linear(x, a), b)
        return y

    def forward(self, ids, positions, segments):
        c, w = self.c, self.w
        B, T = ids.shape
        nh, nkv, d = c["num_attention_heads"], c["num_key_value_heads"], c["head_dim"]
        x = F.embedding(ids, w["model.embed_tokens.weight"])
        inv_freq = 1.0 / (c["rope_theta"] ** (torch.arange(0, d, 2, dtype=torch.int64).float() / d))
        freqs = positions[:, :, None].float() * inv_freq[None, None, :]
        emb = torch.cat((freqs, freqs), dim=-1)
        cos, sin = emb.cos()[:, None], emb.sin()[:, None]
        idx = torch.arange(T)
        allowed = (segments[:, :, None] == segments[:, None, :]) & (idx[None, :] <= idx[:, None])[None]
        allowed = allowed | torch.eye(T, dtype=torch.bool)[None]
        mask = torch.zeros(B, T, T).masked_fill(~allowed, float("-inf"))[:, None]
        for i in range(c["num_hidden_layers"]):
            p = f"model.layers.{i}."
            h = rms_norm(x, w[p + "input_layernorm.weight"], c["rms_norm_eps"])
            q = self.linear(h, i, "self_attn", "q_proj").view(B, T, nh, d)
            k = self.linear(h, i, "self_attn", "k_proj").view(B, T, nkv, d)
            v = self.linear(h, i, "self_attn", "v_proj").view(B, T, nkv, d)
            if c["model_type"] == "qwen3":
                q = rms_norm(q, w[p + "self_attn.q_norm.weight"], c["rms_norm_eps"])
                k = rms_norm(k, w[p + "self_attn.k_norm.weight"], c["rms_norm_eps"])
            q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
            q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
            rep = nh // nkv
            k = k[:, :, None].expand(B, nkv, rep, T, d).reshape(B, nh, T, d)
            v = v[:, :, None].expand(B, nkv, rep, T, d).reshape(B, nh, T, d)
            scores = q @ k.transpose(2, 3) / math.sqrt(d) + mask
            out = (scores.softmax(-1) @ v).transpose(1, 2).reshape(B, T, nh * d)
            x = x + self.linear(out, i, "self_attn", "o_proj")
            h = rms_norm(x, w[p + "post_attention_layernorm.weight"], c["rms_norm_eps"])
            gate = self.linear(h, i, "mlp", "gate_proj")
            x = x + self.linear(F.silu(gate) * self.linear(h, i, "mlp", "up_proj"), i, "mlp", "down_proj")
        x = rms_norm(x, w["model.norm.weight"], c["rms_norm_eps"])
        head = w["model.embed_tokens.weight"] if c["tie_word_embeddings"] else w["lm_head.weight"]
        return F.linear(x, head)


def make(arch, seed, dtype, targets, tie, bias):
    torch.manual_seed(seed)
    cfg = {"architectures": ["X"], "model_type": arch, "vocab_size": 96, "hidden_size": 64,
           "intermediate_size": 112, "num_hidden_layers": 2, "num_attention_heads": 4,
           "num_key_value_heads": 2, "head_dim": 16, "hidden_act": "silu", "rms_norm_eps": 1e-6,
           "rope_theta": 10000.0, "tie_word_embeddings": tie, "attention_bias": bias,
           "max_position_embeddings": 512, "torch_dtype": "float32"}
    H, I, V, nh, nkv, d = 64, 112, 96, 4, 2, 16
    w = {"model.embed_tokens.weight": torch.randn(V, H) * 0.5, "model.norm.weight": 1 + 0.1 * torch.randn(H)}
    shapes = {"q_proj": (nh * d, H), "k_proj": (nkv * d, H), "v_proj": (nkv * d, H),
              "o_proj": (H, nh * d), "gate_proj": (I, H), "up_proj": (I, H), "down_proj": (H, I)}
    for i in range(2):
        p = f"model.layers.{i}."
        w[p + "input_layernorm.weight"] = 1 + 0.1 * torch.randn(H)
        w[p + "post_attention_layernorm.weight"] = 1 + 0.1 * torch.randn(H)
        for m, shape in shapes.items():
            block = "mlp" if m in ("gate_proj", "up_proj", "down_proj") else "self_attn"
            w[p + f"{block}.{m}.weight"] = torch.randn(*shape) / math.sqrt(shape[1])
            if bias and m in ("q_proj", "k_proj", "v_proj"):
                w[p + f"{block}.{m}.bias"] = 0.1 * torch.randn(shape[0])
        if arch == "qwen3":
            w[p + "self_attn.q_norm.weight"] = 1 + 0.1 * torch.randn(d)
            w[p + "self_attn.k_norm.weight"] = 1 + 0.1 * torch.randn(d)
    if not tie:
        w["lm_head.weight"] = torch.randn(V, H) / math.sqrt(H)
    # Round to the stored dtype, so the reference computes with exactly the values on disk.
    stored = {k: t.to(dtype) for k, t in w.items()}
    w = {k: t.float() for k, t in stored.items()}

    r, alpha = 4, 8.0
    lora = {}
    for i in range(2):
        for m in targets:
            block = "mlp" if m in ("gate_proj", "up_proj", "down_proj") else "self_attn"
            key = f"base_model.model.model.layers.{i}.{block}.{m}"
            out_dim, in_dim = shapes[m]
            lora[key + ".lora_A.weight"] = (torch.randn(r, in_dim) * 0.2).requires_grad_()
            lora[key + ".lora_B.weight"] = (torch.randn(out_dim, r) * 0.2).requires_grad_()

    ids = torch.randint(0, V, (2, 10))
    labels = ids.clone()
    labels[0, :4] = -100
    labels[1, :3] = -100
    labels[1, 7:] = -100
    positions = torch.stack([torch.arange(10), torch.arange(10)])
    segments = torch.ones(2, 10, dtype=torch.int64)
    segments[1, 7:] = 0  # the second row is 7 tokens, then padding
    ids[1, 7:] = 0
    positions[1, 7:] = 0

    model = Reference(cfg, w, lora, alpha / r)
    logits = model.forward(ids, positions, segments)
    shift_logits = logits[:, :-1].reshape(-1, V)
    shift_labels = labels[:, 1:].reshape(-1)
    loss_sum = F.cross_entropy(shift_logits, shift_labels, ignore_index=-100, reduction="sum")
    loss_sum.backward()
    count = int((shift_labels != -100).sum())

    base = os.path.join(OUT, arch)
    os.makedirs(os.path.join(base, "model"), exist_ok=True)
    os.makedirs(os.path.join(base, "adapter"), exist_ok=True)
    with open(os.path.join(base, "model", "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    write_safetensors(os.path.join(base, "model", "model.safetensors"), stored, {"format": "pt"})
    with open(os.path.join(base, "adapter", "adapter_config.json"), "w") as f:
        json.dump({"peft_type": "LORA", "task_type": "CAUSAL_LM", "r": r, "lora_alpha": alpha,
                   "lora_dropout": 0.0, "target_modules": targets, "bias": "none",
                   "use_rslora": False, "base_model_name_or_path": "parity/" + arch}, f, indent=2)
    write_safetensors(os.path.join(base, "adapter", "adapter_model.safetensors"),
                      {k: v.detach() for k, v in lora.items()}, {"format": "pt"})
    with open(os.path.join(base, "batch.json"), "w") as f:
        json.dump({"input_ids": ids.tolist(), "labels": labels.tolist(), "lengths": [10, 7]}, f)
    expected = {"logits": logits.detach(), "loss_sum": loss_sum.detach().reshape(1),
                "token_count": torch.tensor([float(count)])}
    for k, v in lora.items():
        expected[k + ".grad"] = v.grad
    write_safetensors(os.path.join(base, "expected.safetensors"), expected)
    print(f"{arch}: loss {loss_sum.item() / count:.6f} over {count} tokens")


if __name__ == "__main__":
    torch.set_num_threads(1)
    make("llama", 1, torch.bfloat16, ["q_proj", "v_proj"], tie=False, bias=False)
    make("qwen2", 2, torch.float16, ["q_proj", "k_proj", "v_proj", "o_proj"], tie=False, bias=True)
    make("qwen3", 3, torch.float32, ["down_proj", "gate_proj", "k_proj", "o_proj", "q_proj", "up_proj", "v_proj"], tie=True, bias=False)
