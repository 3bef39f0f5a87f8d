#!/usr/bin/env bash
# One training epoch over a real multi-compound set, on one machine in one run: multipose
# (`multipose bench --data`, default settings, packed and not) and mtenn's per-pose scheme
# in PyTorch (bench/mtenn_compare.py on the same compounds, pockets and weights). Prints
# both JSON lines and a table with the ratio. Neither takes an optimiser step.
#   bench/epoch.sh                                   # data/plb, 10 Å pockets, CPU
#   DEVICE=cuda MULTIPOSE=target/cuda/release/multipose bench/epoch.sh
# Environment: DATA (data/plb), COMPOUNDS (first K compounds; default all), DEVICE (cpu or
# cuda), THREADS (CPU threads for PyTorch; default nproc), REPEATS (timed epochs, median;
# one warm-up when > 1), MTENN_REPEATS (the same for the mtenn scheme; default 1: its
# untimed graph-building pass already warms the device), MULTIPOSE (binary), PYTHON (with torch, torch_geometric and
# safetensors: tools/golden/run.sh builds such a venv; the GPU machine has them), OURS
# (extra `multipose bench` arguments), PACK (true,false: multipose packed, not, or both),
# SKIP_TORCH=1 to time multipose alone.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/gpu_env.sh
data=${DATA:-data/plb}
device=${DEVICE:-cpu}
repeats=${REPEATS:-1}
bin=${MULTIPOSE:-target/release/multipose}
python=${PYTHON:-python3}
limit=()
[ -n "${COMPOUNDS:-}" ] && limit=(--compounds "$COMPOUNDS")
ours=$("$bin" bench --data "$data" "${limit[@]}" --device "$device" --engine auto \
  --pack "${PACK:-true,false}" --repeats "$repeats" --json ${OURS:-})
echo "$ours"
theirs='{}'
if [ -z "${SKIP_TORCH:-}" ]; then
  dir=$(mktemp -d)
  trap 'rm -rf "$dir"' EXIT
  "$bin" bench --data "$data" "${limit[@]}" --dump "$dir" 2>/dev/null
  theirs=$("$python" bench/mtenn_compare.py "$dir" --device "$device" \
    --threads "${THREADS:-$(nproc)}" --repeats "${MTENN_REPEATS:-1}")
  echo "$theirs"
fi
"$python" - "$theirs" <<PY
import json, sys
ref = json.loads(sys.argv[1])
print(f'| implementation | compounds | poses | s/epoch | poses/s | vs mtenn scheme | mean loss |')
print('|---|---:|---:|---:|---:|---:|---:|')
for line in """$ours""".strip().splitlines():
    r = json.loads(line)
    ratio = ref["epoch_s"] / r["epoch_s"] if "epoch_s" in ref else float("nan")
    print(f'| multipose pack={r["pack"]} | {r["compounds"]} | {r["total_poses"]} | {r["epoch_s"]:.2f} | '
          f'{r["poses_per_s"]:.0f} | {ratio:.1f}x | {r["loss"]:.6g} |')
if "epoch_s" in ref:
    print(f'| {ref["impl"]} | {ref["compounds"]} | {ref["poses"]} | {ref["epoch_s"]:.2f} | '
          f'{ref["poses"] / ref["epoch_s"]:.0f} | 1.0x | {ref["loss"]:.6g} |')
PY
