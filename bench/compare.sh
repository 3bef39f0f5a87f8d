#!/usr/bin/env bash
# Side by side on one machine: multipose's engines and mtenn's per-pose scheme in PyTorch
# (bench/mtenn_compare.py) on the same synthetic complex and the same weights.
#   bench/compare.sh ATOMS POSES [PYTHON] [DEVICE] [THREADS]
# PYTHON must have torch, torch_geometric and safetensors (tools/golden/run.sh builds a venv
# with them; the GPU machine has them). Prints both JSON lines and the ratio.
set -euo pipefail
atoms=${1:-600}; poses=${2:-4}; python=${3:-tools/golden/.venv/bin/python}; device=${4:-cpu}
threads=${5:-$(nproc)}
bin=${MULTIPOSE:-target/release/multipose}
dir=$(mktemp -d)
"$bin" bench --atoms "$atoms" --poses "$poses" --dump "$dir" 2>/dev/null
ours=$("$bin" bench --atoms "$atoms" --poses "$poses" --engine stored,streaming,recompute --repeats 3 --json 2>/dev/null)
theirs=$("$python" bench/mtenn_compare.py "$dir" --device "$device" --threads "$threads" --repeats 3)
echo "$ours"
echo "$theirs"
"$python" - "$theirs" <<PY
import json, sys
ref = json.loads(sys.argv[1])
for line in """$ours""".strip().splitlines():
    r = json.loads(line)
    ms = r["step_ms"] / r["poses"]
    print(f'{r["engine"]:>10}: {ms:8.1f} ms/pose  {ref["ms_per_pose"] / ms:5.2f}x faster than the mtenn scheme '
          f'({ref["ms_per_pose"]:.1f} ms/pose); loss {r["loss"]:.6g} vs {ref["loss"]:.6g}')
PY
rm -rf "$dir"
