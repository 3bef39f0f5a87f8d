#!/usr/bin/env bash
# GPU head-to-head on one machine: multipose (CUDA build, tools/cuda/build.sh) and mtenn's
# per-pose scheme in PyTorch (bench/mtenn_compare.py) on the same synthetic complex and the
# same weights, over an N sweep. Prints both JSON lines per N and a table with the ratio.
#   bench/gpu.sh            # 4,700-atom complex, N = 1 10 50 200
# Environment: ATOMS, POSES ("1 10 50 200"), NETWORK (schnet or visnet, for both sides),
# MULTIPOSE (the CUDA binary), PYTHON (with
# torch, torch_geometric, safetensors), OURS (extra `multipose bench` arguments, e.g.
# "--chunk 8"), ENGINE (default streaming), SKIP_TORCH=1 to time multipose alone.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/gpu_env.sh
atoms=${ATOMS:-4700}
poses=${POSES:-"1 10 50 200"}
bin=${MULTIPOSE:-target/cuda/release/multipose}
network=(--network "${NETWORK:-schnet}")
python=${PYTHON:-python3}
rows=()
for n in $poses; do
  ours=$("$bin" bench --device cuda --atoms "$atoms" --poses "$n" --engine "${ENGINE:-streaming}" \
    "${network[@]}" --repeats 3 --json ${OURS:-})
  echo "$ours"
  theirs='{}'
  if [ -z "${SKIP_TORCH:-}" ]; then
    dir=$(mktemp -d)
    "$bin" bench --atoms "$atoms" --poses "$n" "${network[@]}" --dump "$dir" 2>/dev/null
    theirs=$("$python" bench/mtenn_compare.py "$dir" --device cuda --repeats 3 || echo '{}')
    rm -rf "$dir"
    echo "$theirs"
  fi
  rows+=("$ours|$theirs")
done
"$python" - "${rows[@]}" <<'PY'
import json, sys
print(f'{"N":>5} {"multipose ms/pose":>18} {"GPU MiB":>8} {"mtenn-scheme ms/pose":>21} {"GPU MiB":>8} {"speed-up":>9}  loss (ours / theirs)')
for row in sys.argv[1:]:
    a, b = (json.loads(x) for x in row.split("|"))
    ms = a["step_ms"] / a["poses"]
    ref = b.get("ms_per_pose")
    print(f'{a["poses"]:>5} {ms:>18.2f} {a.get("peak_gpu_mib") or 0:>8.0f} '
          f'{ref if ref is not None else float("nan"):>21.2f} {b.get("peak_gpu_mib", float("nan")):>8.0f} '
          f'{(ref / ms) if ref else float("nan"):>8.2f}x  {a["loss"]:.6g} / {b.get("loss", float("nan")):.6g}')
PY
