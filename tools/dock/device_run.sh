#!/usr/bin/env bash
# One device call's share of docking data/polaris, with the kit of tools/dock/device_pack.sh.
# Carry ["tools/dock/work/py", "tools/dock/work/multipose.xz"] (the record docking.csv is
# enough to resume).
# The dock runs in /tmp/polaris, which outlives a call while the machine stays warm, so
# back-to-back calls resume there even before their results are unpacked here; a cold
# machine starts from the tree's data/polaris. Writes $OUT/docked.tgz (targets, record,
# per-task results): unpack it into data/polaris.
# Usage (device): tools/dock/device_run.sh DEADLINE_SECONDS
set -uo pipefail
DEADLINE="${1:-460}"
S=data/polaris/source
W=/tmp/polaris
if [ ! -d "$W" ]; then
  mkdir -p "$W" && cp -r data/polaris/sars_cov_2_mpro data/polaris/mers_cov_mpro \
    data/polaris/docking.csv data/polaris/dock.json "$W"/
fi
[ -x /tmp/multipose ] || { xz -dkc tools/dock/work/multipose.xz >/tmp/multipose && chmod +x /tmp/multipose; }
[ -d /tmp/dockpy ] || tar -C /tmp -xJf tools/dock/work/py/dockpy.tar.xz
# Not OMP_NUM_THREADS before this: GNU nproc honours it.
export PYTHONPATH=/tmp/dockpy OMP_NUM_THREADS=1
start=$(date +%s)
timeout -s INT -k 30 $((DEADLINE + 100)) /tmp/multipose dock --input "$S/train.csv" \
  --receptor sars_cov_2_mpro="$S/sars_cov_2_mpro.pdb" \
  --receptor mers_cov_mpro="$S/mers_cov_mpro.pdb" \
  --label sars_cov_2_mpro=pIC50_sars_cov_2_mpro \
  --label mers_cov_mpro=pIC50_mers_cov_mpro \
  --labelled-only --seed 42 --poses 10 --max-isomers 2 --exhaustiveness 4 \
  --out "$W" --jobs "$(getconf _NPROCESSORS_ONLN)" --deadline "$DEADLINE" --python python3 >"$OUT/dock.out" 2>&1
echo "dock rc $? wall $(($(date +%s) - start)) s"
tail -c 1500 "$OUT/dock.out"
tar -C "$W" -czf "$OUT/docked.tgz" sars_cov_2_mpro mers_cov_mpro docking.csv dock.json \
  .dock/sars_cov_2_mpro .dock/mers_cov_mpro
awk -F, 'NR>1{print $1, $4}' "$W/docking.csv" | sort | uniq -c
