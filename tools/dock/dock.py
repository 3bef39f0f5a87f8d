#!/usr/bin/env python3
"""Generate the bundled multi-pose datasets in data/ (TYK2 and Eg5).

For every ligand: pose 0 is the Glide pose shipped with the input data; poses
1..N are AutoDock Vina poses (meeko ligand/receptor preparation, Vina scoring
function, fixed seed, one CPU) in a cube centred on the Glide pose.  Every
pose is written with the atom order, bond table and hydrogens of the input
Glide record, so all records of one compound are atom-for-atom comparable.

Usage (normally through run.sh, which pins the environment):
    python dock.py [--only NAME ...] [--datasets tyk2 eg5] [--check-only]

The inputs are read from --shared (default: /work/shared/data); everything the
project needs is copied into --out (default: <repo>/data).  Nothing under
data/ refers back to the input folder.
"""
from __future__ import annotations

import argparse
import csv
import itertools
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import yaml
from rdkit import Chem, RDLogger
from rdkit.Chem import rdMolAlign
from rdkit.Geometry import Point3D

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent

# ---------------------------------------------------------------- settings
BOX_EDGE = 22.0          # Å, cube edge; centre = midpoint of the Glide heavy-atom bounding box
GRID_SPACING = 0.375     # Å, Vina default
EXHAUSTIVENESS = 8
SEED = 42
N_POSES = 9
MIN_RMSD = 1.0           # Å, Vina default clustering radius between returned poses
ENERGY_RANGE = 1.0e3     # kcal/mol: no energy cut-off (Vina's default of 3 would drop poses)
CPU = 1

DATASETS = {
    "tyk2": {
        "title": "TYK2 (PDB 4GIH), OpenFF protein-ligand benchmark subset shipped in alchemiscale 0.8.0",
        "licence_file": "LICENSE.alchemiscale",
    },
    "eg5": {
        "title": "Eg5 / KIF11 (PDB 3L9H), pbcnet 2.0.9 case/toy_data",
        "licence_file": None,
    },
}

PROPS = ("compound_id", "pose_index", "pose_source", "vina_score", "rmsd_to_reference")


def log(*a):
    print(*a, flush=True)


# ---------------------------------------------------------------- inputs
def read_ligands(name: str, src: Path) -> list[Chem.Mol]:
    """Glide poses, explicit H, in input order (title line = ligand name)."""
    if name == "tyk2":
        files = [src / "ligands.sdf"]
    else:
        files = sorted(src.glob("lig_eg5_CHEMBL*.sdf"))
    mols = []
    for f in files:
        for m in Chem.SDMolSupplier(str(f), removeHs=False, sanitize=True):
            if m is None:
                raise RuntimeError(f"unparsable record in {f}")
            if name == "eg5" and m.GetProp("_Name") != f.stem:
                raise RuntimeError(f"{f}: title {m.GetProp('_Name')!r} != file stem")
            mols.append(m)
    names = [m.GetProp("_Name") for m in mols]
    if len(set(names)) != len(names):
        raise RuntimeError(f"duplicate ligand names in {name}")
    return mols


def labels_tyk2(src: Path, names: list[str]) -> list[dict]:
    # BaseLoader keeps every scalar as the exact text of the YAML file.
    with open(src / "ligands.yml") as fh:
        data = yaml.load(fh, Loader=yaml.BaseLoader)
    rows = []
    for n in names:
        meas = data[n]["measurement"]
        if meas["type"].lower() != "ki":
            raise RuntimeError(f"{n}: unexpected measurement type {meas['type']}")
        rows.append({
            "compound_id": n,
            "value": meas["value"],
            "unit": meas["unit"],
            "type": "Ki",
            "stderr": meas["error"],
            "source": "doi:" + meas["doi"],
        })
    extra = set(data) - set(names)
    if extra:
        raise RuntimeError(f"ligands.yml has entries without a pose: {sorted(extra)}")
    return rows


def labels_eg5(src: Path, names: list[str]) -> list[dict]:
    """Per-ligand p-value from pbcnet's pairwise predict.csv (Label1/Label2 columns).

    Every occurrence of a ligand must carry the same value; `pre` (model
    prediction) and `Label` (difference) are not used.
    """
    seen: dict[str, set[str]] = {}
    with open(src / "predict.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            for col, lab in (("lig1", "Label1"), ("lig2", "Label2")):
                lig = row[col].replace("\\", "/").split("/")[-1]
                lig = lig[:-4] if lig.endswith(".pkl") else lig
                seen.setdefault(lig, set()).add(row[lab])
            if abs(float(row["Label1"]) - float(row["Label2"]) - float(row["Label"])) > 1e-6:
                raise RuntimeError(f"predict.csv: Label != Label1 - Label2 in {row}")
    rows = []
    for n in names:
        vals = seen.get(n)
        if not vals:
            raise RuntimeError(f"{n} not in predict.csv")
        if len({float(v) for v in vals}) != 1:
            raise RuntimeError(f"{n}: inconsistent labels {vals}")
        rows.append({
            "compound_id": n,
            "value": sorted(vals)[0],
            "unit": "p",
            # pbcnet/run.py builds predict.csv from a list it calls "pIC50" values
            # (input_G docstring and the `ic50 = [...]` list in its main()).
            "type": "pIC50",
            "stderr": "",
            "source": "pbcnet 2.0.9 case/toy_data/predict.csv (Label1/Label2)",
        })
    if set(seen) - set(names):
        raise RuntimeError(f"predict.csv has ligands without a pose: {sorted(set(seen) - set(names))}")
    return rows


# ---------------------------------------------------------------- geometry
def heavy_mask(m: Chem.Mol) -> np.ndarray:
    return np.array([a.GetAtomicNum() > 1 for a in m.GetAtoms()])


def box_for(m: Chem.Mol) -> tuple[list[float], list[float]]:
    x = m.GetConformer().GetPositions()[heavy_mask(m)]
    centre = (x.min(0) + x.max(0)) / 2.0
    return [round(float(c), 3) for c in centre], [BOX_EDGE] * 3


def heavy_rmsd(probe: Chem.Mol, ref: Chem.Mol) -> float:
    """Symmetry-aware heavy-atom RMSD in place (no superposition)."""
    p = Chem.RemoveHs(probe, sanitize=False)
    r = Chem.RemoveHs(ref, sanitize=False)
    return float(rdMolAlign.CalcRMS(p, r))


def graph_signature(m: Chem.Mol) -> tuple:
    """Element sequence and bond table: equal signatures = same atom order."""
    return (tuple(a.GetAtomicNum() for a in m.GetAtoms()),
            tuple(sorted((b.GetBeginAtomIdx(), b.GetEndAtomIdx(), b.GetBondTypeAsDouble())
                         for b in m.GetBonds())))


def map_to_template(template: Chem.Mol, exported: Chem.Mol, ref_xyz: np.ndarray) -> list[int]:
    """match[i] = index in `exported` of template atom i (all atoms, H included).

    meeko rebuilds docked molecules from the SMILES stored in the PDBQT
    REMARKs: heavy atoms come in SMILES order and hydrogens are appended by
    AddHs, so the order is NOT the input order.  This is called on meeko's
    export of the *input* PDBQT (same coordinates as `ref_xyz`, the Glide
    pose): of all graph matches of the heavy atoms (symmetric groups give
    several) the one that puts every atom back on its own input position is
    taken; the hydrogens of each heavy atom are then paired by distance.  The
    result is the true input-order <- meeko-order permutation, and it is the
    same for every Vina pose of the ligand (same REMARK SMILES, checked by the
    caller via graph_signature).
    """
    if template.GetNumAtoms() != exported.GetNumAtoms():
        raise RuntimeError(
            f"atom count differs: template {template.GetNumAtoms()} vs meeko {exported.GetNumAtoms()}")
    ex_xyz = exported.GetConformer().GetPositions()
    t_heavy = [a.GetIdx() for a in template.GetAtoms() if a.GetAtomicNum() > 1]
    e_heavy = [a.GetIdx() for a in exported.GetAtoms() if a.GetAtomicNum() > 1]
    tq = Chem.RemoveHs(template, sanitize=False)
    eq = Chem.RemoveHs(exported, sanitize=False)
    params = Chem.SubstructMatchParameters()
    params.useChirality = False
    params.uniquify = False
    params.maxMatches = 100000
    matches = eq.GetSubstructMatches(tq, params)
    if not matches:
        raise RuntimeError("could not map the meeko molecule onto the input record (heavy atoms)")
    tx = ref_xyz[t_heavy]

    def dev(mt):
        return float(((ex_xyz[[e_heavy[k] for k in mt]] - tx) ** 2).sum())
    best = min(matches, key=dev)
    match = [-1] * template.GetNumAtoms()
    for k, ek in enumerate(best):
        match[t_heavy[k]] = e_heavy[ek]
    for ti in t_heavy:
        th = [n.GetIdx() for n in template.GetAtomWithIdx(ti).GetNeighbors() if n.GetAtomicNum() == 1]
        eh = [n.GetIdx() for n in exported.GetAtomWithIdx(match[ti]).GetNeighbors() if n.GetAtomicNum() == 1]
        if len(th) != len(eh):
            raise RuntimeError(f"H count differs on atom {ti}: {len(th)} vs {len(eh)}")
        if not th:
            continue
        perm = min(itertools.permutations(eh),
                   key=lambda pe: float(((ex_xyz[list(pe)] - ref_xyz[th]) ** 2).sum()))
        for a, b in zip(th, perm):
            match[a] = b
    if sorted(match) != list(range(exported.GetNumAtoms())):
        raise RuntimeError("atom mapping is not a permutation (H on H?)")
    return match


def with_coords(template: Chem.Mol, xyz: np.ndarray) -> Chem.Mol:
    m = Chem.Mol(template)
    m.RemoveAllConformers()
    conf = Chem.Conformer(template.GetNumAtoms())
    conf.Set3D(True)
    for i, p in enumerate(xyz):
        conf.SetAtomPosition(i, Point3D(float(p[0]), float(p[1]), float(p[2])))
    m.AddConformer(conf, assignId=True)
    return m


def clean_template(m: Chem.Mol, name: str) -> Chem.Mol:
    t = Chem.Mol(m)
    for p in list(t.GetPropNames()):
        t.ClearProp(p)
    t.SetProp("_Name", name)
    return t


# ---------------------------------------------------------------- docking
def prepare_receptor(pdb: Path, work: Path) -> Path:
    """meeko's mk_prepare_receptor.py (template-based typing, Gasteiger charges
    from the templates, existing H kept, non-polar H merged)."""
    base = work / "receptor"
    exe = Path(sys.executable).parent / "mk_prepare_receptor.py"
    cmd = [sys.executable, str(exe), "--read_pdb", str(pdb), "-o", str(base), "-p"]
    res = subprocess.run(cmd, capture_output=True, text=True)
    (work / "receptor_prep.log").write_text(res.stdout + res.stderr)
    if res.returncode != 0:
        raise RuntimeError(f"mk_prepare_receptor failed:\n{res.stdout}\n{res.stderr}")
    out = base.with_suffix(".pdbqt")
    if not out.exists():
        raise RuntimeError(f"mk_prepare_receptor wrote no {out}")
    return out


def ligand_pdbqt(m: Chem.Mol) -> str:
    from meeko import MoleculePreparation, PDBQTWriterLegacy
    setups = MoleculePreparation().prepare(m)
    if len(setups) != 1:
        raise RuntimeError(f"meeko returned {len(setups)} setups")
    s, ok, err = PDBQTWriterLegacy.write_string(setups[0])
    if not ok:
        raise RuntimeError(f"meeko PDBQT writer: {err}")
    return s


def pdbqt_to_mols(pdbqt: str) -> list[Chem.Mol]:
    """One RDKit molecule per pose (meeko atom order, all H)."""
    from meeko import PDBQTMolecule, RDKitMolCreate
    pm = PDBQTMolecule(pdbqt, skip_typing=True)
    mols = RDKitMolCreate.from_pdbqt_mol(pm)
    if len(mols) != 1 or mols[0] is None:
        raise RuntimeError("meeko export returned no ligand")
    mol = mols[0]
    out = []
    for conf in mol.GetConformers():
        single = Chem.Mol(mol)
        single.RemoveAllConformers()
        single.AddConformer(Chem.Conformer(conf), assignId=True)
        out.append(single)
    return out


def dock_one(receptor_pdbqt: Path, glide: Chem.Mol, name: str) -> dict:
    from vina import Vina
    template = clean_template(glide, name)
    t0 = time.time()
    lig = ligand_pdbqt(glide)
    centre, size = box_for(glide)

    v = Vina(sf_name="vina", cpu=CPU, seed=SEED, verbosity=0)
    v.set_receptor(rigid_pdbqt_filename=str(receptor_pdbqt))
    v.set_ligand_from_string(lig)
    v.compute_vina_maps(center=centre, box_size=size, spacing=GRID_SPACING)

    # Pose 0: the Glide pose scored in place (no optimisation).
    glide_score = float(v.score()[0])
    # For information only (not written): Vina local optimisation of the Glide pose.
    glide_opt = float(v.optimize()[0])

    # Round trip of the input through meeko's exporter: proves the atom mapping
    # reproduces the input coordinates (heavy atoms and polar H exactly, up to
    # the 3 decimals of PDBQT; non-polar H are rebuilt by meeko).
    rt = pdbqt_to_mols(lig)[0]
    g_xyz = glide.GetConformer().GetPositions()
    match = map_to_template(template, rt, g_xyz)
    rt_xyz = rt.GetConformer().GetPositions()[match]
    hv = heavy_mask(glide)
    polar_h = np.array([a.GetAtomicNum() == 1 and any(n.GetAtomicNum() in (7, 8, 16) for n in a.GetNeighbors())
                        for a in glide.GetAtoms()])
    nonpolar_h = ~hv & ~polar_h
    d = np.linalg.norm(rt_xyz - g_xyz, axis=1)
    roundtrip_heavy = float(d[hv].max())
    roundtrip_polar_h = float(d[polar_h].max()) if polar_h.any() else 0.0
    roundtrip_h = float(d[nonpolar_h].max()) if nonpolar_h.any() else 0.0
    if max(roundtrip_heavy, roundtrip_polar_h) > 2e-3:
        raise RuntimeError(f"{name}: meeko round trip moved heavy atoms/polar H by "
                           f"{max(roundtrip_heavy, roundtrip_polar_h):.4f} Å")
    order_kept = match == list(range(glide.GetNumAtoms()))
    sig = graph_signature(rt)

    v.set_ligand_from_string(lig)  # reset the ligand after optimize()
    v.dock(exhaustiveness=EXHAUSTIVENESS, n_poses=N_POSES, min_rmsd=MIN_RMSD)
    energies = v.energies(n_poses=N_POSES, energy_range=ENERGY_RANGE)
    poses_pdbqt = v.poses(n_poses=N_POSES, energy_range=ENERGY_RANGE)
    vina_mols = pdbqt_to_mols(poses_pdbqt)
    if len(vina_mols) != len(energies):
        raise RuntimeError(f"{name}: {len(vina_mols)} poses vs {len(energies)} energies")

    records = []
    p0 = with_coords(template, g_xyz)
    records.append((p0, "glide", glide_score, 0.0))
    for e, vm in zip(energies, vina_mols):
        if graph_signature(vm) != sig:
            raise RuntimeError(f"{name}: a Vina pose came back in another atom order than the input PDBQT")
        xyz = vm.GetConformer().GetPositions()[match]
        pm = with_coords(template, xyz)
        records.append((pm, "vina", float(e[0]), heavy_rmsd(pm, p0)))

    return {
        "name": name,
        "records": records,
        "box_center": centre,
        "box_size": size,
        "glide_score_opt": glide_opt,
        "roundtrip_heavy_max_dev": roundtrip_heavy,
        "roundtrip_polar_h_max_dev": roundtrip_polar_h,
        "roundtrip_nonpolar_h_max_dev": roundtrip_h,
        "meeko_order_equals_input": bool(order_kept),
        "seconds": time.time() - t0,
        "vina_energies": [[float(x) for x in row] for row in energies],
    }


def write_sdf(path: Path, name: str, records) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".sdf.tmp")
    w = Chem.SDWriter(str(tmp))
    w.SetForceV3000(False)
    w.SetKekulize(True)
    for i, (m, src, score, rmsd) in enumerate(records):
        m = Chem.Mol(m)
        m.SetProp("_Name", name)
        m.SetProp("compound_id", name)
        m.SetProp("pose_index", str(i))
        m.SetProp("pose_source", src)
        m.SetProp("vina_score", f"{score:.3f}")
        m.SetProp("rmsd_to_reference", f"{rmsd:.3f}")
        w.write(m)
    w.close()
    os.replace(tmp, path)


# ---------------------------------------------------------------- provenance
def write_labels(path: Path, rows: list[dict]) -> None:
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["compound_id", "value", "unit", "type", "stderr", "source"],
                           lineterminator="\n")
        w.writeheader()
        for r in sorted(rows, key=lambda r: r["compound_id"]):
            w.writerow(r)


def versions() -> dict:
    import meeko, rdkit, scipy, vina, gemmi
    return {"vina": vina.__version__, "meeko": meeko.__version__, "rdkit": rdkit.__version__,
            "numpy": np.__version__, "scipy": scipy.__version__, "gemmi": gemmi.__version__,
            "pyyaml": yaml.__version__, "python": sys.version.split()[0]}


def settings_text() -> str:
    return (f"AutoDock Vina (sf `vina`), exhaustiveness {EXHAUSTIVENESS}, seed {SEED}, cpu {CPU}, "
            f"n_poses {N_POSES}, min_rmsd {MIN_RMSD} Å, no energy-range cut-off "
            f"(energy_range {ENERGY_RANGE:g} kcal/mol), grid spacing {GRID_SPACING} Å, "
            f"box: {BOX_EDGE:g} Å cube centred on the midpoint of the Glide pose's heavy-atom bounding box")


# ---------------------------------------------------------------- checks
def check_dataset(out: Path, name: str) -> dict:
    """Read data/<name>/ back and verify it; returns per-compound stats."""
    d = out / name
    RDLogger.DisableLog("rdApp.*")
    stats = {}
    labels = {}
    with open(d / "labels.csv", newline="") as fh:
        rd = csv.DictReader(fh)
        assert rd.fieldnames == ["compound_id", "value", "unit", "type", "stderr", "source"], rd.fieldnames
        for r in rd:
            labels[r["compound_id"]] = r
    files = sorted((d / "poses").glob("*.sdf"))
    assert files, f"no poses in {d}"
    assert set(f.stem for f in files) <= set(labels), "poses/ has compounds without a label"
    missing = sorted(set(labels) - set(f.stem for f in files))
    if missing:
        log(f"[check {name}] WARNING: labelled but no poses file: {missing}")
    for f in files:
        recs = list(Chem.SDMolSupplier(str(f), removeHs=False, sanitize=True))
        assert all(m is not None for m in recs), f"{f}: unparsable record"
        text = f.read_text()
        assert "V3000" not in text, f"{f}: V3000 record"
        ref = recs[0]
        elems0 = [a.GetAtomicNum() for a in ref.GetAtoms()]
        bonds0 = sorted((b.GetBeginAtomIdx(), b.GetEndAtomIdx(), int(b.GetBondTypeAsDouble() * 2))
                        for b in ref.GetBonds())
        rmsds, scores, sources = [], [], []
        box_c = np.array(box_for(ref)[0])   # the box is a function of record 0
        max_out_heavy = max_out_h = -1e9
        for i, m in enumerate(recs):
            assert m.GetProp("_Name") == f.stem
            assert m.GetProp("compound_id") == f.stem
            assert int(m.GetProp("pose_index")) == i
            src = m.GetProp("pose_source")
            assert src == ("glide" if i == 0 else "vina"), (f, i, src)
            assert [a.GetAtomicNum() for a in m.GetAtoms()] == elems0, f"{f} pose {i}: element order"
            bonds = sorted((b.GetBeginAtomIdx(), b.GetEndAtomIdx(), int(b.GetBondTypeAsDouble() * 2))
                           for b in m.GetBonds())
            assert bonds == bonds0, f"{f} pose {i}: bond table"
            assert sum(a.GetAtomicNum() == 1 for a in m.GetAtoms()) == sum(e == 1 for e in elems0)
            r = float(m.GetProp("rmsd_to_reference"))
            rc = heavy_rmsd(m, ref)
            assert abs(r - rc) < 2e-3, f"{f} pose {i}: stored RMSD {r} vs recomputed {rc}"
            rmsds.append(r)
            scores.append(float(m.GetProp("vina_score")))
            sources.append(src)
            if box_c is not None:
                x = m.GetConformer().GetPositions()
                hv = heavy_mask(m)
                dev = np.abs(x - box_c) - BOX_EDGE / 2.0   # > 0 means outside
                max_out_heavy = max(max_out_heavy, float(dev[hv].max()))
                max_out_h = max(max_out_h, float(dev[~hv].max()))
        assert rmsds[0] == 0.0
        vs = scores[1:]
        assert vs == sorted(vs), f"{f}: Vina poses not in rank order"
        if box_c is not None:
            assert max_out_heavy <= 1e-3, f"{f}: heavy atom {max_out_heavy:.3f} Å outside the box"
        stats[f.stem] = {
            "n_records": len(recs), "n_vina": len(recs) - 1, "n_atoms": len(elems0),
            "n_heavy": int(sum(e > 1 for e in elems0)),
            "rmsd": rmsds, "scores": scores,
            "rmsd_min_vina": min(rmsds[1:]) if len(rmsds) > 1 else None,
            "rmsd_max_vina": max(rmsds[1:]) if len(rmsds) > 1 else None,
            "best_vina": min(vs) if vs else None, "glide_score": scores[0],
            "box_margin_heavy": (-max_out_heavy) if box_c is not None else None,
            "box_margin_h": (-max_out_h) if box_c is not None else None,
            "label": labels[f.stem],
        }
    return stats


# ---------------------------------------------------------------- READMEs
def fmt_range(a, b, nd=2):
    return f"{a:.{nd}f}–{b:.{nd}f}"


def write_data_readme(out: Path, all_stats: dict, meta: dict) -> None:
    lines = [
        "# Bundled multi-pose datasets",
        "",
        "Real protein–ligand complexes with measured affinities and several poses per compound.",
        "Generated by `tools/dock/run.sh` (see `tools/dock/README.md`); inputs, licences and",
        "provenance per set in `<set>/PROVENANCE.md`.",
        "",
        "Layout per set: `receptor.pdb` (protein as given, H included), `poses/<compound>.sdf`",
        "(multi-record V2000 SDF, explicit H, same atom order in every record: record 0 = Glide pose",
        "from the source data, records 1.. = AutoDock Vina poses in Vina rank order; data fields",
        "`compound_id`, `pose_index`, `pose_source` (glide|vina), `vina_score` (kcal/mol),",
        "`rmsd_to_reference` (Å, symmetry-aware heavy-atom RMSD to record 0, in place)),",
        "`labels.csv` (`compound_id,value,unit,type,stderr,source`).",
        "",
        "| set | compounds | poses per compound | label | label range | receptor atoms (heavy) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, stats in all_stats.items():
        npos = sorted({s["n_records"] for s in stats.values()})
        labs = [s["label"] for s in stats.values()]
        types = sorted({l["type"] for l in labs})
        if name == "tyk2":
            # report in nM to make mixed units comparable
            nm = [float(l["value"]) * (1000.0 if l["unit"] == "uM" else 1.0) for l in labs]
            lr = f"{min(nm):g}–{max(nm):g} nM (given as {', '.join(sorted({l['unit'] for l in labs}))})"
        else:
            vals = [float(l["value"]) for l in labs]
            lr = f"{min(vals):g}–{max(vals):g} ({labs[0]['unit']})"
        rec = meta[name]["receptor_atoms"]
        lines.append(f"| `{name}` | {len(stats)} | {'/'.join(map(str, npos))} (1 Glide + "
                     f"{'/'.join(str(n - 1) for n in npos)} Vina) | {', '.join(types)} | {lr} | "
                     f"{rec[0]} ({rec[1]}) |")
    lines += ["", "Per compound (Vina poses only for the RMSD range; scores in kcal/mol):", ""]
    for name, stats in all_stats.items():
        lines += [f"### {name}", "",
                  "| compound | atoms (heavy) | poses | RMSD to Glide, Vina poses (Å) | Vina pose 1 score | "
                  "Glide pose score (in place) | label |",
                  "| --- | --- | --- | --- | --- | --- | --- |"]
        for cid in sorted(stats):
            s = stats[cid]
            l = s["label"]
            lines.append(
                f"| {cid} | {s['n_atoms']} ({s['n_heavy']}) | {s['n_records']} | "
                f"{fmt_range(s['rmsd_min_vina'], s['rmsd_max_vina'])} | {s['best_vina']:.2f} | "
                f"{s['glide_score']:.2f} | {l['type']} {l['value']} {l['unit']} |")
        lines.append("")
    notes = []
    for name, stats in all_stats.items():
        for cid in sorted(stats):
            st = stats[cid]
            if st["rmsd_min_vina"] is not None and st["rmsd_min_vina"] > 2.0:
                notes.append(f"- `{name}/{cid}`: no Vina pose within 2 Å of the Glide pose (closest "
                             f"{st['rmsd_min_vina']:.2f} Å; best Vina score {st['best_vina']:.2f} vs "
                             f"{st['glide_score']:.2f} for the Glide pose in place): Vina's search at "
                             f"exhaustiveness {EXHAUSTIVENESS} missed that basin. Kept as docked.")
            if st["box_margin_h"] is not None and st["box_margin_h"] < 0:
                notes.append(f"- `{name}/{cid}`: all heavy atoms inside the box, but a meeko-rebuilt "
                             f"non-polar H of some Vina pose lies {-st['box_margin_h']:.2f} Å outside it.")
    if "eg5" in all_stats:
        notes.append("- `eg5` labels follow pbcnet's `predict.csv`, whose per-ligand assignment disagrees with "
                     "the source IC50s for 4 of 6 ligands: see `eg5/PROVENANCE.md` before using them.")
    if notes:
        lines += ["Notes:", ""] + notes + [""]
    lines += [
        "Regenerate (one CPU core: about 20 s per compound, a minute for the largest, about 8 minutes "
        "for both sets; the pinned environment is created on first use):",
        "",
        "```sh",
        "tools/dock/run.sh                 # both sets, then the checks",
        "tools/dock/run.sh --datasets eg5  # one set",
        "tools/dock/run.sh --check-only    # only re-read and verify data/, rewrite the READMEs",
        "```",
        "",
        f"Settings: {settings_text()}.",
        "",
    ]
    (out / "README.md").write_text("\n".join(lines))


def write_provenance(out: Path, name: str, meta: dict, stats: dict, vers: dict, failed: dict) -> None:
    d = out / name
    vs = ", ".join(f"{k} {v}" for k, v in vers.items())
    common_tail = [
        "",
        "## Docking",
        "",
        f"Generated by `tools/dock/run.sh` → `tools/dock/dock.py` ({vs}).",
        "",
        f"- {settings_text()}.",
        "- Receptor: `receptor.pdb` converted to PDBQT by meeko's `mk_prepare_receptor.py --read_pdb`"
        " (residue templates; every residue matched one and all were kept"
        + (", including the ACE/NME caps and the two crystal waters" if name == "tyk2" else "")
        + "; the H of the file kept, non-polar H merged). The PDBQT is a temporary file and is not shipped.",
        "- Ligand: the Glide record (explicit H, input protonation) prepared by meeko"
        " `MoleculePreparation` with default settings.",
        "- Record 0 = the Glide pose as given; `vina_score` = Vina `score()` of that pose in place"
        " (no local optimisation).",
        "- Records 1.. = `Vina.poses()` in rank order; `vina_score` = the Vina pose energy (column"
        " `total` of `Vina.energies()`). Docked molecules are exported with meeko's"
        " `RDKitMolCreate` (heavy atoms and polar H from Vina, non-polar H rebuilt by meeko) and"
        " mapped back onto the input atom order by a full-graph match, so every record has the atom"
        " order, bonds and H of record 0.",
        "- `rmsd_to_reference` = RDKit `rdMolAlign.CalcRMS` on heavy atoms, in place (no"
        " superposition), symmetry-aware, against record 0.",
        "",
    ]
    if name == "tyk2":
        head = [
            "# TYK2 (PDB 4GIH) — provenance",
            "",
            "Source: alchemiscale 0.8.0 source distribution on PyPI, `docs/tutorials/demo/`"
            " (a subset of the OpenFF protein-ligand benchmark TYK2 set).",
            "Licence: MIT, `LICENSE.alchemiscale` (copied unchanged from that distribution).",
            "",
            "| file here | from | change |",
            "| --- | --- | --- |",
            "| `receptor.pdb` | `protein.pdb` | none (byte-identical copy) |",
            "| `poses/<ligand>.sdf` record 0 | `ligands.sdf` (one Glide pose per ligand) | vendor data fields"
            " dropped; five fields added; written by RDKit (V2000) |",
            "| `poses/<ligand>.sdf` records 1–9 | AutoDock Vina docking (below) | generated |",
            "| `labels.csv` | `ligands.yml` `measurement` | `value`, `unit`, `error` (→ `stderr`) copied as"
            " written; `type: ki` → `Ki`; `doi` → `source` as `doi:...` |",
            "",
            f"{len(stats)} ligands. Units are mixed as in the source (µM and nM).",
        ]
    else:
        head = [
            "# Eg5 / KIF11 (PDB 3L9H) — provenance",
            "",
            "Source: pbcnet 2.0.9 source distribution on PyPI, `case/toy_data/`.",
            "Licence: MIT as declared in pbcnet's package metadata (PKG-INFO `License: MIT`, classifier"
            " `License :: OSI Approved :: MIT License`, README section 7). The distribution ships **no"
            " LICENSE file**, so there is no licence text to copy here.",
            "",
            "| file here | from | change |",
            "| --- | --- | --- |",
            "| `receptor.pdb` | `protein.pdb` | none (byte-identical copy) |",
            "| `poses/<ligand>.sdf` record 0 | `lig_eg5_CHEMBL*.sdf` (one Glide pose each) | vendor data"
            " fields dropped; five fields added; written by RDKit (V2000) |",
            "| `poses/<ligand>.sdf` records 1–9 | AutoDock Vina docking (below) | generated |",
            "| `labels.csv` | `predict.csv` columns `Label1`/`Label2` | each ligand's value collected from"
            " every row where it appears (all occurrences agree); `pre` (a model prediction) and `Label`"
            " (a difference) not used |",
            "",
            "Label type: pbcnet's `run.py` builds `predict.csv` from a list it calls pIC50 values"
            " (`input_G`: \"计算pIC50差值\", compute pIC50 differences), hence `type = pIC50`, `unit = p`"
            " (−log10 of the molar IC50); no error is given (`stderr` empty).",
            "",
            "**Caution — label-to-ligand assignment.** In pbcnet's `run.py` these six values are a"
            " hard-coded list (`ic50 = [7.47, 8.52, 8.3, 7.77, 7.6, 8.1]`, commented as example values)"
            " assigned to the ligand files in `os.listdir` order. The OpenFF protein-ligand-benchmark"
            " Eg5 set (repository openforcefield/protein-ligand-benchmark,"
            " `data/2020-06-19_eg5/00_data/ligands.yml`: Merck set, IC50 in nM,"
            " `doi:10.1158/0008-5472.CAN-16-0473` as recorded there)"
            " gives, as pIC50: CHEMBL1077204 8.10 (8 nM), CHEMBL1077227 8.30 (5 nM), CHEMBL1078691 7.47"
            " (34 nM), CHEMBL1078774 7.77 (17 nM), CHEMBL1078998 7.60 (25 nM), CHEMBL1082248 8.52 (3 nM):"
            " the same six values, but four of them on different ligands than in `predict.csv`"
            " (1077204, 1077227, 1078691, 1082248 are permuted). `labels.csv` follows `predict.csv` as"
            " shipped; treat the per-ligand Eg5 labels as unreliable for anything but a smoke test.",
            "",
            f"{len(stats)} ligands.",
        ]
    if failed:
        common_tail += ["## Failed ligands (no poses file)", ""] + [f"- `{n}`: {e}" for n, e in sorted(failed.items())] + [""]
    (d / "PROVENANCE.md").write_text("\n".join(head + common_tail))


# ---------------------------------------------------------------- main
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", type=Path, default=Path(os.environ.get("DOCK_SHARED", "/work/shared/data")))
    ap.add_argument("--out", type=Path, default=REPO / "data")
    ap.add_argument("--work", type=Path, default=HERE / "work")
    ap.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    ap.add_argument("--only", nargs="+", default=None, help="dock only these ligands (others kept)")
    ap.add_argument("--check-only", action="store_true")
    args = ap.parse_args()
    RDLogger.DisableLog("rdApp.*")

    vers = versions()
    log("versions:", json.dumps(vers))
    t_all = time.time()
    summary_path = args.work / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}

    if not args.check_only:
        for name in args.datasets:
            src = args.shared / name
            d = args.out / name
            work = args.work / name
            work.mkdir(parents=True, exist_ok=True)
            (d / "poses").mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src / "protein.pdb", d / "receptor.pdb")
            lic = DATASETS[name]["licence_file"]
            if lic:
                shutil.copyfile(src / lic, d / lic)
            mols = read_ligands(name, src)
            names = [m.GetProp("_Name") for m in mols]
            rows = labels_tyk2(src, names) if name == "tyk2" else labels_eg5(src, names)
            write_labels(d / "labels.csv", rows)
            rec = prepare_receptor(d / "receptor.pdb", work)
            log(f"[{name}] receptor PDBQT: {rec} ({sum(1 for l in open(rec) if l.startswith(('ATOM', 'HETATM')))} atoms)")
            ds = summary.setdefault(name, {})
            stale = set(ds) - set(names)
            for s in stale:
                del ds[s]
            for m in mols:
                n = m.GetProp("_Name")
                if args.only and n not in args.only:
                    continue
                try:
                    r = dock_one(rec, m, n)
                except Exception as e:  # keep going, report at the end
                    log(f"[{name}] {n}: FAILED: {e}")
                    ds[n] = {"failed": str(e)}
                    continue
                write_sdf(d / "poses" / f"{n}.sdf", n, r["records"])
                ds[n] = {k: v for k, v in r.items() if k != "records"}
                ds[n]["n_vina"] = len(r["records"]) - 1
                rm = [x[3] for x in r["records"][1:]]
                log(f"[{name}] {n}: {len(r['records']) - 1} Vina poses, RMSD {min(rm):.2f}-{max(rm):.2f} Å, "
                    f"best {r['records'][1][2]:.2f}, Glide in place {r['records'][0][2]:.2f} "
                    f"(local opt {r['glide_score_opt']:.2f}), {r['seconds']:.0f} s, "
                    f"meeko order == input: {r['meeko_order_equals_input']}, round trip max dev heavy "
                    f"{r['roundtrip_heavy_max_dev']:.4f} / polar H {r['roundtrip_polar_h_max_dev']:.4f} / "
                    f"non-polar H {r['roundtrip_nonpolar_h_max_dev']:.3f} Å")
                summary_path.write_text(json.dumps(summary, indent=1, sort_keys=True))
            summary_path.write_text(json.dumps(summary, indent=1, sort_keys=True))

    # ---- checks and READMEs (always over every set present in data/)
    all_stats, meta = {}, {}
    failed = {n: s["failed"] for ds in summary.values() for n, s in ds.items() if "failed" in s}
    for name in DATASETS:
        d = args.out / name
        if not (d / "labels.csv").exists():
            continue
        st = check_dataset(args.out, name)
        all_stats[name] = st
        pdb_atoms = [l for l in open(d / "receptor.pdb") if l.startswith(("ATOM", "HETATM"))]
        heavy = [l for l in pdb_atoms if l[76:78].strip() != "H"]
        meta[name] = {"receptor_atoms": (len(pdb_atoms), len(heavy))}
        log(f"[check {name}] {len(st)} compounds OK")
        for cid, s in st.items():
            log(f"  {cid}: {s['n_records']} records ({s['n_vina']} Vina), {s['n_atoms']} atoms, "
                f"RMSD " + " ".join(f"{x:.2f}" for x in s["rmsd"]) +
                f"; scores " + " ".join(f"{x:.2f}" for x in s["scores"]) +
                (f"; box margin heavy {s['box_margin_heavy']:.2f} Å, H {s['box_margin_h']:.2f} Å"
                 if s["box_margin_heavy"] is not None else ""))
        write_provenance(args.out, name, meta[name], st, vers,
                         {n: e for n, e in failed.items() if n in summary.get(name, {})})
    write_data_readme(args.out, all_stats, meta)
    if failed:
        log("FAILED:", json.dumps(failed, indent=1))
    total = sum(f.stat().st_size for f in args.out.rglob("*") if f.is_file())
    log(f"data/ size: {total / 1e6:.2f} MB; elapsed {time.time() - t_all:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
