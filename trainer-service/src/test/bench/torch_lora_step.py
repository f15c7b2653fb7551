#!/usr/bin/env python3
"""PyTorch eager reference for LoraStepBenchmark: the same model shapes, batch, LoRA and AdamW,
with the forward pass of ../fixtures-gen/torch_reference.py. Prints the median step time.

  python3 torch_lora_step.py [threads] [steps]     (Debian python3-torch with OpenBLAS)
"""
import math
import os
import resource
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures-gen"))
from torch_reference import Reference  # noqa: E402


def main():
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    steps = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    H, I, V, L, nh, nkv, d = 512, 1536, 32000, 8, 8, 4, 64
    cfg = {"model_type": "llama", "num_attention_heads": nh, "num_key_value_heads": nkv,
           "head_dim": d, "rope_theta": 10000.0, "rms_norm_eps": 1e-6, "num_hidden_layers": L,
           "tie_word_embeddings": False}
    shapes = {"q_proj": (nh * d, H), "k_proj": (nkv * d, H), "v_proj": (nkv * d, H),
              "o_proj": (H, nh * d), "gate_proj": (I, H), "up_proj": (I, H), "down_proj": (H, I)}
    w = {"model.embed_tokens.weight": torch.randn(V, H) * 0.02, "model.norm.weight": torch.ones(H),
         "lm_head.weight": torch.randn(V, H) * 0.02}
    lora = {}
    for i in range(L):
        p = f"model.layers.{i}."
        w[p + "input_layernorm.weight"] = torch.ones(H)
        w[p + "post_attention_layernorm.weight"] = torch.ones(H)
        for m, shape in shapes.items():
            block = "mlp" if m in ("gate_proj", "up_proj", "down_proj") else "self_attn"
            w[p + f"{block}.{m}.weight"] = torch.randn(*shape) * 0.02
            if m in ("q_proj", "v_proj"):
                key = f"base_model.model.{p}{block}.{m}"
                a = torch.empty(8, shape[1])
                torch.nn.init.kaiming_uniform_(a, a=math.sqrt(5))
                lora[key + ".lora_A.weight"] = a.requires_grad_()
                lora[key + ".lora_B.weight"] = torch.zeros(shape[0], 8).requires_grad_()
    model = Reference(cfg, w, lora, 16 / 8)
    opt = torch.optim.AdamW(list(lora.values()), lr=1e-4)
    B, T = 2, 256
    ids = torch.randint(0, V, (B, T))
    positions = torch.arange(T).repeat(B, 1)
    segments = torch.ones(B, T, dtype=torch.int64)
    times = []
    for s in range(-2, steps):
        start = time.perf_counter()
        logits = model.forward(ids, positions, segments)
        loss = F.cross_entropy(logits[:, :-1].reshape(-1, V), ids[:, 1:].reshape(-1), reduction="sum")
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if s >= 0:
            times.append(time.perf_counter() - start)
    median = sorted(times)[len(times) // 2]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    print(f"PyTorch {torch.__version__} eager, {threads} threads: median step {median:.3f} s, "
          f"{B * T / median:.0f} tokens/s (steps: {[round(t, 3) for t in times]}), peak RSS {peak} MiB")


if __name__ == "__main__":
    main()
