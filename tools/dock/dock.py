#!/usr/bin/env python3
"""Generate the bundled multi-pose datasets in data/ (TYK2, Eg5 and the 15-target plb set).

For every ligand: pose 0 is the Glide pose shipped with the input data; poses
1..N are AutoDock Vina poses (meeko ligand/receptor preparation, Vina scoring
function, fixed seed, one CPU) in a cube centred on the Glide pose.  Every
pose is written with the atom order, bond table and hydrogens of the input
Glide record, so all records of one compound are atom-for-atom comparable.

Usage (normally through run.sh, which pins the environment):
    python dock.py [--only NAME ...] [--datasets tyk2 eg5 plb] [--check-only]
    python dock.py --datasets plb [--targets cdk2,eg5] [--jobs N] [--resume] [--deadline S]

For plb (OpenFF protein-ligand benchmark, data/plb/<target>/) the reference
pose of ligands.sdf is record 0 (pose_source `reference`); everything else is
as for TYK2/Eg5.  Ligands can be docked by N worker processes (one Vina CPU
each; the seed is fixed per ligand, so the result equals a serial run).

The inputs are read from --shared (default: /work/shared/data); everything the
project needs is copied into --out (default: <repo>/data).  Nothing under
data/ refers back to the input folder.
"""
from __future__ import annotations

import argparse
import csv
import itertools
import json
import math
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
try:
    import yaml
except ImportError:  # the device's docking kit has no PyYAML: only the TYK2/plb label readers use it
    yaml = None
from rdkit import Chem, RDLogger
from rdkit.Chem import rdMolAlign, rdMolDescriptors
from rdkit.Geometry import Point3D

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent

# ---------------------------------------------------------------- settings
BOX_EDGE = 22.0          # Å, cube edge; centre = midpoint of the Glide heavy-atom bounding box
BOX_LIGAND_MAX = 12.0    # Å; a ligand whose heavy-atom bounding box is longer gets a cube of
BOX_PAD = 10.0           #   edge = that length + BOX_PAD (5 Å clearance each side), see box_for
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
    "plb": {
        "title": "OpenFF protein-ligand benchmark, 15 targets (data/plb/<target>/)",
        "licence_file": None,
    },
}
DEFAULT_DOCK = ["tyk2", "eg5"]   # what a plain run.sh docks (plb takes ~2 h on one core)

# OpenFF protein-ligand benchmark (github.com/openforcefield/protein-ligand-benchmark).
PLB_COMMIT = "fd88824f"
PLB_TARGETS = ["cdk2", "cdk8", "cmet", "eg5", "hif2a", "mcl1", "p38", "pde2", "pfkfb3",
               "ptp1b", "shp2", "syk", "thrombin", "tnks2", "tyk2"]
PLB_LICENCES = ["LICENSE", "LICENSE_DATA"]
PLB_TYPES = {"ic50": "IC50", "ki": "Ki", "pic50": "pIC50"}

PROPS = ("compound_id", "pose_index", "pose_source", "vina_score", "rmsd_to_reference")


def log(*a):
    print(*a, flush=True)


# ---------------------------------------------------------------- inputs

def unique_names(mols: list, where) -> list:
    """`mols`, after checking that no two share a title (the compound id)."""
    names = [m.GetProp("_Name") for m in mols]
    if len(set(names)) != len(names):
        raise RuntimeError(f"duplicate ligand names in {where}")
    return mols


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
    return unique_names(mols, name)


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


def ligand_length(m: Chem.Mol) -> float:
    """Longest edge of the heavy-atom axis-aligned bounding box (Å)."""
    x = m.GetConformer().GetPositions()[heavy_mask(m)]
    return float((x.max(0) - x.min(0)).max())


def box_edge_for(m: Chem.Mol) -> float:
    """BOX_EDGE, or length + BOX_PAD (rounded up to 0.001 Å) for ligands longer than BOX_LIGAND_MAX.

    Every TYK2/Eg5 ligand is at most 12 Å long, so their boxes are all BOX_EDGE."""
    length = ligand_length(m)
    if length <= BOX_LIGAND_MAX:
        return BOX_EDGE
    return math.ceil((length + BOX_PAD) * 1000.0) / 1000.0


def box_for(m: Chem.Mol) -> tuple[list[float], list[float]]:
    x = m.GetConformer().GetPositions()[heavy_mask(m)]
    centre = (x.min(0) + x.max(0)) / 2.0
    return [round(float(c), 3) for c in centre], [box_edge_for(m)] * 3


def heavy_rmsd(probe: Chem.Mol, ref: Chem.Mol) -> float:
    """Symmetry-aware heavy-atom RMSD in place (no superposition)."""
    p = Chem.RemoveHs(probe, sanitize=False)
    r = Chem.RemoveHs(ref, sanitize=False)
    return float(rdMolAlign.CalcRMS(p, r))


def heavy_rmsd_or_nan(probe: Chem.Mol, ref: Chem.Mol) -> float:
    """heavy_rmsd, or NaN where the two records' graphs cannot be matched (protomers or
    tautomers of one compound whose bond orders differ)."""
    try:
        return heavy_rmsd(probe, ref)
    except (RuntimeError, ValueError):
        return float("nan")


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
def prepare_receptor(pdb: Path, work: Path, extra: tuple = ()) -> Path:
    """meeko's mk_prepare_receptor.py (template-based typing, Gasteiger charges
    from the templates, existing H kept, non-polar H merged); `extra` are further
    options of it."""
    base = work / "receptor"
    exe = Path(sys.executable).parent / "mk_prepare_receptor.py"
    if exe.exists():
        cmd = [sys.executable, str(exe)]
    else:  # e.g. meeko installed with pip --target: same entry point, run from the module
        cmd = [sys.executable, "-c", "import sys; from meeko.cli.mk_prepare_receptor import main; "
               "sys.argv[0] = 'mk_prepare_receptor.py'; sys.exit(main())"]
    cmd += ["--read_pdb", str(pdb), "-o", str(base), "-p", *extra]
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


def dock_one(receptor_pdbqt: Path, glide: Chem.Mol, name: str, ref_source: str = "glide") -> dict:
    """Dock one ligand; `glide` is the reference pose (record 0, pose_source `ref_source`)."""
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
    records.append((p0, ref_source, glide_score, 0.0))
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
        if score is not None:  # None: Vina could not score the pose
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
def check_dataset(out: Path, name: str, ref_source: str = "glide", errors: list | None = None,
                  allowed_missing: set | None = None) -> dict:
    """Read data/<name>/ back and verify it; returns per-compound stats.

    With `errors` (a list) a compound that fails a check is recorded there and
    skipped instead of aborting; compounds in `allowed_missing` (documented
    failures) may lack a poses file."""
    d = out / name
    RDLogger.DisableLog("rdApp.*")
    stats = {}
    labels = read_labels(d / "labels.csv")
    files = sorted((d / "poses").glob("*.sdf"))
    assert files, f"no poses in {d}"
    assert set(f.stem for f in files) <= set(labels), "poses/ has compounds without a label"
    missing = sorted(set(labels) - set(f.stem for f in files) - (allowed_missing or set()))
    if missing:
        log(f"[check {name}] WARNING: labelled but no poses file: {missing}")
    for f in files:
        try:
            st = check_compound(f, ref_source)
        except Exception as e:
            if errors is None:
                raise
            errors.append(f"{name}/{f.stem}: {type(e).__name__}: {e}")
            continue
        st["label"] = labels[f.stem]
        stats[f.stem] = st
    return stats


def read_labels(path: Path) -> dict:
    labels = {}
    with open(path, newline="") as fh:
        rd = csv.DictReader(fh)
        assert rd.fieldnames == ["compound_id", "value", "unit", "type", "stderr", "source"], rd.fieldnames
        for r in rd:
            labels[r["compound_id"]] = r
    return labels


def check_compound(f: Path, ref_source: str) -> dict:
    """Verify one poses file (see tools/dock/README.md, Checks); returns its stats."""
    recs = list(Chem.SDMolSupplier(str(f), removeHs=False, sanitize=True))
    assert recs, f"{f}: no records"
    assert all(m is not None for m in recs), f"{f}: unparsable record"
    text = f.read_text()
    assert "V3000" not in text, f"{f}: V3000 record"
    ref = recs[0]
    elems0 = [a.GetAtomicNum() for a in ref.GetAtoms()]
    bonds0 = sorted((b.GetBeginAtomIdx(), b.GetEndAtomIdx(), int(b.GetBondTypeAsDouble() * 2))
                    for b in ref.GetBonds())
    rmsds, scores, sources = [], [], []
    box_c, box_s = box_for(ref)   # the box is a function of record 0
    box_c, edge = np.array(box_c), box_s[0]
    max_out_heavy = max_out_h = -1e9
    for i, m in enumerate(recs):
        assert m.GetProp("_Name") == f.stem
        assert m.GetProp("compound_id") == f.stem
        assert int(m.GetProp("pose_index")) == i
        src = m.GetProp("pose_source")
        assert src == (ref_source if i == 0 else "vina"), (f, i, src)
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
        x = m.GetConformer().GetPositions()
        hv = heavy_mask(m)
        dev = np.abs(x - box_c) - edge / 2.0   # > 0 means outside
        max_out_heavy = max(max_out_heavy, float(dev[hv].max()))
        if (~hv).any():
            max_out_h = max(max_out_h, float(dev[~hv].max()))
    assert rmsds[0] == 0.0
    vs = scores[1:]
    assert vs == sorted(vs), f"{f}: Vina poses not in rank order"
    # Vina's grid has ceil(edge / spacing) voxels per axis, centred on the box centre, so it
    # reaches up to half a voxel beyond the nominal box (22 Å -> 59 voxels = 22.125 Å); Vina
    # confines the moving atoms to the grid.  Margins are reported against the nominal box.
    grid_excess = (math.ceil(edge / GRID_SPACING - 1e-9) * GRID_SPACING - edge) / 2.0
    assert max_out_heavy <= grid_excess + 1e-3, \
        f"{f}: heavy atom {max_out_heavy:.3f} Å outside the box (grid reaches {grid_excess:.3f} Å beyond)"
    return {
        "n_records": len(recs), "n_vina": len(recs) - 1, "n_atoms": len(elems0),
        "n_heavy": int(sum(e > 1 for e in elems0)),
        "rmsd": rmsds, "scores": scores,
        "rmsd_min_vina": min(rmsds[1:]) if len(rmsds) > 1 else None,
        "rmsd_max_vina": max(rmsds[1:]) if len(rmsds) > 1 else None,
        "best_vina": min(vs) if vs else None, "glide_score": scores[0],
        "box_margin_heavy": -max_out_heavy,
        "box_margin_h": -max_out_h,
        "box_edge": edge, "ligand_length": ligand_length(ref),
    }


# ---------------------------------------------------------------- READMEs
def fmt_range(a, b, nd=2):
    return f"{a:.{nd}f}–{b:.{nd}f}"


# data/polaris is made by `multipose dock` (tools/dock/polaris.sh), not by this script;
# the index names it so that data/README.md lists every bundled set.
POLARIS_NOTE = (
    "`polaris/`: the Polaris x ASAP potency training set (1,031 compounds, pIC50 on SARS-CoV-2"
    " and MERS-CoV Mpro) docked from SMILES by `multipose dock` (`tools/dock/polaris.sh`),"
    " and `polaris/embedded/` with one RDKit conformer per compound for ligand-only models;"
    " state, settings and provenance in `polaris/README.md`."
    "\n\n`fepplus/`: Schrödinger's public FEP+ benchmark (62 congeneric series on 28 proteins,"
    " ΔG in kcal/mol, FEP+ 21.4's predictions beside as `fep_plus.csv`), one target folder per"
    " series, made by `tools/dock/fepplus.sh`; folding of duplicate records, failures and"
    " state in `fepplus/README.md`."
)


def write_data_readme(out: Path, all_stats: dict, meta: dict, plb: dict | None = None) -> None:
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
    ]
    if plb:
        lines += [
            "The 15-target benchmark `plb/` has one such set per target, `plb/<target>/`, with two",
            "differences: `receptor.pdb` is stored without H, and record 0 is the benchmark's modelled",
            "reference pose (`pose_source` `reference`).",
        ]
    lines += [
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
    if plb:
        lines += ["", "`plb/` — OpenFF protein-ligand benchmark (github.com/openforcefield/protein-ligand-benchmark"
                  f" commit `{PLB_COMMIT}`, data CC-BY 4.0): per target (record 0 = reference pose; statistics,"
                  " failures and per-compound tables in `plb/PROVENANCE.md`, failures also in"
                  " `plb/failures.csv`):", "",
                  "| target | compounds | docked (10 records unless Vina returned fewer) | failed | label |"
                  " label range (p = −log10 M) | receptor heavy atoms | some Vina pose < 2 Å from record 0 |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- |"]
        for t, ps in plb.items():
            labs = read_labels(out / "plb" / t / "labels.csv")
            pv = [p_value(l) for l in labs.values()]
            types = sorted({l["type"] for l in labs.values()})
            units = sorted({l["unit"] for l in labs.values()})
            heavy = sum(1 for l in open(out / "plb" / t / "receptor.pdb") if l.startswith(("ATOM", "HETATM")))
            lines.append(f"| `{t}` | {ps['ligands']} | {ps['docked']} | {ps['failures']} | {', '.join(types)} "
                         f"({', '.join(units)}) | {min(pv):.2f}–{max(pv):.2f} | {heavy} | "
                         f"{fmt(ps['frac_2A'], pct=True)} |")
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
    if plb:
        lines += [
            "`plb/` (297 ligands, several CPU-hours: 44–132 s per ligand on one Xeon core of the device"
            " machine for the largest ones): `tools/dock/run.sh --datasets plb --jobs N`"
            " (`--targets cdk2,eg5` for a subset, `--resume --deadline S` to split the work over several calls;"
            " see `tools/dock/README.md`). Settings as above with the reference pose in place of the Glide"
            f" pose, and a cube of edge = ligand length + {BOX_PAD:g} Å for ligands longer than"
            f" {BOX_LIGAND_MAX:g} Å.",
            "",
        ]
    lines += [POLARIS_NOTE, ""]
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


# ---------------------------------------------------------------- plb (OpenFF protein-ligand benchmark)
def plb_read_ligands(sdf: Path) -> list[Chem.Mol]:
    """Reference poses of one target, explicit H, in file order (title = ligand name)."""
    mols = []
    for m in Chem.SDMolSupplier(str(sdf), removeHs=False, sanitize=True):
        if m is None:
            raise RuntimeError(f"unparsable record in {sdf}")
        mols.append(m)
    return unique_names(mols, sdf)


def labels_plb(src: Path, names: list[str]) -> list[dict]:
    """`measurement` of ligands.yml, values as the exact text of the file (BaseLoader).

    ic50 -> IC50, ki -> Ki; pde2 gives `type: pic50` with `unit: ''`, written as
    pIC50 with unit `p` (as data/eg5).  `error: -1` (no error given) -> empty
    stderr.  `additional` entries (thrombin: dG, dH, TdS from ITC) are not used."""
    with open(src / "ligands.yml") as fh:
        data = yaml.load(fh, Loader=yaml.BaseLoader)
    rows = []
    for n in names:
        meas = data[n]["measurement"]
        kind = PLB_TYPES.get(meas["type"].lower())
        if kind is None:
            raise RuntimeError(f"{src.name}/{n}: unexpected measurement type {meas['type']!r}")
        unit = meas["unit"]
        if kind == "pIC50" and unit == "":
            unit = "p"
        if kind != "pIC50" and unit not in ("uM", "nM"):
            raise RuntimeError(f"{src.name}/{n}: unexpected unit {unit!r}")
        float(meas["value"])
        err = meas.get("error", "")
        # -1 is the benchmark's "no error given" (e.g. p38 lig_p38a_3fmh: "no error given").
        if err in ("", "null", "~") or float(err) < 0:
            err = ""
        refs = meas["doi"] if isinstance(meas["doi"], list) else [meas["doi"]]
        rows.append({
            "compound_id": n,
            "value": meas["value"],
            "unit": unit,
            "type": kind,
            "stderr": err,
            # several references (hif2a, shp2) joined by "; "; a URL (patent) is kept as a URL
            "source": "; ".join(r if r.startswith("http") else "doi:" + r for r in refs),
        })
    extra = set(data) - set(names)
    if extra:
        raise RuntimeError(f"{src.name}/ligands.yml has entries without a pose: {sorted(extra)}")
    return rows


def p_value(label: dict) -> float:
    """Label on the p scale (-log10 molar) for the statistics in PROVENANCE.md."""
    v = float(label["value"])
    if label["type"] in ("pIC50", "pKi"):
        return v
    return -math.log10(v * {"uM": 1e-6, "nM": 1e-9}[label["unit"]])


def strip_h_pdb(src: Path, dst: Path) -> dict:
    """Copy a PDB without its hydrogen atoms (element column H); every other line is kept
    as is, except CONECT records, from which the serials of removed H are deleted (a
    record left with no partner, or centred on an H, is dropped)."""
    out, h_serials, n_atoms, n_conect_changed = [], set(), 0, 0
    lines = src.read_text().splitlines(keepends=True)
    for l in lines:
        if l.startswith(("ATOM  ", "HETATM")):
            el = l[76:78].strip()
            if not el:
                raise RuntimeError(f"{src}: atom line without element column: {l!r}")
            if el.upper() in ("H", "D"):
                h_serials.add(int(l[6:11]))
                continue
            n_atoms += 1
        out.append(l)
    final = []
    for l in out:
        if l.startswith("CONECT"):
            body = l.rstrip("\r\n")
            nums = [int(body[i:i + 5]) for i in range(6, min(len(body), 31), 5) if body[i:i + 5].strip()]
            keep = [x for x in nums[1:] if x not in h_serials]
            if nums[0] in h_serials or not keep:
                n_conect_changed += 1
                continue
            if len(keep) != len(nums) - 1:
                n_conect_changed += 1
                l = "CONECT" + "".join(f"{x:5d}" for x in [nums[0]] + keep) + l[len(body):]
        final.append(l)
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_text("".join(final))
    return {"heavy_atoms_kept": n_atoms, "h_removed": len(h_serials), "conect_changed": n_conect_changed}


def pdb_residues(path: Path) -> set:
    res = set()
    for l in open(path):
        if l.startswith(("ATOM  ", "HETATM")):
            res.add((l[21], l[22:26].strip(), l[26].strip(), l[17:20].strip()))
    return res


def plb_receptor_task(task: dict) -> dict:
    """Receptor PDBQT from the H-containing protein.pdb; reports residues lost, if any."""
    work = Path(task["work"])
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    try:
        rec = prepare_receptor(Path(task["pdb"]), work, tuple(task.get("extra", ())))
    except Exception as e:
        return {"failed": f"{type(e).__name__}: {e}".replace("\n", " ")[:500]}
    r_in, r_out = pdb_residues(Path(task["pdb"])), pdb_residues(rec)
    n_out = sum(1 for l in open(rec) if l.startswith(("ATOM", "HETATM")))
    return {"pdbqt": str(rec), "pdbqt_atoms": n_out, "residues_in": len(r_in), "residues_out": len(r_out),
            "residues_lost": sorted(" ".join(x) for x in r_in - r_out),
            "seconds": round(time.time() - t0, 1)}


_LIGANDS: dict = {}


def _plb_ligand(sdf: str, name: str) -> Chem.Mol:
    if sdf not in _LIGANDS:
        _LIGANDS[sdf] = {m.GetProp("_Name"): m for m in plb_read_ligands(Path(sdf))}
    return _LIGANDS[sdf][name]


def score_in_place(receptor_pdbqt: Path, ref: Chem.Mol) -> float:
    from vina import Vina
    v = Vina(sf_name="vina", cpu=CPU, seed=SEED, verbosity=0)
    v.set_receptor(rigid_pdbqt_filename=str(receptor_pdbqt))
    v.set_ligand_from_string(ligand_pdbqt(ref))
    centre, size = box_for(ref)
    v.compute_vina_maps(center=centre, box_size=size, spacing=GRID_SPACING)
    return float(v.score()[0])


def plb_dock_task(task: dict) -> dict:
    """Dock one plb ligand and write its poses file (run in a worker process).

    On failure the reference pose alone (record 0, Vina score in place) is
    written if that still works; the returned dict then has `failed`."""
    RDLogger.DisableLog("rdApp.*")
    t0 = time.time()
    name, out, rec = task["name"], Path(task["out"]), Path(task["receptor"])
    try:
        mol = _plb_ligand(task["sdf"], name)
    except Exception as e:
        out.unlink(missing_ok=True)
        return {"failed": f"reference pose unreadable ({type(e).__name__}: {e}); no poses file", "written": 0}
    try:
        r = dock_one(rec, mol, name, "reference")
        write_sdf(out, name, r["records"])
        info = {k: v for k, v in r.items() if k not in ("records", "glide_score_opt")}
        info["reference_score_opt"] = r["glide_score_opt"]
        info["n_vina"] = len(r["records"]) - 1
        info["rmsd_vina"] = [round(x[3], 3) for x in r["records"][1:]]
        info["scores"] = [round(x[2], 3) for x in r["records"]]
        info["written"] = len(r["records"])
        return info
    except Exception as e:
        reason = f"{type(e).__name__}: {e}".replace("\n", " ")[:400]
    try:
        score = score_in_place(rec, mol)
        p0 = with_coords(clean_template(mol, name), mol.GetConformer().GetPositions())
        write_sdf(out, name, [(p0, "reference", score, 0.0)])
        return {"failed": reason + "; reference pose written alone", "written": 1,
                "seconds": time.time() - t0}
    except Exception as e2:
        out.unlink(missing_ok=True)
        return {"failed": reason + f"; reference pose not written either ({type(e2).__name__}: {e2}); "
                "no poses file", "written": 0, "seconds": time.time() - t0}


def run_tasks(fn, tasks: list, jobs: int, deadline_at: float | None, on_done) -> list:
    """Run fn(task) for every task, `jobs` at a time in worker processes (in this process
    for jobs == 1), calling on_done(task, result) as each finishes.  No task is started
    after `deadline_at` (time.time()); returns the tasks not started."""
    def late():
        return deadline_at is not None and time.time() > deadline_at
    if jobs <= 1:
        for i, t in enumerate(tasks):
            if late():
                return tasks[i:]
            on_done(t, fn(t))
        return []
    import concurrent.futures as cf
    import multiprocessing as mp
    from concurrent.futures.process import BrokenProcessPool
    pending = list(reversed(tasks))
    running: dict = {}
    with cf.ProcessPoolExecutor(max_workers=jobs, mp_context=mp.get_context("spawn")) as ex:
        broken = False
        while pending or running:
            while pending and not broken and len(running) < jobs and not late():
                t = pending.pop()
                try:
                    running[ex.submit(fn, t)] = t
                except BrokenProcessPool:
                    pending.append(t)
                    broken = True
            if not running:
                break
            done, _ = cf.wait(list(running), return_when=cf.FIRST_COMPLETED)
            for f in done:
                t = running.pop(f)
                try:
                    res = f.result()
                except Exception as e:  # a worker died (e.g. a crash inside Vina)
                    broken = broken or isinstance(e, BrokenProcessPool)
                    res = {"failed": f"worker process error ({type(e).__name__}: {e}); no poses file",
                           "written": 0}
                    if "out" in t:
                        Path(t["out"]).unlink(missing_ok=True)
                on_done(t, res)
    return list(reversed(pending))


def read_failures(path: Path) -> dict:
    if not path.exists():
        return {}
    with open(path, newline="") as fh:
        return {(r["target"], r["compound_id"]): r["reason"] for r in csv.DictReader(fh)}


def write_failures(path: Path, failures: dict) -> None:
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["target", "compound_id", "reason"])
        for (t, c), r in sorted(failures.items()):
            w.writerow([t, c, r])


def cpu_model() -> str:
    try:
        for l in open("/proc/cpuinfo"):
            if l.startswith("model name"):
                return l.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def dock_plb(args, vers: dict, t_start: float) -> dict:
    """Dock (a subset of) plb into args.out/plb; returns counts for this run."""
    src_root, out_root, work_root = args.shared / "plb", args.out / "plb", args.work / "plb"
    targets = args.targets or PLB_TARGETS
    out_root.mkdir(parents=True, exist_ok=True)
    work_root.mkdir(parents=True, exist_ok=True)
    for lic in PLB_LICENCES:
        shutil.copyfile(src_root / lic, out_root / lic)
    fail_path = out_root / "failures.csv"
    failures = read_failures(fail_path)
    summ_path = args.work / "summary_plb.json"
    summ = json.loads(summ_path.read_text()) if summ_path.exists() else {}
    summ.setdefault("ligands", {})
    summ.setdefault("receptors", {})
    summ.setdefault("runs", [])
    tasks, preps, skipped = [], [], 0
    for t in targets:
        src, d = src_root / t, out_root / t
        (d / "poses").mkdir(parents=True, exist_ok=True)
        strip = strip_h_pdb(src / "protein.pdb", d / "receptor.pdb")
        mols = plb_read_ligands(src / "ligands.sdf")
        names = [m.GetProp("_Name") for m in mols]
        write_labels(d / "labels.csv", labels_plb(src, names))
        for f in list((d / "poses").glob("*.sdf")) + list((d / "poses").glob("*.sdf.tmp")):
            if f.suffix == ".tmp" or f.stem not in names:
                f.unlink()
        for key in [k for k in failures if k[0] == t and k[1] not in names]:
            del failures[key]
        ls = summ["ligands"].setdefault(t, {})
        for n in set(ls) - set(names):
            del ls[n]
        n_tasks = len(tasks)
        for m in mols:
            n = m.GetProp("_Name")
            if args.only and n not in args.only:
                continue
            out = d / "poses" / f"{n}.sdf"
            if args.resume and out.exists() and (t, n) not in failures:
                try:
                    if check_compound(out, "reference")["n_records"] > 1:
                        skipped += 1
                        continue
                except Exception as e:
                    log(f"[plb {t}] {n}: existing poses file fails the checks ({e}); re-docking")
            edge = box_edge_for(m)
            tasks.append({"target": t, "name": n, "sdf": str(src / "ligands.sdf"), "out": str(out),
                          "receptor": str(work_root / t / "receptor.pdbqt"),
                          "cost": m.GetNumHeavyAtoms() * (1 + rdMolDescriptors.CalcNumRotatableBonds(m))
                          * (edge / BOX_EDGE) ** 3})
        if len(tasks) > n_tasks:
            preps.append({"target": t, "pdb": str(src / "protein.pdb"), "work": str(work_root / t)})
        summ["receptors"].setdefault(t, {}).update({"stripped": strip})
    log(f"[plb] targets {','.join(targets)}: {len(tasks)} ligands to dock ({skipped} kept from an earlier "
        f"run), {len(preps)} receptors to prepare, {args.jobs} worker(s)")

    # The run's record is written at once and updated after every ligand, so that a run
    # stopped from outside (e.g. by `timeout`) still leaves an account of what it did.
    counts = {"ok": 0, "failed": 0}
    run = {"started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t_start)),
           "wall_s": 0.0, "jobs": args.jobs, "cpu_count": os.cpu_count(), "cpu_model": cpu_model(),
           "machine": args.machine or "", "targets": targets, "docked": 0, "failed": 0,
           "not_started": None, "kept": skipped, "versions": vers, "finished": False, "note": ""}
    summ["runs"].append(run)

    def save():
        run.update(wall_s=round(time.time() - t_start, 1), docked=counts["ok"], failed=counts["failed"])
        summ_path.write_text(json.dumps(summ, indent=1, sort_keys=True))
        write_failures(fail_path, failures)

    bad = {}

    def prep_done(task, res):
        summ["receptors"][task["target"]].update({"prep": res})
        if "failed" in res:
            bad[task["target"]] = res["failed"]
            log(f"[plb {task['target']}] receptor preparation FAILED: {res['failed']}")
        else:
            log(f"[plb {task['target']}] receptor PDBQT {res['pdbqt_atoms']} atoms, residues "
                f"{res['residues_in']} -> {res['residues_out']}"
                + (f" LOST {res['residues_lost']}" if res["residues_lost"] else "") + f", {res['seconds']} s")
    run_tasks(plb_receptor_task, preps, args.jobs, None, prep_done)
    for task in [x for x in tasks if x["target"] in bad]:
        failures[(task["target"], task["name"])] = f"receptor preparation failed: {bad[task['target']]}; no poses file"
        Path(task["out"]).unlink(missing_ok=True)
    tasks = sorted((x for x in tasks if x["target"] not in bad), key=lambda x: -x["cost"])
    save()

    t_dock = time.time()

    def done(task, res):
        t, n = task["target"], task["name"]
        summ["ligands"][t][n] = res
        if "failed" in res:
            failures[(t, n)] = res["failed"]
            counts["failed"] += 1
            log(f"[plb {t}] {n}: FAILED: {res['failed']}")
        else:
            failures.pop((t, n), None)
            counts["ok"] += 1
            rm = res["rmsd_vina"]
            log(f"[plb {t}] {n}: {res['n_vina']} Vina poses, RMSD {min(rm):.2f}-{max(rm):.2f} Å, best "
                f"{res['scores'][1]:.2f}, reference in place {res['scores'][0]:.2f} (local opt "
                f"{res['reference_score_opt']:.2f}), box {res['box_size'][0]:g} Å, {res['seconds']:.0f} s "
                f"[{counts['ok'] + counts['failed']}/{len(tasks)} at {time.time() - t_start:.0f} s]")
        save()
    deadline_at = t_start + args.deadline if args.deadline else None
    left = run_tasks(plb_dock_task, tasks, args.jobs, deadline_at, done)
    if left:
        log(f"[plb] deadline: {len(left)} ligands not started (run again with --resume): "
            + " ".join(f"{x['target']}/{x['name']}" for x in left))
    run.update(docking_wall_s=round(time.time() - t_dock, 1), not_started=len(left), finished=True)
    save()
    return {"failed": counts["failed"], "not_started": len(left)}


def check_plb(out: Path) -> tuple[dict, list, dict, dict]:
    """Check every plb target present; returns (stats per target, check errors, failures,
    missing compounds per target)."""
    root = out / "plb"
    failures = read_failures(root / "failures.csv")
    stats, errors, missing = {}, [], {}
    for t in PLB_TARGETS:
        d = root / t
        if not (d / "labels.csv").exists():
            continue
        labels = read_labels(d / "labels.csv")
        have = {f.stem for f in (d / "poses").glob("*.sdf")}
        documented = {c for (tt, c) in failures if tt == t}
        missing[t] = sorted(set(labels) - have - documented)
        st = check_dataset(root, t, "reference", errors, documented) if have else {}
        stats[t] = st
        log(f"[check plb/{t}] {len(st)} poses files OK ({sum(s['n_records'] > 1 for s in st.values())} "
            f"docked), {len(documented)} documented failures, {len(missing[t])} not docked yet")
    for (t, c) in failures:
        if not (root / t / "labels.csv").exists() or c not in read_labels(root / t / "labels.csv"):
            errors.append(f"failures.csv names {t}/{c}, which has no label")
    return stats, errors, failures, missing


def spearman(a: list, b: list) -> float | None:
    if len(a) < 3:
        return None
    from scipy.stats import spearmanr
    r = spearmanr(a, b).statistic
    return None if r != r else float(r)


def plb_target_stats(st: dict, labels_n: int, failures: dict, t: str, missing: list) -> dict:
    docked = {c: s for c, s in st.items() if s["n_records"] > 1 and (t, c) not in failures}
    top = [s["rmsd"][1] for s in docked.values()]
    closest = [s["rmsd_min_vina"] for s in docked.values()]
    pv = [p_value(s["label"]) for s in docked.values()]
    return {
        "ligands": labels_n, "docked": len(docked),
        "failures": sum(1 for (tt, _) in failures if tt == t), "missing": len(missing),
        "median_top": float(np.median(top)) if top else None,
        "median_closest": float(np.median(closest)) if closest else None,
        "frac_2A": (sum(x < 2.0 for x in closest) / len(closest)) if closest else None,
        "n_2A": sum(x < 2.0 for x in closest),
        "frac_top_2A": (sum(x < 2.0 for x in top) / len(top)) if top else None,
        "rho_vina": spearman([-s["best_vina"] for s in docked.values()], pv),
        "rho_ref": spearman([-s["glide_score"] for s in docked.values()], pv),
        "grown": sum(1 for s in st.values() if s["box_edge"] > BOX_EDGE),
    }


RUNS_BEGIN, RUNS_END = "<!-- runs: generated from tools/dock/work/summary_plb.json -->", "<!-- /runs -->"


def plb_runs_block(work: Path, old_text: str | None) -> list[str]:
    """The docking-runs section: from summary_plb.json when present, else kept from the
    previous PROVENANCE.md (e.g. --check-only in a fresh clone)."""
    p = work / "summary_plb.json"
    if not p.exists():
        if old_text and RUNS_BEGIN in old_text and RUNS_END in old_text:
            a = old_text.index(RUNS_BEGIN)
            b = old_text.index(RUNS_END) + len(RUNS_END)
            return old_text[a:b].split("\n")
        return [RUNS_BEGIN, "", "(no record of the docking runs: tools/dock/work/summary_plb.json is absent)", "",
                RUNS_END]
    summ = json.loads(p.read_text())
    runs = summ.get("runs", [])
    lines = [RUNS_BEGIN, "", "## Docking runs", ""]
    if runs:
        total = sum(r["wall_s"] for r in runs)
        lig = sum(r["docked"] + r["failed"] for r in runs)
        lines += [f"{len(runs)} invocation(s) of `dock.py`, {lig} ligand dockings, {total:.0f} s wall time in"
                  f" total ({total / 60:.1f} min; receptor preparation and checks included, time of a run"
                  " stopped from outside counted up to its last finished ligand):", "",
                  "| run | started (UTC) | wall (s) | machine | CPUs | workers | targets | docked | failed |"
                  " not started (deadline) | kept from earlier run | note |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
        for i, r in enumerate(runs, 1):
            tg = ",".join(r["targets"]) if len(r["targets"]) < len(PLB_TARGETS) else "all 15"
            note = r.get("note", "")
            if not r.get("finished", True) and not note:
                note = "stopped from outside before its end"
            ns = "-" if r["not_started"] is None else r["not_started"]
            lines.append(f"| {i} | {r['started_utc']} | {r['wall_s']:.0f} | {r['machine'] or '-'} ({r['cpu_model']}) "
                         f"| {r['cpu_count']} | {r['jobs']} | {tg} | {r['docked']} | {r['failed']} | "
                         f"{ns} | {r['kept']} | {note} |")
        envs: dict = {}
        for i, r in enumerate(runs, 1):
            envs.setdefault(", ".join(f"{k} {v}" for k, v in sorted(r["versions"].items())), []).append(str(i))
        lines += ["", "Environments: " + "; ".join(f"run {', '.join(ix)}: {e}" for e, ix in envs.items()) + "."]
        secs = [x["seconds"] for lt in summ.get("ligands", {}).values() for x in lt.values() if "seconds" in x]
        if secs:
            lines += [f"Time per ligand (one Vina CPU each, over the machines and loads above): median "
                      f"{np.median(secs):.0f} s, max {max(secs):.0f} s, sum {sum(secs) / 3600:.2f} CPU-hours."]
    rec = summ.get("receptors", {})
    if rec:
        lines += ["", "Receptor preparation (meeko `mk_prepare_receptor.py --read_pdb` on the source"
                  " `protein.pdb`, H included):", "",
                  "| target | residues in PDB | residues in PDBQT | lost | PDBQT atoms | H removed for receptor.pdb |"
                  " CONECT records changed |",
                  "| --- | --- | --- | --- | --- | --- | --- |"]
        for t in PLB_TARGETS:
            if t not in rec:
                continue
            pr, s = rec[t].get("prep", {}), rec[t].get("stripped", {})
            lost = ("failed: " + pr["failed"]) if "failed" in pr else (", ".join(pr.get("residues_lost", [])) or "none")
            lines.append(f"| {t} | {pr.get('residues_in', '-')} | {pr.get('residues_out', '-')} | {lost} | "
                         f"{pr.get('pdbqt_atoms', '-')} | {s.get('h_removed', '-')} | {s.get('conect_changed', '-')} |")
    return lines + ["", RUNS_END]


def plb_settings_text() -> str:
    return (f"AutoDock Vina (sf `vina`), exhaustiveness {EXHAUSTIVENESS}, seed {SEED} (every ligand), cpu {CPU}, "
            f"n_poses {N_POSES}, min_rmsd {MIN_RMSD} Å, no energy-range cut-off "
            f"(energy_range {ENERGY_RANGE:g} kcal/mol), grid spacing {GRID_SPACING} Å, "
            f"box: {BOX_EDGE:g} Å cube centred on the midpoint of the reference pose's heavy-atom bounding box; "
            f"a ligand whose bounding box is longer than {BOX_LIGAND_MAX:g} Å gets a cube of edge = that length "
            f"+ {BOX_PAD:g} Å instead (same centre)")


def fmt(x, nd=2, pct=False):
    if x is None:
        return "–"
    return f"{100 * x:.0f} %" if pct else f"{x:.{nd}f}"


def write_plb_provenance(out: Path, work: Path, stats: dict, failures: dict, missing: dict) -> dict:
    root = out / "plb"
    path = root / "PROVENANCE.md"
    old = path.read_text() if path.exists() else None
    tstats = {t: plb_target_stats(st, len(read_labels(root / t / "labels.csv")), failures, t, missing[t])
              for t, st in stats.items()}
    lines = [
        "# OpenFF protein-ligand benchmark, 15 targets — provenance",
        "",
        f"Source: github.com/openforcefield/protein-ligand-benchmark, commit `{PLB_COMMIT}`"
        " (per target `protein.pdb`, `ligands.sdf`, `ligands.yml`).",
        "Licences: data CC-BY 4.0 (`LICENSE_DATA`), code MIT (`LICENSE`), both copied unchanged"
        " from the repository.",
        "",
        "How to cite: the repository above (OpenFF protein-ligand benchmark, commit"
        f" `{PLB_COMMIT}`), and for each measurement the publication whose DOI is in the"
        " `source` column of `<target>/labels.csv` (as recorded in `ligands.yml`).",
        "",
        "| file here | from | change |",
        "| --- | --- | --- |",
        "| `LICENSE`, `LICENSE_DATA` | repository root | none |",
        "| `<target>/receptor.pdb` | `<target>/protein.pdb` | hydrogen atoms removed (element column H) to keep"
        " the repository small; CONECT records lose the serials of removed H (a record left without partner is"
        " dropped); every other line as given (caps, waters, ions, TER, END) |",
        "| `<target>/poses/<ligand>.sdf` record 0 | `<target>/ligands.sdf` (one modelled pose per ligand, explicit H)"
        " | vendor data fields dropped; five fields added (`pose_source` = `reference`); written by RDKit (V2000) |",
        "| `<target>/poses/<ligand>.sdf` records 1–9 | AutoDock Vina docking (below) | generated |",
        "| `<target>/labels.csv` | `<target>/ligands.yml` `measurement` | `value`, `unit`, `error` (→ `stderr`)"
        " copied as written, except `error: -1` (the benchmark's \"no error given\") → empty `stderr`;"
        " `type` ic50 → `IC50`, ki → `Ki`, pic50 → `pIC50` (pde2, whose `unit` is empty"
        " in the source: written as `p`); `doi` → `source` as `doi:...` (several references, as for"
        " hif2a and shp2, joined by `; `; a patent URL kept as the URL); thrombin's `additional` ITC values"
        " (dG, dH, TdS) not used |",
        "| `failures.csv` | this docking | ligands whose docking failed (`target,compound_id,reason`) |",
        "",
        "## Docking",
        "",
        "Generated by `tools/dock/run.sh --datasets plb` → `tools/dock/dock.py` (the environment of each"
        " run is listed under Docking runs).",
        "",
        f"- {plb_settings_text()}.",
        "- Receptor: the source `protein.pdb` **with** its H converted to PDBQT by meeko's"
        " `mk_prepare_receptor.py --read_pdb` (residue templates, the file's H kept, non-polar H merged);"
        " the PDBQT is a temporary file and is not shipped. `receptor.pdb` here is the same protein without H.",
        "- Ligand: the reference record (explicit H, input protonation) prepared by meeko"
        " `MoleculePreparation` with default settings.",
        "- Record 0 = the reference pose as given (`pose_source` `reference`); `vina_score` = Vina `score()` of"
        " that pose in place (no local optimisation).",
        "- Records 1.. = `Vina.poses()` in rank order (`pose_source` `vina`); `vina_score` = the Vina pose energy"
        " (column `total` of `Vina.energies()`). Docked molecules are exported with meeko's `RDKitMolCreate`"
        " and mapped back onto the input atom order by a full-graph match, so every record has the atom order,"
        " bonds and H of record 0.",
        "- `rmsd_to_reference` = RDKit `rdMolAlign.CalcRMS` on heavy atoms, in place (no superposition),"
        " symmetry-aware, against record 0.",
        "- Ligands are docked in parallel worker processes, one Vina CPU each; with the fixed seed a ligand's"
        " result does not depend on the number of workers.",
        "",
    ]
    lines += plb_runs_block(work, old)
    lines += [
        "",
        "## Per target",
        "",
        "RMSDs are heavy-atom, in place, to record 0 (the reference pose). *Top* = Vina's rank-1 pose, *closest* ="
        " the Vina pose nearest to record 0. ρ = Spearman correlation of −(Vina score) with the label on the p"
        " scale (−log10 molar; pIC50 as given) over the docked ligands: positive = a better score goes with"
        " higher affinity; for the rank-1 Vina pose and for record 0 scored in place.",
        "",
        "| target | ligands | docked ok | failures | not docked | median RMSD top (Å) | median RMSD closest (Å) |"
        " some Vina pose < 2 Å | top pose < 2 Å | boxes grown | ρ Vina top | ρ reference in place |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for t, s in tstats.items():
        lines.append(f"| {t} | {s['ligands']} | {s['docked']} | {s['failures']} | {s['missing']} | "
                     f"{fmt(s['median_top'])} | {fmt(s['median_closest'])} | {fmt(s['frac_2A'], pct=True)} "
                     f"({s['n_2A']}) | {fmt(s['frac_top_2A'], pct=True)} | {s['grown']} | {fmt(s['rho_vina'])} | "
                     f"{fmt(s['rho_ref'])} |")
    docked = [s for t, st in stats.items() for c, s in st.items() if s["n_records"] > 1 and (t, c) not in failures]
    if docked:
        clo = [s["rmsd_min_vina"] for s in docked]
        top = [s["rmsd"][1] for s in docked]
        lines.append(f"| **all** | {sum(s['ligands'] for s in tstats.values())} | {len(docked)} | "
                     f"{len(failures)} | {sum(s['missing'] for s in tstats.values())} | {np.median(top):.2f} | "
                     f"{np.median(clo):.2f} | {fmt(sum(x < 2 for x in clo) / len(clo), pct=True)} "
                     f"({sum(x < 2 for x in clo)}) | {fmt(sum(x < 2 for x in top) / len(top), pct=True)} | "
                     f"{sum(s['grown'] for s in tstats.values())} | | |")
    lines += [""]
    lines += ["## Failures", ""]
    if failures:
        lines += ["Also in `failures.csv`. A failed ligand keeps its reference pose alone (one record) where that"
                  " could still be scored; otherwise it has no poses file.", ""]
        lines += [f"- `{t}/{c}`: {r}" for (t, c), r in sorted(failures.items())]
    elif any(missing.values()):
        lines += [f"None so far (`failures.csv` has its header only); {sum(len(v) for v in missing.values())}"
                  " ligands are not docked yet (Notes)."]
    else:
        lines += ["None: every ligand was docked (`failures.csv` has its header only)."]
    lines += [""]
    grown = [(t, c, s) for t, st in stats.items() for c, s in sorted(st.items()) if s["box_edge"] > BOX_EDGE]
    notes = []
    if grown:
        notes.append(f"- Boxes grown (ligand longer than {BOX_LIGAND_MAX:g} Å; edge = length + {BOX_PAD:g} Å): "
                     + ", ".join(f"`{t}/{c}` {s['ligand_length']:.1f} → {s['box_edge']:.1f} Å" for t, c, s in grown)
                     + ".")
    hvout = [(t, c, s) for t, st in stats.items() for c, s in sorted(st.items()) if s["box_margin_heavy"] < 0]
    if hvout:
        notes.append(f"- {len(hvout)} compounds have a heavy atom of some Vina pose up to "
                     f"{max(-s['box_margin_heavy'] for _, _, s in hvout):.3f} Å beyond the nominal box: Vina's grid"
                     f" has ceil(edge / {GRID_SPACING}) voxels per axis and so reaches up to half a voxel beyond it"
                     f" (22 Å → 22.125 Å); the checks allow exactly that.")
    hout = [(t, c, s) for t, st in stats.items() for c, s in sorted(st.items()) if s["box_margin_h"] < 0]
    if hout:
        notes.append(f"- {len(hout)} compounds have a meeko-rebuilt non-polar H of some Vina pose outside the box"
                     f" (at most {max(-s['box_margin_h'] for _, _, s in hout):.2f} Å; Vina only confines the atoms"
                     " it moves).")
    pend = [f"{t}/{c}" for t, cs in missing.items() for c in cs]
    if pend:
        notes.append(f"- Not docked yet ({len(pend)}; run `tools/dock/run.sh --datasets plb --resume`): "
                     + ", ".join(f"`{x}`" for x in pend) + ".")
    if notes:
        lines += ["## Notes", ""] + notes + [""]
    lines += ["## Per compound", "",
              "Scores in kcal/mol; label as in `labels.csv`.", ""]
    for t, st in stats.items():
        if not st:
            continue
        lines += [f"### {t}", "",
                  "| compound | atoms (heavy) | records | box (Å) | RMSD top (Å) | RMSD closest (Å) | Vina top score |"
                  " reference score (in place) | label |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
        for c in sorted(st):
            s = st[c]
            l = s["label"]
            lines.append(f"| {c} | {s['n_atoms']} ({s['n_heavy']}) | {s['n_records']} | {s['box_edge']:g} | "
                         f"{fmt(s['rmsd'][1] if len(s['rmsd']) > 1 else None)} | {fmt(s['rmsd_min_vina'])} | "
                         f"{fmt(s['best_vina'])} | {s['glide_score']:.2f} | {l['type']} {l['value']} {l['unit']} |")
        lines.append("")
    path.write_text("\n".join(lines))
    return tstats


# ---------------------------------------------------------------- main
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", type=Path, default=Path(os.environ.get("DOCK_SHARED", "/work/shared/data")))
    ap.add_argument("--out", type=Path, default=REPO / "data")
    ap.add_argument("--work", type=Path, default=HERE / "work")
    ap.add_argument("--datasets", nargs="+", default=None, choices=list(DATASETS),
                    help=f"sets to dock (default: {' '.join(DEFAULT_DOCK)}; plb only when named)")
    ap.add_argument("--only", nargs="+", default=None, help="dock only these ligands (others kept)")
    ap.add_argument("--targets", default=None,
                    help="plb: comma-separated subset of targets (default: all 15)")
    ap.add_argument("--jobs", type=int, default=1,
                    help="plb: ligands docked in parallel worker processes (one Vina CPU each)")
    ap.add_argument("--resume", action="store_true",
                    help="plb: keep ligands whose poses file exists, passes the checks and is not a recorded failure")
    ap.add_argument("--deadline", type=float, default=None,
                    help="plb: start no ligand later than this many seconds after launch (finished ones are kept)")
    ap.add_argument("--machine", default=os.environ.get("DOCK_MACHINE", ""),
                    help="plb: free-text machine description recorded in PROVENANCE.md")
    ap.add_argument("--check-only", action="store_true")
    args = ap.parse_args()
    RDLogger.DisableLog("rdApp.*")
    datasets = args.datasets or DEFAULT_DOCK
    if args.targets:
        args.targets = [t for t in args.targets.replace(" ", ",").split(",") if t]
        unknown = set(args.targets) - set(PLB_TARGETS)
        if unknown:
            ap.error(f"unknown plb targets {sorted(unknown)} (known: {','.join(PLB_TARGETS)})")
        args.targets = [t for t in PLB_TARGETS if t in args.targets]

    vers = versions()
    log("versions:", json.dumps(vers))
    t_all = time.time()
    summary_path = args.work / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    plb_run = {"failed": 0, "not_started": 0}

    if not args.check_only:
        for name in datasets:
            if name == "plb":
                plb_run = dock_plb(args, vers, t_all)
                continue
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
    for name in ("tyk2", "eg5"):
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
    plb_summary, plb_errors, plb_missing = None, [], {}
    if (args.out / "plb").is_dir():
        pst, plb_errors, pfail, plb_missing = check_plb(args.out)
        plb_summary = write_plb_provenance(args.out, args.work, pst, pfail, plb_missing)
        for t, s in plb_summary.items():
            log(f"[plb {t}] {s['docked']}/{s['ligands']} docked, {s['failures']} failed, {s['missing']} not docked; "
                f"median RMSD top {fmt(s['median_top'])} closest {fmt(s['median_closest'])} Å; "
                f"some pose < 2 Å {fmt(s['frac_2A'], pct=True)}; rho Vina {fmt(s['rho_vina'])} "
                f"ref {fmt(s['rho_ref'])}")
        if pfail:
            log(f"[plb] documented failures ({len(pfail)}, failures.csv): "
                + "; ".join(f"{t}/{c}: {r}" for (t, c), r in sorted(pfail.items())))
        if plb_errors:
            log("[plb] CHECK ERRORS:\n  " + "\n  ".join(plb_errors))
    write_data_readme(args.out, all_stats, meta, plb_summary)
    if failed:
        log("FAILED:", json.dumps(failed, indent=1))
    total = sum(f.stat().st_size for f in args.out.rglob("*") if f.is_file())
    log(f"data/ size: {total / 1e6:.2f} MB; elapsed {time.time() - t_all:.0f} s")
    if failed or plb_errors or plb_run["failed"]:
        return 1
    if plb_run["not_started"] or any(plb_missing.values()):
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
