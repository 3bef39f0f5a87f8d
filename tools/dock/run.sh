#!/usr/bin/env bash
# Regenerates data/tyk2 and data/eg5 (multi-pose SDFs, labels, provenance) and data/README.md
# with AutoDock Vina + meeko from the pinned environment, then re-reads and checks them;
# `--datasets plb` builds the 15-target benchmark data/plb instead (see README.md here).
# Usage: tools/dock/run.sh [--no-venv] [dock.py args...]
#   e.g. --datasets eg5 | --only lig_ejm_31 | --check-only | --datasets plb --jobs 16 [--targets cdk2,eg5] [--resume]
# Needs python3 (3.11 tested; 3.12 for plb on the device), access to PyPI, and the input data
# (default /work/shared/data, override with DOCK_SHARED=... or --shared DIR). One CPU core per
# worker; about 20 s per ligand.
# --no-venv: run dock.py with $PYTHON (default python3) as it is, without creating or
#   updating tools/dock/.venv (e.g. where there is no network and the packages were installed
#   from wheels); the versions found are printed and differences from the pins are reported.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="$HERE/.venv"
PY="${PYTHON:-python3}"
WANT="1.2.7 0.8.0 2026.09.1 2.4.6 1.17.1 0.7.5 6.0.4"
CHECK='import vina, meeko, rdkit, numpy, scipy, gemmi, yaml; print(vina.__version__, meeko.__version__, rdkit.__version__, numpy.__version__, scipy.__version__, gemmi.__version__, yaml.__version__)'

if [ "${1:-}" = "--no-venv" ]; then
  shift
  RUNPY="$PY"
  HAVE="$("$RUNPY" -c "$CHECK")"
  if [ "$HAVE" != "$WANT" ]; then
    echo "run.sh: --no-venv: versions (vina meeko rdkit numpy scipy gemmi pyyaml) are '$HAVE', pinned '$WANT'" >&2
  fi
else
  if [ ! -x "$VENV/bin/python" ]; then
    "$PY" -m venv "$VENV"
  fi
  HAVE="$("$VENV/bin/python" -c "$CHECK" 2>/dev/null || true)"
  if [ "$HAVE" != "$WANT" ]; then
    "$VENV/bin/python" -m pip install --disable-pip-version-check -q \
      -r "$HERE/requirements.txt" -c "$HERE/constraints.txt"
  fi
  RUNPY="$VENV/bin/python"
fi

# One thread everywhere: Vina gets cpu=1 in dock.py; keep numpy/BLAS from spawning more.
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
start=$(date +%s)
set +e
"$RUNPY" "$HERE/dock.py" "$@"
rc=$?
set -e
echo "run.sh: wall time $(( $(date +%s) - start )) s (exit $rc)"
exit $rc
