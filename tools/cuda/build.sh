#!/usr/bin/env bash
# Builds `multipose` with `--features cuda` on a machine without a GPU or a system CUDA
# toolkit (this repository's development and CI machines), for an H100 (sm_90).
#
# Why this script: candle's CUDA backend compiles its kernels with nvcc and cudarc links
# libcuda/cublas/curand/nvrtc at build time. Everything needed comes from pinned pip wheels
# (the same CUDA 13.0 release PyTorch 2.11 cu130 ships), plus a stub libcuda.so whose only
# job is to satisfy the linker; the real driver replaces it at run time.
#
# Output: target/cuda/release/multipose (about 50 MB). Run it on the GPU machine with
#   LD_LIBRARY_PATH=<site-packages>/nvidia/cu13/lib:<site-packages>/nvidia/nccl/lib \
#     ./multipose bench --device cuda ...
# (the libraries PyTorch's wheels install; `source bench/gpu_env.sh` sets this), or any
# CUDA 13 install with NCCL.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="$here/.venv"
compute_cap="${CUDA_COMPUTE_CAP:-90}"

if [ ! -x "$venv/bin/pip" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check \
  nvidia-cuda-nvcc==13.0.88 nvidia-cuda-crt==13.0.88 nvidia-nvvm==13.0.88 \
  nvidia-cuda-cccl==13.0.85 nvidia-cuda-runtime==13.0.96 nvidia-cublas==13.1.0.3 \
  nvidia-curand==10.4.0.35 nvidia-cuda-nvrtc==13.0.88 nvidia-nccl-cu13==2.28.9

cu="$("$venv/bin/python" -c 'import nvidia, os; print(os.path.join(list(nvidia.__path__)[0], "cu13"))')"
links="$here/.links"
mkdir -p "$links"
# The wheels ship only versioned sonames; the linker looks for the bare names.
for lib in cublas cublasLt curand nvrtc cudart; do
  real="$(ls "$cu/lib/lib$lib.so."* | grep -v alt | head -n1)"
  ln -sf "$real" "$links/lib$lib.so"
done
# NCCL (multi-GPU training) comes in a wheel of its own; at run time any libnccl.so.2 of
# 2.28 or later serves (PyTorch's wheels install one; bench/gpu_env.sh finds it).
nccl="$("$venv/bin/python" -c 'import nvidia.nccl, os; print(os.path.join(list(nvidia.nccl.__path__)[0], "lib"))')"
ln -sf "$nccl/libnccl.so.2" "$links/libnccl.so"

# Stub driver library: every driver-API symbol cudarc declares, as an empty function.
registry_src="$(dirname "$(cargo metadata --format-version 1 --features cuda --manifest-path "$root/Cargo.toml" \
  | "$venv/bin/python" -c 'import json,sys; print(next(p["manifest_path"] for p in json.load(sys.stdin)["packages"] if p["name"]=="cudarc"))')")"
grep -oE 'pub unsafe fn cu[A-Za-z0-9_]+' "$registry_src/src/driver/sys/mod.rs" \
  | awk '{print "void " $4 "(void) {}"}' | sort -u > "$links/stub_cuda.c"
gcc -shared -fPIC -Wl,-soname,libcuda.so.1 -o "$links/libcuda.so" "$links/stub_cuda.c"

export PATH="$cu/bin:$PATH" CUDA_HOME="$cu" CUDA_PATH="$cu" CUDA_COMPUTE_CAP="$compute_cap"
export RUSTFLAGS="-L $links ${RUSTFLAGS:-}"
export CARGO_TARGET_DIR="$root/target/cuda"
cd "$root"
# The fused kernels are compiled at run time by NVRTC; compile them here too so a syntax
# error shows up at build time rather than on the GPU machine.
nvcc --ptx -arch=compute_90 -o "$links/kernels.ptx" src/model/ops/kernels.cu
cargo build --release --features cuda --bin multipose "$@"
ls -l "$CARGO_TARGET_DIR/release/multipose"
