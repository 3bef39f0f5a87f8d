#!/usr/bin/env bash
# Data-parallel training epochs on 1, 2, 4 ... GPUs of one machine, in one run: the
# 15-target set with mtenn's model, the same global batch on every GPU count. Prints per
# batch size a table of the median epoch time (epochs 2.., training plus validation),
# speed-up, efficiency, the agreement of losses and final weights with the 1-GPU run, and
# where the time goes (the `parallel` entry of metrics.jsonl, averaged per epoch).
#   MULTIPOSE=target/cuda/release/multipose bench/multi_gpu.sh
# Environment: MULTIPOSE (binary), DATA (data/plb), GPUS ("1 2 4": counts above the
# machine's are skipped), BATCHES ("32 64"), EPOCHS (4), LR (1e-4: mtenn's model diverges
# at the CPU-sized default), OUT (scratch folder), PYTHON (with numpy and safetensors).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/gpu_env.sh
bin=${MULTIPOSE:-target/cuda/release/multipose}
out=${OUT:-$(mktemp -d)}
mkdir -p "$out"
have=$(nvidia-smi -L | wc -l)
model=(--data.path "${DATA:-data/plb}" --data.pocket_radius 10 --model.hidden_channels 128
  --model.num_filters 128 --model.num_interactions 6 --model.num_gaussians 50
  --model.cutoff 10 --model.max_num_neighbors 32 --early_stopping.kind none --quiet
  --optim.lr "${LR:-1e-4}" --optim.epochs "${EPOCHS:-4}")
for b in ${BATCHES:-32 64}; do
  for n in ${GPUS:-1 2 4}; do
    [ "$n" -gt "$have" ] && continue
    devices=(--engine.gpus "$n")
    [ "$n" = 1 ] && devices=(--engine.device cuda)
    "$bin" train "${model[@]}" --optim.batch_size "$b" --out "$out/g${n}b$b" "${devices[@]}" \
      > "$out/g${n}b$b.log" 2>&1 || { echo "g${n}b$b failed:"; tail -n 5 "$out/g${n}b$b.log" || true; }
  done
done
"${PYTHON:-python3}" - "$out" ${BATCHES:-32 64} <<'PY'
import json, os, statistics, sys
import numpy as np
from safetensors.numpy import load_file
out, batches = sys.argv[1], sys.argv[2:]
def lines(d):
    p = f"{out}/{d}/metrics.jsonl"
    return [json.loads(l) for l in open(p)] if os.path.exists(p) else []
keys = ("compute_s", "slowest_compute_s", "mean_compute_s", "exchange_s")
for b in batches:
    base = lines(f"g1b{b}")
    if not base:
        continue
    t1 = statistics.median(l["seconds"] for l in base[1:])
    w1 = load_file(f"{out}/g1b{b}/checkpoint/last.safetensors")
    print(f"\nbatch {b}\n| GPUs | s/epoch | speed-up | efficiency | losses vs 1 GPU (max rel.) | weights vs 1 GPU (max rel.) | per epoch: {', '.join(keys)} |")
    print("|---:|---:|---:|---:|---:|---:|---|")
    for n in range(1, 65):
        m = lines(f"g{n}b{b}")
        if not m:
            continue
        t = statistics.median(l["seconds"] for l in m[1:])
        w = load_file(f"{out}/g{n}b{b}/checkpoint/last.safetensors")
        dw = max(float(np.abs(w[k] - w1[k]).max() / max(np.abs(w1[k]).max(), 1e-12)) for k in w1)
        dl = max(abs(x[k] - y[k]) / abs(x[k]) for x, y in zip(base, m) for k in ("train_loss", "val_loss"))
        par = [l["parallel"] for l in m[1:] if "parallel" in l]
        split = ", ".join(f"{sum(p[k] for p in par) / len(par):.3f}" for k in keys) if par else "-"
        print(f"| {n} | {t:.3f} | {t1 / t:.2f}x | {100 * t1 / t / n:.0f}% | {dl:.1e} | {dw:.1e} | {split} |")
PY
