#!/usr/bin/env python3
"""TRL SFTTrainer + PEFT peer of `trainer-service train`, for the side-by-side benchmark in
BENCHMARKS.md ("trainer-service: `train` against TRL + PEFT"); trl_vs_train.sh runs both.

It trains on exactly the examples `trainer-service train` does: the labelled lines of
`streams-app mask` (input_ids and labels, labels -100 outside assistant tokens), given to TRL
pre-tokenized with completion_mask = (labels != -100), so TRL neither re-renders nor re-labels.
Settings mirror the Java side: LoRA r/alpha on the same modules, no dropout, AdamW, packing
without padding (padding_free, one packed row of at most --max-length tokens per micro-batch),
assistant-only loss, FP32 or BF16 autocast (--precision), --threads intra-op threads. TRL's own defaults stay as they are:
loss_type "chunked_nll" (the LM head projects only trained positions, in chunks, as the Java
side does) and gradient checkpointing, which --gradient-checkpointing false turns off.

The timed span matches `train`'s own: from loading the model to writing the adapter (model
load, TRL's dataset preparation and packing, training, save). Prints one line starting with
"RESULT" with trained tokens, seconds and trained tokens/s; run it under /usr/bin/time -v for
peak RSS.

  python3 trl_sft.py --model DIR --input masked.jsonl --output DIR [--threads 2] ...
"""
import argparse
import json
import os
import sys
import tempfile
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--input", required=True, help="streams-app mask output (JSONL)")
    ap.add_argument("--output", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--lora-r", type=int, default=8)
    ap.add_argument("--lora-alpha", type=float, default=16)
    ap.add_argument("--target-modules", default="q_proj,v_proj")
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--max-length", type=int, default=2048)
    ap.add_argument("--grad-accum", type=int, default=1,
                    help="packed rows per optimizer step")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--loss-type", default="chunked_nll",
                    help="TRL's default chunked_nll projects only trained positions; nll all")
    ap.add_argument("--precision", choices=["fp32", "bf16"], default="fp32",
                    help="bf16: TRL's bf16=True, CPU autocast (weights stay FP32, matmuls in "
                         "BF16); fp16 autocast is GPU-only in transformers")
    ap.add_argument("--gradient-checkpointing", choices=["true", "false"], default="true",
                    help="TRL's default is true: activations recomputed in backward, less "
                         "memory, more time")
    args = ap.parse_args()

    import torch
    torch.set_num_threads(args.threads)
    import datasets
    import peft
    import transformers
    import trl
    from peft import LoraConfig
    from trl import SFTConfig, SFTTrainer

    ids, masks = [], []
    with open(args.input, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            row = json.loads(line)
            if "error" in row:
                print(f"  line {number}: {row['error']}, skipped", file=sys.stderr)
                continue
            if len(row["input_ids"]) > args.max_length:
                sys.exit(f"line {number}: {len(row['input_ids'])} tokens > --max-length; "
                         "mask with the same --max-length so both sides see the same examples")
            ids.append(row["input_ids"])
            masks.append([int(label != -100) for label in row["labels"]])
    # Trained tokens as the Java side counts them: labelled positions after the causal shift
    # (position 0 never has a target; the mask's first entry is always 0 here).
    trained = sum(sum(m[1:]) for m in masks)
    dataset = datasets.Dataset.from_dict({"input_ids": ids, "completion_mask": masks})
    print(f"trl_sft: torch {torch.__version__}, transformers {transformers.__version__}, peft "
          f"{peft.__version__}, trl {trl.__version__}, {torch.get_num_threads()} threads; "
          f"{len(ids)} examples, {sum(map(len, ids))} tokens, {trained} trained", flush=True)

    started = time.perf_counter()
    model = transformers.AutoModelForCausalLM.from_pretrained(
        args.model, dtype=torch.float32, attn_implementation="sdpa")
    with tempfile.TemporaryDirectory() as scratch:
        config = SFTConfig(
            output_dir=scratch, max_length=args.max_length, packing=True, padding_free=True,
            completion_only_loss=True, per_device_train_batch_size=1,
            gradient_accumulation_steps=args.grad_accum, num_train_epochs=args.epochs,
            learning_rate=args.lr, lr_scheduler_type="constant", warmup_steps=0,
            weight_decay=0.0, optim="adamw_torch", max_grad_norm=1.0, seed=args.seed,
            use_cpu=True, bf16=args.precision == "bf16", fp16=False, dataloader_num_workers=0,
            save_strategy="no", report_to=[], logging_steps=10, disable_tqdm=True,
            gradient_checkpointing=args.gradient_checkpointing == "true",
            loss_type=args.loss_type)
        lora = LoraConfig(r=args.lora_r, lora_alpha=args.lora_alpha, lora_dropout=0.0,
                          target_modules=args.target_modules.split(","), bias="none",
                          task_type="CAUSAL_LM")
        trainer = SFTTrainer(model=model, args=config, train_dataset=dataset, peft_config=lora)
        result = trainer.train()
        trainer.model.save_pretrained(args.output)
    seconds = time.perf_counter() - started
    print(f"trl_sft: {result.global_step} steps, train loss {result.training_loss:.4f}, "
          f"loss_type {config.loss_type}, gradient checkpointing {config.gradient_checkpointing},"
          f" precision {args.precision}")
    print(f"RESULT trl trained_tokens={trained} seconds={seconds:.2f} "
          f"tokens_per_s={trained / seconds:.1f}")


if __name__ == "__main__":
    main()
