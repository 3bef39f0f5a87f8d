#!/usr/bin/env python3
"""Writes the seed corpus of tests/fuzz_readers.rs (tests/fixtures/fuzz/) from the bundled
TYK2 data: two SDF records, the same ligand as MOL2, 150 receptor atoms, five labels, an
asapdiscovery JSON label file. The config seed is `multipose config --default`."""
import pathlib

root = pathlib.Path(__file__).resolve().parents[2]
out = root / "tests/fixtures/fuzz"
out.mkdir(parents=True, exist_ok=True)
records = (root / "data/tyk2/poses/lig_ejm_31.sdf").read_text().split("$$$$\n")
(out / "ligand.sdf").write_text("$$$$\n".join(records[:2]) + "$$$$\n")

lines = records[0].split("\n")
na, nb = int(lines[3][0:3]), int(lines[3][3:6])
atoms = [(float(l[0:10]), float(l[10:20]), float(l[20:30]), l[31:34].strip()) for l in lines[4:4 + na]]
bonds = [(int(l[0:3]), int(l[3:6]), int(l[6:9])) for l in lines[4 + na:4 + na + nb]]
types = {"C": "C.3", "N": "N.am", "O": "O.2", "Cl": "Cl", "H": "H", "F": "F", "S": "S.3"}
mol2 = ["@<TRIPOS>MOLECULE", "lig_ejm_31", f"{na} {nb} 1 0 0", "SMALL", "NO_CHARGES", "", "@<TRIPOS>ATOM"]
mol2 += [f"{i + 1} {e}{i + 1} {x:.4f} {y:.4f} {z:.4f} {types.get(e, e)} 1 LIG 0.0" for i, (x, y, z, e) in enumerate(atoms)]
mol2 += ["@<TRIPOS>BOND"] + [f"{i + 1} {a} {b} {'ar' if o == 4 else o}" for i, (a, b, o) in enumerate(bonds)]
(out / "ligand.mol2").write_text("\n".join(mol2) + "\n")

pdb = [l for l in (root / "data/tyk2/receptor.pdb").read_text().split("\n") if l.startswith(("ATOM", "HETATM"))]
(out / "receptor.pdb").write_text("\n".join(pdb[:150]) + "\nEND\n")
(out / "labels.csv").write_text("\n".join((root / "data/tyk2/labels.csv").read_text().split("\n")[:6]) + "\n")
(out / "labels.json").write_text(
    '[{"compound_id": "ASAP-1", "date_created": "2022-05-01", "experimental_data": '
    '{"pIC50": 5.2, "pIC50_stderr": 0.1, "pIC50_range": 0}},\n'
    ' {"compound_id": "ASAP-2", "experimental_data": {"pIC50": 4.0, "pIC50_range": -1}}]\n'
)
# `multipose dock`'s compound table: the header and ten rows of the Polaris set.
(out / "compounds.csv").write_text(
    "\n".join((root / "data/polaris/source/train.csv").read_text().split("\n")[:11]) + "\n"
)
