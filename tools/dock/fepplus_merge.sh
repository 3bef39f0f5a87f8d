#!/usr/bin/env bash
# Merges the docked.tgz of a tools/dock/device_fepplus.sh call into data/fepplus (the
# poses files it changed) and tools/dock/work/fepplus (its per-compound results), then
# rewrites data/fepplus's tables and README.
# Usage: tools/dock/fepplus_merge.sh DOCKED.TGZ
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
T="$(mktemp -d)"
tar -C "$T" -xzf "$1"
cp -r "$T/data/." "$HERE/../../data/fepplus/"
mkdir -p "$HERE/work/fepplus"
cat "$T/work/docked_from_poses.jsonl" >>"$HERE/work/fepplus/docked_from_poses.jsonl"
rm -rf "$T"
"$HERE/fepplus.sh" --score-only
