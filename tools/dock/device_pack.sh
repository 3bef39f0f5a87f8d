#!/usr/bin/env bash
# Packs what `multipose dock` needs on the device machine (Python 3.12, no network, a 64 MiB
# upload, the tree included): the cp312 wheels of vina, meeko, rdkit and gemmi unpacked into
# one folder, without what docking never imports (type stubs, rdkit's Contrib and sping),
# shared libraries stripped of symbols, xz-compressed (20 MB, from 31 MB unstripped), and
# the CPU release binary. Writes tools/dock/work/py/dockpy.tar.xz and
# tools/dock/work/multipose.xz (git-ignored). Then, on the device, with
# carry ["tools/dock/work/py", "tools/dock/work/multipose.xz"]:
#   tools/dock/device_run.sh 470
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$HERE/../.."
W="$HERE/work/wheels-cp312"
T="$(mktemp -d)"
mkdir -p "$W" "$HERE/work/py"
python3 -m pip download -q --no-deps --only-binary :all: --python-version 3.12 \
  --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 \
  -d "$W" vina==1.2.7 meeko==0.8.0 rdkit==2026.9.1 gemmi==0.7.5
mkdir -p "$T/dockpy"
for w in "$W"/*.whl; do python3 -m zipfile -e "$w" "$T/dockpy"; done
rm -rf "$T/dockpy/rdkit-stubs" "$T/dockpy/rdkit/Contrib" "$T/dockpy/rdkit/sping"
find "$T/dockpy" -name '*.so*' -type f -exec strip --strip-unneeded {} +
tar -C "$T" -cf - dockpy | xz -9 -T0 >"$HERE/work/py/dockpy.tar.xz"
rm -rf "$T"
# The Vina receptors of data/fepplus, prepared by tools/dock/fepplus.sh from the source
# (which the device does not have): tools/dock/device_fepplus.sh docks into them.
if ls "$HERE"/work/fepplus/*/receptor.pdbqt >/dev/null 2>&1; then
  (cd "$HERE/work/fepplus" && tar -cf - */receptor.pdbqt --transform 's,^,work/,') \
    | xz -9 -T0 >"$HERE/work/fepplus_pdbqt.tar.xz"
fi
cargo build --release
xz -6 -kc target/release/multipose > "$HERE/work/multipose.xz"
ls -la "$HERE/work/py/dockpy.tar.xz" "$HERE/work/multipose.xz"
