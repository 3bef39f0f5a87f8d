#!/usr/bin/env bash
# Regenerates data/polaris: the Polaris x ASAP training set (data/polaris/source/train.csv)
# docked into the SARS-CoV-2 and MERS-CoV Mpro receptors, each compound into the targets
# it has a label on, with `multipose dock` (10 poses over at most 2 stereoisomers, Vina
# exhaustiveness 4). Resumable: rerun the same command; extra arguments are passed on
# (e.g. --jobs 16 --deadline 450 --python /path/to/python).
# `--embedded` first instead writes data/polaris/embedded: one RDKit conformer per
# compound and target at the site, no docking (what the ligand-only models read).
# Usage: [MULTIPOSE=path/to/multipose] tools/dock/polaris.sh [--embedded] [multipose dock args...]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
BIN="${MULTIPOSE:-target/release/multipose}"
S=data/polaris/source
if [ "${1:-}" = "--embedded" ]; then
  shift
  set -- --embed-only --poses 1 --max-isomers 1 --out data/polaris/embedded "$@"
else
  set -- --poses 10 --max-isomers 2 --exhaustiveness 4 --out data/polaris "$@"
fi
exec "$BIN" dock --input "$S/train.csv" \
  --receptor sars_cov_2_mpro="$S/sars_cov_2_mpro.pdb" \
  --receptor mers_cov_mpro="$S/mers_cov_mpro.pdb" \
  --label sars_cov_2_mpro=pIC50_sars_cov_2_mpro \
  --label mers_cov_mpro=pIC50_mers_cov_mpro \
  --labelled-only --seed 42 "$@"
