# Sourced by the GPU scripts: the CUDA 13 libraries a multipose CUDA build needs at run
# time (and NCCL for multi-GPU runs), from PyTorch's pip wheels (the GPU machine has them)
# or a system install.
lib=$(python3 -c 'import nvidia, os; print(os.path.join(list(nvidia.__path__)[0], "cu13", "lib"))' 2>/dev/null || true)
nccl=$(python3 -c 'import nvidia.nccl, os; print(os.path.join(list(nvidia.nccl.__path__)[0], "lib"))' 2>/dev/null || true)
export LD_LIBRARY_PATH="${lib:+$lib:}${nccl:+$nccl:}/usr/local/nvidia/lib64:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"
