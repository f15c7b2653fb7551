#!/usr/bin/env python3
"""torch.optim.AdamW on a fixed parameter with fixed gradients, for AdamWParityTest.
Writes ../resources/parity/adamw.json. Run: python3 torch_adamw.py"""
import json
import os

import torch

p = torch.tensor([[0.5, -1.0, 2.0], [0.0, 0.25, -0.75]], requires_grad=True)
grads = [torch.tensor([[0.1, -0.2, 0.3], [0.0, 1.5, -2.5]]),
         torch.tensor([[-0.05, 0.4, 0.0], [1e-3, -0.7, 0.9]]),
         torch.tensor([[0.2, 0.2, -0.2], [0.3, 0.0, 0.05]])]
lrs = [1e-2, 5e-3, 2e-2]
opt = torch.optim.AdamW([p], lr=1e-2, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.1)
after = []
for g, lr in zip(grads, lrs):
    for group in opt.param_groups:
        group["lr"] = lr
    p.grad = g.clone()
    opt.step()
    after.append(p.detach().flatten().tolist())
state = opt.state[p]
out = {"initial": [0.5, -1.0, 2.0, 0.0, 0.25, -0.75], "grads": [g.flatten().tolist() for g in grads],
       "lrs": lrs, "after": after, "exp_avg": state["exp_avg"].flatten().tolist(),
       "exp_avg_sq": state["exp_avg_sq"].flatten().tolist()}
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "resources", "parity",
                       "adamw.json"), "w") as f:
    json.dump(out, f)
print(after[-1])
