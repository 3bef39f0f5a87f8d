#!/usr/bin/env bash
# One device call's share of adding Vina poses to data/fepplus (`fepplus.py --from-poses`:
# every compound that has only its modelled poses), with the docking kit and the receptor
# PDBQTs of tools/dock/device_pack.sh. Carry
#   ["tools/dock/work/py", "tools/dock/work/fepplus_pdbqt.tar.xz"]
# The dock runs in /tmp/fepplus, which outlives a call while the machine stays warm, so
# back-to-back calls resume there. Writes $OUT/docked.tgz (data/ = the series folders,
# work/docked_from_poses.jsonl = per-compound results); merge it with
#   tools/dock/fepplus_merge.sh DOCKED.TGZ
# Usage (device): tools/dock/device_fepplus.sh DEADLINE_SECONDS
set -uo pipefail
DEADLINE="${1:-400}"
W=/tmp/fepplus
if [ ! -d "$W" ]; then
  mkdir -p "$W/data" && cp -r data/fepplus/. "$W/data/"
  tar -C "$W" -xJf tools/dock/work/fepplus_pdbqt.tar.xz
fi
[ -d /tmp/dockpy ] || tar -C /tmp -xJf tools/dock/work/py/dockpy.tar.xz
# Not OMP_NUM_THREADS before this: GNU nproc honours it.
jobs="$(getconf _NPROCESSORS_ONLN)"
export PYTHONPATH=/tmp/dockpy OMP_NUM_THREADS=1
start=$(date +%s)
timeout -s INT -k 30 $((DEADLINE + 150)) python3 tools/dock/fepplus.py --from-poses \
  --out "$W/data" --work "$W/work" --jobs "$jobs" --deadline "$DEADLINE" >"$OUT/dock.out" 2>&1
echo "dock rc $? wall $(($(date +%s) - start)) s"
grep -v WARNING "$OUT/dock.out" | tail -c 1500
tar -C "$W" -czf "$OUT/docked.tgz" data work/docked_from_poses.jsonl
