#!/usr/bin/env bash
# Side by side: `trainer-service train` against TRL's SFTTrainer + PEFT (trl_sft.py) on the same
# labelled examples, runs alternated, each side under /usr/bin/time for its peak RSS.
#
#   trl_vs_train.sh MODEL_DIR MASKED_JSONL [RUNS=3] [THREADS=2]
#
# MASKED_JSONL is `streams-app mask --max-length 2048` output. Environment:
#   PRECISION  fp32 (default) or bf16, on both sides: the Java side's --precision, TRL's
#              bf16=True (CPU autocast)
#   SIDES      which runs, in order (reversed every other round): java (bucketed, the default),
#              java-pack (--pack), trl (gradient checkpointing on, as TRL comes), trl-nogc
#              (off); default "java java-pack trl"
#   JAVA_ARGS  more `train` options for both Java sides (e.g. --token-budget 2048)
#   PYTHON     a Python with torch, transformers, peft, trl and datasets (default python3)
#   JAVA       java 21+ (default java); JAR the trainer-service jar (default: the build's)
# Build first: ./mvnw -pl trainer-service -am package -DskipTests. The recipe, and the figures it
# gave, are in BENCHMARKS.md ("trainer-service: `train` against TRL + PEFT").
set -euo pipefail
model=$1
data=$2
runs=${3:-3}
threads=${4:-2}
precision=${PRECISION:-fp32}
sides=${SIDES:-java java-pack trl}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../../.." && pwd)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
export OMP_NUM_THREADS=$threads

# Identical settings on both sides: LoRA r=8, alpha 16 on q_proj and v_proj, no dropout, AdamW at
# lr 1e-4, examples of at most 2048 tokens, assistant-only loss, one epoch, no evaluation. The
# Java side's micro-batches, recomputation and attention blocks are its defaults (auto).
java_run() {
  # MKL_CBWR=AUTO as the container image ships it (reproducible on this CPU model).
  # shellcheck disable=SC2086
  MKL_CBWR=AUTO /usr/bin/time -f 'peak_rss_kb=%M' -o "$scratch/time" \
    "${JAVA:-java}" --enable-native-access=ALL-UNNAMED -Dai.djl.pytorch.num_threads="$threads" \
    -jar "${JAR:-$root/trainer-service/target/trainer-service.jar}" train --model "$model" \
    --input "$data" --output "$scratch/java-adapter" --lora-r 8 --lora-alpha 16 \
    --target-modules q_proj,v_proj --lr 1e-4 --warmup-steps 0 --max-length 2048 \
    --step-tokens 1024 --eval-fraction 0 --seed 0 --precision "$precision" ${JAVA_ARGS:-} "$@" \
    > "$scratch/out" 2>&1 || { cat "$scratch/out" >&2; exit 1; }
  grep '^train: precision' "$scratch/out" >&2
  # "trained N tokens in X s: R trained tokens/s"
  sed -n 's/^trained \([0-9]*\) tokens in \([0-9.]*\) s: \([0-9]*\) trained tokens\/s$/\1 \2 \3/p' \
    "$scratch/out"
}
java_side() { java_run; }
java-pack_side() { java_run --pack; }

# TRL as it comes (gradient checkpointing on), and with gradient checkpointing off.
trl_side() { trl_run true; }
trl-nogc_side() { trl_run false; }

trl_run() {
  /usr/bin/time -f 'peak_rss_kb=%M' -o "$scratch/time" \
    "${PYTHON:-python3}" "$here/trl_sft.py" --model "$model" --input "$data" \
    --output "$scratch/trl-adapter" --threads "$threads" --lora-r 8 --lora-alpha 16 \
    --target-modules q_proj,v_proj --lr 1e-4 --max-length 2048 --seed 0 \
    --precision "$precision" --gradient-checkpointing "$1" > "$scratch/out" 2>&1 \
    || { cat "$scratch/out" >&2; exit 1; }
  sed -n 's/^RESULT trl trained_tokens=\([0-9]*\) seconds=\([0-9.]*\) tokens_per_s=\([0-9.]*\)$/\1 \2 \3/p' \
    "$scratch/out"
}

rss_mib() { echo $(( $(sed -n 's/^peak_rss_kb=//p' "$scratch/time") / 1024 )); }

echo "model $model, data $data, precision $precision, $threads threads, $(nproc) cores:" \
  "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
reversed=$(echo "$sides" | tr ' ' '\n' | tac | tr '\n' ' ')
for i in $(seq 1 "$runs"); do
  # Alternate which side goes first, so neither always meets a warmer machine.
  if (( i % 2 )); then order=$sides; else order=$reversed; fi
  for side in $order; do
    read -r tokens seconds rate < <(${side}_side)
    printf 'run %d %-9s %6d trained tokens in %7.1f s: %7.1f trained tokens/s, peak RSS %5d MiB\n' \
      "$i" "$side" "$tokens" "$seconds" "$rate" "$(rss_mib)"
  done
done
