#!/usr/bin/env bash
# Regenerates the golden fixtures in tests/fixtures/golden/ from the pinned
# PyTorch / PyG stack. Usage: tools/golden/run.sh [generate.py args...]
# Needs python3 (3.11 tested) and access to PyPI. The torch wheel pulls the
# CUDA runtime wheels (~4.5 GB in the venv); only the CPU is used.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="$HERE/.venv"
PY="${PYTHON:-python3}"

if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
if ! "$VENV/bin/python" -c 'import torch, torch_geometric, safetensors, numpy' 2>/dev/null \
   || [ "$("$VENV/bin/python" -c 'import torch, torch_geometric, safetensors, numpy; print(torch.__version__.split("+")[0], torch_geometric.__version__, safetensors.__version__, numpy.__version__)')" != "2.11.0 2.8.0 0.8.0 2.4.6" ]; then
  "$VENV/bin/python" -m pip install --disable-pip-version-check -q \
    -r "$HERE/requirements.txt" -c "$HERE/constraints.txt"
fi

"$VENV/bin/python" "$HERE/generate.py" "$@"
exec "$VENV/bin/python" "$HERE/visnet.py" "$@"
