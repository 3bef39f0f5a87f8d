#!/usr/bin/env bash
# Regenerates data/fepplus from ../shared/data/fepplus.tar.xz (see tools/dock/fepplus.py):
# with --score-only the modelled poses and their Vina scores in place; without it, 9 Vina
# poses per compound are added (resumable; --jobs N, --deadline S per call). Uses the
# pinned docking environment of tools/dock (PYTHON=... to pick an interpreter that has it).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PY="${PYTHON:-$HERE/../../target/ci-dock-venv/bin/python}"
export OMP_NUM_THREADS=1
exec "$PY" "$HERE/fepplus.py" "$@"
