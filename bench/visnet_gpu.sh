#!/usr/bin/env bash
# ViSNet on one GPU, in one call: gradients against the CPU f64 reference, then a training
# step of ViSNet and SchNet at mtenn's default width (128) side by side, then ViSNet against
# mtenn's ViSNet in PyTorch (bench/gpu.sh) on the same inputs and weights.
# Carry the CUDA build xz-compressed (target/cuda/multipose.xz, from tools/cuda/build.sh).
# Environment: ATOMS ("600 4700"), POSES ("1,10,50"), TORCH_POSES ("10 50").
set -uo pipefail
cd "$(dirname "$0")/.."
bin=target/cuda/release/multipose
if [ ! -x "$bin" ]; then
  mkdir -p target/cuda/release && xz -dc target/cuda/multipose.xz >"$bin" && chmod +x "$bin"
fi
source bench/gpu_env.sh
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
echo "== gradients vs CPU f64 (300 protein atoms, 3 poses)"
for dtype in f64 f32; do
  "$bin" bench --device cuda --network visnet --atoms 300 --poses 3 --engine full,auto \
    --dtype "$dtype" --check --json
done
echo "== training step, both networks (auto engine)"
for atoms in ${ATOMS:-600 4700}; do
  for net in schnet visnet; do
    "$bin" bench --device cuda --network "$net" --atoms "$atoms" --poses "${POSES:-1,10,50}" \
      --engine auto --repeats 3 --json
  done
done
echo "== ViSNet against mtenn's ViSNet in PyTorch"
for atoms in ${ATOMS:-600 4700}; do
  ENGINE=auto NETWORK=visnet ATOMS="$atoms" POSES="${TORCH_POSES:-10 50}" bench/gpu.sh
done
