#!/usr/bin/env python3
"""Golden values for multipose's ligand chemistry (src/chem) from RDKit.

Writes tests/fixtures/chem/sample.sdf (heavy atoms, Kekulé bonds, as `multipose dock`
writes them) and tests/fixtures/chem/rdkit.csv (per record: RDKit's MolWt, number of
aromatic atoms, number of SSSR rings, total hydrogens) for every 20th compound of the
Polaris training set, one stereoisomer each. Run with the dock environment:
    tools/dock/.venv/bin/python tools/dock/chem_golden.py
"""
import csv
from pathlib import Path

from rdkit import Chem
from rdkit.Chem import Descriptors, rdDepictor, rdMolDescriptors

REPO = Path(__file__).resolve().parents[2]
rows = list(csv.DictReader(open(REPO / "data/polaris/source/train.csv")))
out = REPO / "tests/fixtures/chem"
out.mkdir(parents=True, exist_ok=True)
w = Chem.SDWriter(str(out / "sample.sdf"))
w.SetKekulize(True)
with open(out / "rdkit.csv", "w", newline="") as f:
    table = csv.writer(f)
    table.writerow(["compound_id", "mol_wt", "aromatic_atoms", "rings", "hydrogens"])
    for r in rows[::20]:
        mol = Chem.MolFromSmiles(r["cxsmiles"])
        # 2D coordinates are enough: only the bond table is read.
        rdDepictor.Compute2DCoords(mol)
        mol.SetProp("_Name", r["compound_id"])
        w.write(mol)
        table.writerow([
            r["compound_id"],
            f"{Descriptors.MolWt(mol):.4f}",
            sum(a.GetIsAromatic() for a in mol.GetAtoms()),
            rdMolDescriptors.CalcNumRings(mol),
            sum(a.GetTotalNumHs() for a in mol.GetAtoms()),
        ])
w.close()
print(f"wrote {out}")
