#!/usr/bin/env python3
"""TRL's KTOTrainer on a fixed batch, run once to make the KTO parity fixture the Java test
(KtoParityTest) compares against.

The model and adapter are the qwen3 parity fixture (../resources/parity/qwen3: a small random
Qwen3 in F32, a random non-zero LoRA on every linear module, made by torch_reference.py), loaded
with transformers and PEFT. The reference model is the base model with the adapter switched off:
KTOTrainer does that when it is given the base model and a peft_config (it would instead keep a
frozen copy of the adapter as the reference when given a PeftModel, which for a fresh adapter,
B = 0, is the same thing). So the trainer is made with a peft_config, and the fixture adapter's
non-zero weights are then loaded into the adapter it made, so that policy and reference differ. The batch is five examples (three
desirable, two undesirable) of random token ids; the KL completions are the batch's completions
rotated by one, as KTOTrainer's dataset preparation makes them. The loss is KTOTrainer's own
compute_loss on its own data collator's batch; the gradients are its backward.

Writes ../resources/parity/kto/batch.json (the examples and the settings) and
../resources/parity/kto/expected.safetensors (the loss, the KL estimate, each example's policy
and reference log-probabilities and the KL ones, and every LoRA parameter's gradient, by its PEFT
key).

Needs torch, transformers, peft and trl (pip: trl==1.13.0, peft==0.21.0). Run from this
directory: python3 trl_kto_reference.py
"""
import json
import os
import tempfile

import torch
from datasets import Dataset
from peft import LoraConfig, set_peft_model_state_dict
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, AutoTokenizer
from trl import KTOConfig, KTOTrainer

from torch_reference import write_safetensors

HERE = os.path.dirname(os.path.abspath(__file__))
PARITY = os.path.join(HERE, "..", "resources", "parity")
TOKENIZER = os.path.join(HERE, "..", "..", "..", "..", "tokenizers", "qwen3")
BETA, DESIRABLE_WEIGHT, UNDESIRABLE_WEIGHT = 0.1, 1.0, 1.5


def main():
    torch.manual_seed(26)
    torch.set_num_threads(1)
    base = AutoModelForCausalLM.from_pretrained(os.path.join(PARITY, "qwen3", "model"),
                                                dtype=torch.float32)
    with open(os.path.join(PARITY, "qwen3", "adapter", "adapter_config.json")) as f:
        adapter = json.load(f)
    peft_config = LoraConfig(r=adapter["r"], lora_alpha=adapter["lora_alpha"], lora_dropout=0.0,
                             target_modules=adapter["target_modules"], task_type="CAUSAL_LM")
    tokenizer = AutoTokenizer.from_pretrained(TOKENIZER)
    # The tiny model has 96 tokens: pad with token 0 (padding is masked out either way).
    tokenizer.pad_token = tokenizer.convert_ids_to_tokens(0)

    prompts = [[int(t) for t in torch.randint(1, 96, (n,))] for n in (6, 4, 7, 5, 3)]
    completions = [[int(t) for t in torch.randint(1, 96, (n,))] for n in (3, 5, 2, 4, 3)]
    labels = [True, False, True, True, False]
    kl_completions = [completions[-1]] + completions[:-1]

    with tempfile.TemporaryDirectory() as out:
        args = KTOConfig(output_dir=out, beta=BETA, desirable_weight=DESIRABLE_WEIGHT,
                         undesirable_weight=UNDESIRABLE_WEIGHT,
                         per_device_train_batch_size=len(labels), report_to=[], use_cpu=True,
                         max_length=None, train_sampling_strategy="sequential")
        # The dataset only satisfies the constructor; the batch below is built from ids.
        dataset = Dataset.from_dict({"prompt": ["a", "b"], "completion": ["c", "d"],
                                     "label": [True, False]})
        trainer = KTOTrainer(model=base, args=args, train_dataset=dataset,
                             processing_class=tokenizer, peft_config=peft_config)
        model = trainer.model
        assert list(model.peft_config) == ["default"], model.peft_config
        set_peft_model_state_dict(model, load_file(os.path.join(PARITY, "qwen3", "adapter",
                                                                "adapter_model.safetensors")))
        batch = trainer.data_collator([
            {"prompt_ids": p, "completion_ids": c, "KL_completion_ids": k, "label": l}
            for p, c, k, l in zip(prompts, completions, kl_completions, labels)])
        model.train()
        loss = trainer.compute_loss(model, batch)
        loss.backward()
        metrics = {k: v[-1] for k, v in trainer._metrics["train"].items() if v}

        # Per-example log-probabilities, for a readable failure: policy and reference, matched
        # and KL, as the trainer computes them (sums over completion tokens).
        def logps(ids, mask):
            with torch.no_grad():
                logits = model(input_ids=ids, attention_mask=(ids * 0 + 1)).logits[:, :-1]
                lp = torch.log_softmax(logits, -1).gather(-1, ids[:, 1:, None])[..., 0]
                return (lp * mask[:, 1:]).sum(-1)

        def all_logps(prefix):
            ids, mask = batch[prefix + "input_ids"], batch[prefix + "completion_mask"]
            attn = batch[prefix + "attention_mask"]
            rows = []
            for b in range(ids.shape[0]):
                n = int(attn[b].sum())
                rows.append(logps(ids[b:b + 1, :n], mask[b:b + 1, :n])[0])
            return torch.stack(rows)

        model.eval()
        policy, policy_kl = all_logps(""), all_logps("KL_")
        with model.disable_adapter():
            reference, reference_kl = all_logps(""), all_logps("KL_")

    expected = {"loss": loss.detach().reshape(1), "kl": torch.tensor([metrics["kl"]]),
                "policy_logps": policy, "reference_logps": reference,
                "policy_kl_logps": policy_kl, "reference_kl_logps": reference_kl}
    for name, p in model.named_parameters():
        if p.requires_grad:
            expected[name.replace(".default.weight", ".weight") + ".grad"] = p.grad.detach()
    os.makedirs(os.path.join(PARITY, "kto"), exist_ok=True)
    write_safetensors(os.path.join(PARITY, "kto", "expected.safetensors"), expected)
    with open(os.path.join(PARITY, "kto", "batch.json"), "w") as f:
        json.dump({"prompt_ids": prompts, "completion_ids": completions, "labels": labels,
                   "beta": BETA, "desirable_weight": DESIRABLE_WEIGHT,
                   "undesirable_weight": UNDESIRABLE_WEIGHT, "trl": "1.13.0", "peft": "0.21.0",
                   "metrics": metrics}, f, indent=1)
    print(f"KTO loss {loss.item():.8f}, kl {metrics['kl']:.8f}, metrics {metrics}")


if __name__ == "__main__":
    main()
