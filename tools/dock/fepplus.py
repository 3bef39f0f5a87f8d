#!/usr/bin/env python3
"""Build data/fepplus: Schrödinger's public FEP+ benchmark (62 series) as a multi-target
multi-pose dataset, one target per series.

Per series `<group>__<series>` of the input (`fepplus.tar.xz`, unpacked or not):
- `receptor.pdb.gz`: `protein.pdb` without its H, cropped to the residues (waters and
  ions included) with an atom within CROP Å of a heavy atom of any ligand record, and
  gzip-compressed, to keep the repository small; every pocket multipose cuts (≤ 10 Å around poses inside the Vina box)
  lies inside it. Vina docks into the whole protein with its H (meeko receptor).
- `poses/<compound>.sdf`: record 0 = the modelled pose of the compound's primary record,
  then the modelled poses of the records folded into it (all `pose_source` `reference`, the
  source record in `record`), then up to 9 Vina poses of the primary record docked in a
  cube around it (as data/plb: exhaustiveness 8, seed 42). `vina_score` of a modelled pose
  is Vina's score of it in place.
- `labels.csv`: ΔG in kcal/mol (`type` dG) from the records' `r_exp_dg`, or, where a record
  has none, the benchmark's own experimental value in `fep_plus_predictions.csv` (`source`
  says which).
- `fep_plus.csv`: FEP+ 21.4's predicted ΔG for the compound (the primary record's, or the
  first folded record's that FEP+ predicted): a reference for reports, never a model input.

Folding: records of one series are one compound when their heavy-atom graphs are equal
once bond orders, charges, hydrogens and stereo are ignored (protomers, tautomers,
enantiomers modelled for one measurement, flipped or alternative binding modes) AND their
experimental ΔG is equal to 0.001 kcal/mol. Records with the same graph but a different ΔG
are separate compounds (stereoisomers measured apart, butyl against butenyl) and are listed
in `folding.csv` next to every folded group; the primary record is the first, in file order,
that FEP+ predicted (else the first). Nothing is dropped silently: a record that RDKit
cannot read or that has no experimental ΔG anywhere is listed in `failures.csv` with its
reason, and so is a compound whose docking failed (its modelled poses are still written).

Usage (normally through fepplus.sh):
    python fepplus.py [--src fepplus.tar.xz|DIR] [--out data/fepplus] [--jobs N]
                      [--score-only] [--deadline S] [--series a,b]
`--score-only` writes the modelled poses with their Vina scores in place and docks nothing;
a later run without it adds the Vina poses of every compound that lacks them (resumable:
finished compounds are kept, a deadline stops starting new ones).
"""
from __future__ import annotations

import argparse
import csv
import gzip
import json
import os
import re
import shutil
import tarfile
import time
from pathlib import Path

import numpy as np
from rdkit import Chem, RDLogger

import dock
from dock import (clean_template, dock_one, heavy_mask, log, plb_receptor_task, run_tasks,
                  score_in_place, strip_h_pdb, with_coords, write_sdf)

# Maestro-prepared proteins hold alternate locations and residues without a meeko template
# (phosphotyrosine, glycerol, ...): the first location is taken and untemplated residues are
# left out of the Vina receptor (listed per series in the run's summary).
RECEPTOR_OPTIONS = ("--default_altloc", "A", "--allow_bad_res")
CROP = 20.0                # Å, receptor residues kept around any ligand heavy atom
DG_TOLERANCE = 1e-3        # kcal/mol: equal experimental ΔG for folding
HERE = Path(__file__).resolve().parent
DEFAULT_SRC = Path(os.environ.get("DOCK_SHARED", "/work/shared/data")) / "fepplus.tar.xz"


# ---------------------------------------------------------------- inputs
def unpack(src: Path, work: Path) -> Path:
    """The folder holding the series: `src` itself, or `src` (a .tar.xz) unpacked once."""
    if src.is_dir():
        return src / "fepplus" if (src / "fepplus").is_dir() else src
    dest = work / "src"
    if not (dest / "fepplus" / "series.csv").exists():
        dest.mkdir(parents=True, exist_ok=True)
        with tarfile.open(src) as tf:
            tf.extractall(dest, filter="data")
    return dest / "fepplus"


def read_predictions(path: Path) -> dict:
    """Record name -> (experimental ΔG, FEP+ ΔG, FEP+ standard error), all kcal/mol."""
    out = {}
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh):
            name = (row.get("Ligand name") or row.get("Ligand") or "").strip()
            num = lambda k: float(row[k]) if row.get(k, "").strip() else None  # noqa: E731
            out[name] = (num("Exp. dG (kcal/mol)"), num("Pred. dG (kcal/mol)"),
                         num("Pred. dG std. error (kcal/mol)"))
    return out


def read_records(sdf: Path) -> tuple[list[dict], list[tuple[str, str]]]:
    """Every record of `ligands.sdf` that RDKit reads (name, molecule, r_exp_dg), and
    (record, reason) for those it cannot."""
    good, bad = [], []
    supplier = Chem.SDMolSupplier(str(sdf), removeHs=False, sanitize=True)
    for i in range(len(supplier)):
        m = supplier[i]
        if m is None:
            bad.append((f"record {i + 1}", "RDKit cannot read the record (sanitisation failed)"))
            continue
        dg = m.GetProp("r_exp_dg").strip() if m.HasProp("r_exp_dg") else ""
        good.append({"name": m.GetProp("_Name").strip(), "mol": m, "index": i,
                     "dg": float(dg) if dg else None})
    return good, bad


def skeleton(m: Chem.Mol) -> str:
    """Canonical heavy-atom graph without bond orders, charges, hydrogens or stereo."""
    h = Chem.RWMol(Chem.RemoveHs(m, sanitize=False))
    for a in h.GetAtoms():
        a.SetFormalCharge(0)
        a.SetNumExplicitHs(0)
        a.SetNoImplicit(True)
        a.SetIsAromatic(False)
        a.SetChiralTag(Chem.ChiralType.CHI_UNSPECIFIED)
    for b in h.GetBonds():
        b.SetBondType(Chem.BondType.SINGLE)
        b.SetIsAromatic(False)
        b.SetStereo(Chem.BondStereo.STEREONONE)
    return Chem.MolToSmiles(h, isomericSmiles=False)


def compound_id(name: str, taken: set) -> str:
    """A file-safe id from a record name (`cmpd 5 (1-Butenyl)` -> `cmpd_5_1-Butenyl`); a
    suffix keeps two names that sanitise alike apart."""
    base = re.sub(r"[^A-Za-z0-9.+-]+", "_", name).strip("_") or "ligand"
    cid, k = base, 2
    while cid in taken:
        cid, k = f"{base}_{k}", k + 1
    taken.add(cid)
    return cid


def fold(records: list[dict], preds: dict) -> tuple[list[dict], list[dict]]:
    """Compounds (primary record first) and the records without any experimental ΔG."""
    labelled, unlabelled = [], []
    for r in records:
        dg, source = r["dg"], "r_exp_dg"
        if dg is None and preds.get(r["name"], (None,))[0] is not None:
            dg, source = preds[r["name"]][0], "fep_plus_predictions.csv Exp. dG"
        (labelled if dg is not None else unlabelled).append({**r, "dg": dg, "dg_source": source,
                                                             "skeleton": skeleton(r["mol"])})
    groups: list[list[dict]] = []
    for r in labelled:
        g = next((g for g in groups if g[0]["skeleton"] == r["skeleton"]
                  and abs(g[0]["dg"] - r["dg"]) <= DG_TOLERANCE), None)
        if g is None:
            groups.append([r])
        else:
            g.append(r)
    taken: set = set()
    compounds = []
    for g in groups:
        primary = next((r for r in g if r["name"] in preds), g[0])
        g = [primary] + [r for r in g if r is not primary]
        compounds.append({"id": compound_id(primary["name"], taken), "records": g})
    return compounds, unlabelled


# ---------------------------------------------------------------- receptor
def crop_receptor(stripped: Path, ligands: list[Chem.Mol], radius: float) -> dict:
    """Keep the residues of `stripped` with an atom within `radius` Å of a ligand heavy atom."""
    lig = np.concatenate([m.GetConformer().GetPositions()[heavy_mask(m)] for m in ligands])
    lines = stripped.read_text().splitlines(keepends=True)
    res_key = lambda l: (l[21], l[22:27], l[17:20])  # noqa: E731
    near = set()
    atoms = [l for l in lines if l.startswith(("ATOM  ", "HETATM"))]
    xyz = np.array([[float(l[30:38]), float(l[38:46]), float(l[46:54])] for l in atoms])
    for start in range(0, len(atoms), 4096):
        d2 = ((xyz[start:start + 4096, None, :] - lig[None, :, :]) ** 2).sum(-1).min(1)
        near.update(res_key(atoms[start + k]) for k in np.nonzero(d2 <= radius * radius)[0])
    kept_serials, out = set(), []
    for l in lines:
        if l.startswith(("ATOM  ", "HETATM")):
            if res_key(l) not in near:
                continue
            kept_serials.add(l[6:11])
        elif l.startswith("CONECT"):
            body = l.rstrip("\r\n")
            if any(body[i:i + 5] not in kept_serials for i in range(6, len(body), 5) if body[i:i + 5].strip()):
                continue
        elif l.startswith(("TER", "ANISOU")):
            continue
        out.append(l)
    stripped.write_text("".join(out))
    return {"residues_kept": len(near), "atoms_kept": len(kept_serials)}


# meeko looks up residues it has no template for on rcsb.org (unreachable here and on the
# device) and cannot build a few malformed ones: such residues are left out of the Vina
# receptor one at a time until it builds (the shipped receptor.pdb keeps them).
UNTEMPLATED = re.compile(r"Could not download CIF file for (\S+?)\.")
UNBUILT = re.compile(r"unable to build rdkit mol for residue \S+ corresponding to key (\S+):(-?\d+)(\S*)")


def receptor_task(task: dict) -> dict:
    """plb_receptor_task, retried without each residue meeko cannot type or build."""
    work = Path(task["work"])
    work.mkdir(parents=True, exist_ok=True)
    lines = Path(task["pdb"]).read_text().splitlines(keepends=True)
    dropped: list[str] = []
    for _ in range(30):
        trial = work / "vina_input.pdb"
        trial.write_text("".join(lines))
        res = plb_receptor_task({**task, "pdb": str(trial)})
        if "failed" not in res:
            return {**res, "left_out": dropped}
        log_text = (work / "receptor_prep.log").read_text() if (work / "receptor_prep.log").exists() else ""
        if m := UNTEMPLATED.search(log_text):
            name = m.group(1)
            keep = lambda l: not (l.startswith(("ATOM  ", "HETATM")) and l[17:20].strip() == name)  # noqa: E731
            dropped.append(f"{name} (no template)")
        elif m := UNBUILT.search(log_text):
            chain, num, icode = m.group(1), m.group(2), m.group(3)
            keep = lambda l: not (l.startswith(("ATOM  ", "HETATM")) and l[21] == chain  # noqa: E731
                                  and l[22:26].strip() == num and l[26].strip() == icode)
            dropped.append(f"{chain}:{num}{icode} (meeko cannot build it)")
        else:
            return {**res, "left_out": dropped}
        kept = [l for l in lines if keep(l)]
        if len(kept) == len(lines):
            return {**res, "left_out": dropped}
        lines = kept
    return {"failed": f"still failing after leaving out {', '.join(dropped)}", "left_out": dropped}


# ---------------------------------------------------------------- one compound
def records_of(task: dict) -> list[Chem.Mol]:
    sup = Chem.SDMolSupplier(task["sdf"], removeHs=False, sanitize=True)
    return [sup[i] for i in task["indices"]]


def compound_task(task: dict) -> dict:
    """Write one compound's poses file: its modelled poses scored in place, then (unless
    score-only) the Vina poses of its primary record."""
    RDLogger.DisableLog("rdApp.*")
    t0 = time.time()
    name, out = task["id"], Path(task["out"])
    rec = Path(task["receptor"]) if task["receptor"] else None
    mols = records_of(task)
    modelled = []
    reasons = [] if rec is not None else ["no Vina receptor (its preparation failed): modelled poses unscored"]
    for m, record in zip(mols, task["names"]):
        score = None
        if rec is not None:
            try:
                score = score_in_place(rec, m)
            except Exception as e:  # noqa: BLE001 (Vina/meeko raise many types)
                reasons.append(f"{record}: Vina score in place failed ({type(e).__name__}: {e})")
        t = clean_template(m, name)
        t.SetProp("record", record)
        modelled.append((with_coords(t, m.GetConformer().GetPositions()), "reference", score, 0.0))
    docked = []
    if rec is not None and not task["score_only"]:
        try:
            r = dock_one(rec, mols[0], name, "reference")
            docked = r["records"][1:]
        except Exception as e:  # noqa: BLE001
            reasons.append(f"docking failed ({type(e).__name__}: {e})".replace("\n", " ")[:400])
    p0 = modelled[0][0]
    recs = [modelled[0]] + [(m, s, v, dock.heavy_rmsd_or_nan(m, p0)) for m, s, v, _ in modelled[1:]]
    write_gz(out, name, recs + docked)
    return {"written": len(recs) + len(docked), "n_vina": len(docked),
            "scores": [x[2] for x in recs + docked], "failed": "; ".join(reasons) or None,
            "seconds": round(time.time() - t0, 1)}


def write_gz(out: Path, name: str, records) -> None:
    """dock.write_sdf's poses file, written as poses/<id>.sdf and compressed into `out`
    (poses/<id>.sdf.gz)."""
    plain = out.with_suffix("")
    write_sdf(plain, name, records)
    compress(plain)


def compress(plain: Path) -> None:
    """`x.sdf` -> `x.sdf.gz` (written whole, then renamed), `x.sdf` removed: the poses of
    532 compounds x 10 records fit the repository only compressed."""
    tmp = plain.with_suffix(".sdf.gz.tmp")
    with open(plain, "rb") as src, gzip.GzipFile(tmp, "wb", mtime=0) as dst:
        shutil.copyfileobj(src, dst)
    os.replace(tmp, plain.with_suffix(".sdf.gz"))
    plain.unlink()


def read_gz(path: Path) -> list[Chem.Mol]:
    with gzip.open(path, "rb") as fh:
        return [m for m in Chem.ForwardSDMolSupplier(fh, removeHs=False, sanitize=True)]


def existing_task(task: dict) -> dict:
    """Add Vina poses to a poses file that has only its modelled records (`--from-poses`):
    record 0 is docked as `compound_task` docks the primary record."""
    RDLogger.DisableLog("rdApp.*")
    t0 = time.time()
    out = Path(task["out"])
    mols = read_gz(out)
    if any(m is None for m in mols):
        return {"failed": "a record of the poses file does not parse", "n_vina": 0, "written": 0}
    name = mols[0].GetProp("_Name")
    modelled = []
    for m in mols:
        if m.GetProp("pose_source") != "reference":
            break
        score = float(m.GetProp("vina_score")) if m.HasProp("vina_score") else None
        modelled.append((m, "reference", score, float(m.GetProp("rmsd_to_reference"))))
    try:
        docked = dock_one(Path(task["receptor"]), mols[0], name, "reference")["records"][1:]
    except Exception as e:  # noqa: BLE001 (Vina/meeko raise many types)
        return {"failed": f"docking failed ({type(e).__name__}: {e})".replace("\n", " ")[:400],
                "n_vina": 0, "written": len(mols), "seconds": round(time.time() - t0, 1)}
    write_gz(out, name, modelled + docked)
    return {"written": len(modelled) + len(docked), "n_vina": len(docked), "failed": None,
            "scores": [x[2] for x in modelled + docked], "seconds": round(time.time() - t0, 1)}


def dock_existing(args) -> int:
    """`--from-poses`: dock every compound of `args.out` without Vina poses into the
    receptor PDBQTs under `args.work/<series>/` (prepared by an earlier run with the
    source): what a device call needs without the source archive."""
    t_start = time.time()
    tasks = []
    for d in sorted(p for p in args.out.iterdir() if (p / "poses").is_dir()):
        if args.series and d.name not in args.series.split(","):
            continue
        rec = args.work / d.name / "receptor.pdbqt"
        for f in sorted((d / "poses").glob("*.sdf.gz")):
            if not rec.exists():
                continue
            mols = read_gz(f)  # read once: whether it is docked, and its size
            if any(m is not None and m.GetProp("pose_source") == "vina" for m in mols):
                continue
            tasks.append({"series": d.name, "out": str(f), "receptor": str(rec),
                          "cost": mols[0].GetNumHeavyAtoms() if mols and mols[0] else 0})
    tasks.sort(key=lambda t: -t["cost"])
    log(f"[fepplus] {len(tasks)} compounds to dock from their poses files, {args.jobs} worker(s)")
    results = args.work / "docked_from_poses.jsonl"
    n = {"done": 0}

    def done(task, res):
        n["done"] += 1
        with open(results, "a") as fh:
            fh.write(json.dumps({"series": task["series"], "file": Path(task["out"]).name, **res}) + "\n")
        log(f"[fepplus {task['series']}] {Path(task['out']).name}: {res['n_vina']} Vina poses"
            + (f" FAILED: {res['failed']}" if res.get("failed") else "")
            + f", {res.get('seconds', 0)} s [{n['done']}/{len(tasks)} at {time.time() - t_start:.0f} s]")
    deadline_at = t_start + args.deadline if args.deadline else None
    left = run_tasks(existing_task, tasks, args.jobs, deadline_at, done)
    log(f"[fepplus] {len(left)} compounds not started (deadline); wall {time.time() - t_start:.0f} s")
    return 0


def poses_done(path: Path, score_only: bool) -> bool:
    """Whether an existing poses file already holds what this run would write."""
    if path.with_suffix("").exists() and not path.exists():
        compress(path.with_suffix(""))  # written plain by an earlier version of this script
    if not path.exists():
        return False
    with gzip.open(path, "rb") as fh:
        sources = [m.GetProp("pose_source") for m in Chem.ForwardSDMolSupplier(fh, removeHs=False,
                                                                                sanitize=False)
                   if m is not None]
    return bool(sources) and (score_only or "vina" in sources)


# ---------------------------------------------------------------- outputs
def write_csv(path: Path, header: list[str], rows: list[list]) -> None:
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)


def series_outputs(d: Path, series: str, compounds: list[dict], preds: dict) -> tuple[list, list]:
    """labels.csv and fep_plus.csv of one series; returns its folding.csv rows."""
    labels, fep, folding = [], [], []
    for c in compounds:
        p = c["records"][0]
        labels.append([c["id"], f"{p['dg']:.4f}", "kcal/mol", "dG", "", p["dg_source"]])
        predicted = next((r for r in c["records"] if r["name"] in preds
                          and preds[r["name"]][1] is not None), None)
        if predicted is not None:
            _, dg, se = preds[predicted["name"]]
            fep.append([c["id"], f"{dg:.4f}", "" if se is None else f"{se:.4f}", predicted["name"]])
        if len(c["records"]) > 1:
            folding.append([series, c["id"], "folded", " | ".join(r["name"] for r in c["records"]),
                            f"{p['dg']:.4f}"])
    by_skeleton: dict = {}
    for c in compounds:
        by_skeleton.setdefault(c["records"][0]["skeleton"], []).append(c)
    for same in by_skeleton.values():
        if len(same) > 1:
            for c in same:
                folding.append([series, c["id"], "same graph, other dG: kept apart",
                                " | ".join(r["name"] for r in c["records"]), f"{c['records'][0]['dg']:.4f}"])
    write_csv(d / "labels.csv", ["compound_id", "value", "unit", "type", "stderr", "source"],
              sorted(labels))
    write_csv(d / "fep_plus.csv", ["compound_id", "fep_plus_dg", "fep_plus_stderr", "record"],
              sorted(fep))
    return folding


# ---------------------------------------------------------------- driver
def prepare_series(root: Path, out: Path, work: Path, series: str, args) -> dict:
    """Receptor, labels and the compound tasks of one series (nothing docked yet)."""
    src, d = root / series, out / series
    (d / "poses").mkdir(parents=True, exist_ok=True)
    records, unreadable = read_records(src / "ligands.sdf")
    preds = read_predictions(src / "fep_plus_predictions.csv")
    compounds, unlabelled = fold(records, preds)
    plain = d / "receptor.pdb"
    stripped = strip_h_pdb(src / "protein.pdb", plain)
    crop = crop_receptor(plain, [r["mol"] for r in records], CROP)
    with open(plain, "rb") as fh, gzip.GzipFile(d / "receptor.pdb.gz", "wb", mtime=0) as gz:
        shutil.copyfileobj(fh, gz)
    plain.unlink()
    failures = [[series, name, reason] for name, reason in unreadable]
    failures += [[series, r["name"], "no experimental dG (no r_exp_dg, not in fep_plus_predictions.csv)"]
                 for r in unlabelled]
    ids = {c["id"] for c in compounds}
    for f in (d / "poses").glob("*.sdf*"):
        stem = f.name.removesuffix(".gz").removesuffix(".sdf")
        if f.name.endswith(".tmp") or stem not in ids:
            f.unlink()
    tasks = [{"series": series, "id": c["id"], "sdf": str(src / "ligands.sdf"),
              "indices": [r["index"] for r in c["records"]], "names": [r["name"] for r in c["records"]],
              "out": str(d / "poses" / f"{c['id']}.sdf.gz"), "score_only": args.score_only,
              "receptor": str(work / series / "receptor.pdbqt"),
              "cost": c["records"][0]["mol"].GetNumHeavyAtoms()} for c in compounds]
    return {"tasks": tasks, "failures": failures, "folding": series_outputs(d, series, compounds, preds),
            "receptor": {**stripped, **crop}, "records": len(records) + len(unreadable),
            "compounds": len(compounds)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--src", type=Path, default=DEFAULT_SRC, help="fepplus.tar.xz or its unpacked folder")
    ap.add_argument("--out", type=Path, default=HERE.parent.parent / "data" / "fepplus")
    ap.add_argument("--work", type=Path, default=HERE / "work" / "fepplus")
    ap.add_argument("--series", default=None, help="comma-separated subset (default: all)")
    ap.add_argument("--jobs", type=int, default=1, help="compounds in parallel (one Vina CPU each)")
    ap.add_argument("--score-only", action="store_true", help="modelled poses and their Vina scores only")
    ap.add_argument("--deadline", type=float, default=None, help="start no compound after this many seconds")
    ap.add_argument("--from-poses", action="store_true",
                    help="dock the compounds of --out that lack Vina poses into the receptors under "
                         "--work, without the source (device calls)")
    args = ap.parse_args()
    RDLogger.DisableLog("rdApp.*")
    if args.from_poses:
        return dock_existing(args)
    t_start = time.time()
    root = unpack(args.src, args.work)
    series = sorted(p.name for p in root.iterdir() if (p / "ligands.sdf").exists())
    if args.series:
        want = [s for s in args.series.split(",") if s]
        unknown = sorted(set(want) - set(series))
        if unknown:
            ap.error(f"unknown series {unknown}")
        series = [s for s in series if s in want]
    args.out.mkdir(parents=True, exist_ok=True)
    prepared = {s: prepare_series(root, args.out, args.work, s, args) for s in series}
    summary_path = args.work / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    summary.setdefault("compounds", {})
    receptors = summary.setdefault("receptors", {})
    todo = [s for s in series if "pdbqt" not in receptors.get(s, {})]
    preps = [{"target": s, "pdb": str(root / s / "protein.pdb"), "work": str(args.work / s),
              "extra": RECEPTOR_OPTIONS} for s in todo]
    log(f"[fepplus] {len(series)} series, {sum(p['compounds'] for p in prepared.values())} compounds; "
        f"{len(preps)} receptors to prepare")

    def prep_done(task, res):
        receptors[task["target"]] = res
        log(f"[fepplus {task['target']}] receptor: " + (res.get("failed") or
            f"{res['pdbqt_atoms']} PDBQT atoms, residues lost {res['residues_lost'] or 'none'}"
            f", left out {', '.join(res['left_out']) or 'none'}"))
    run_tasks(receptor_task, preps, args.jobs, None, prep_done)
    tasks = []
    for s, p in prepared.items():
        for t in p["tasks"]:
            if "pdbqt" not in receptors.get(s, {}):
                t["receptor"] = None
            prev = summary["compounds"].get(s, {}).get(t["id"])
            if not (prev and not prev.get("failed") and poses_done(Path(t["out"]), args.score_only)):
                tasks.append(t)
    tasks.sort(key=lambda t: -t["cost"])
    log(f"[fepplus] {len(tasks)} compounds to write ({'score only' if args.score_only else 'docking'}), "
        f"{args.jobs} worker(s)")
    n = {"done": 0}

    def save():
        summary_path.parent.mkdir(parents=True, exist_ok=True)
        summary_path.write_text(json.dumps(summary, indent=1, sort_keys=True))

    def done(task, res):
        summary["compounds"].setdefault(task["series"], {})[task["id"]] = res
        n["done"] += 1
        log(f"[fepplus {task['series']}] {task['id']}: {res['written']} poses ({res['n_vina']} Vina)"
            + (f" FAILED: {res['failed']}" if res.get("failed") else "")
            + f", {res['seconds']} s [{n['done']}/{len(tasks)} at {time.time() - t_start:.0f} s]")
        save()
    deadline_at = t_start + args.deadline if args.deadline else None
    left = run_tasks(compound_task, tasks, args.jobs, deadline_at, done)
    save()
    shutil.copyfile(root / "LICENSE", args.out / "LICENSE")
    write_tables(args.out, prepared, summary, receptors, args.work)
    log(f"[fepplus] {len(left)} compounds not started (deadline); wall {time.time() - t_start:.0f} s")
    return 0


def write_tables(out: Path, prepared: dict, summary: dict, receptors: dict, work: Path) -> None:
    """failures.csv, folding.csv and series.csv over every series of this run (docking
    failures of `--from-poses` calls included, their last result per compound)."""
    failures, folding, rows = [], [], []
    from_poses: dict = {}
    log_path = work / "docked_from_poses.jsonl"
    if log_path.exists():
        last = {}
        for line in log_path.read_text().splitlines():
            r = json.loads(line)
            last[(r["series"], r["file"])] = r
        for (s, _), r in sorted(last.items()):
            from_poses.setdefault(s, []).append(r)
    for s, p in prepared.items():
        failures += p["failures"]
        folding += p["folding"]
        if "failed" in receptors.get(s, {}):
            failures.append([s, "(receptor)", f"receptor preparation failed: {receptors[s]['failed']}"])
        for cid, res in sorted(summary["compounds"].get(s, {}).items()):
            if res.get("failed"):
                failures.append([s, cid, res["failed"]])
        for res in from_poses.get(s, []):
            if res.get("failed"):
                failures.append([s, res["file"].removesuffix(".sdf.gz"), res["failed"]])
        docked = sum(poses_done(f, False) for f in (out / s / "poses").glob("*.sdf.gz"))
        rows.append([s, p["records"], p["compounds"], docked,
                     p["receptor"]["atoms_kept"], p["receptor"]["residues_kept"],
                     "; ".join(receptors.get(s, {}).get("left_out", []))])
    write_csv(out / "failures.csv", ["series", "record_or_compound", "reason"], sorted(failures))
    write_csv(out / "folding.csv", ["series", "compound_id", "kind", "records", "dG"], sorted(folding))
    write_csv(out / "series.csv", ["series", "records", "compounds", "docked", "receptor_atoms",
                                   "receptor_residues", "left_out_of_vina_receptor"], rows)
    docked_rows = [[s, r["file"].removesuffix(".sdf.gz"), r["n_vina"], r.get("seconds", ""), r.get("failed") or ""]
                   for s, rs in sorted(from_poses.items()) for r in rs]
    write_csv(out / "docking.csv", ["series", "compound_id", "vina_poses", "seconds", "failed"], docked_rows)
    write_readme(out, rows, failures, folding, docked_rows)


def timing(docked_rows: list) -> str:
    """The docking throughput line of the README (from docking.csv)."""
    secs = sorted(float(r[3]) for r in docked_rows if r[3] != "" and not r[4])
    if not secs:
        return "No compound docked yet."
    return (f"Docking (`docking.csv`, one Vina CPU per compound on the device machine's 16 Xeon "
            f"cores, exhaustiveness 8, largest compounds first): {len(secs)} compounds, median "
            f"{secs[len(secs) // 2]:.0f} s, max {secs[-1]:.0f} s, {sum(secs) / 3600:.1f} CPU-hours.")


def write_readme(out: Path, rows: list, failures: list, folding: list, docked_rows: list) -> None:
    """data/fepplus/README.md: what is here, the counts of this state, how to regenerate."""
    records, compounds, docked = (sum(r[k] for r in rows) for k in (1, 2, 3))
    folded = [f for f in folding if f[2] == "folded"]
    apart = [f for f in folding if f[2] != "folded"]
    kinds: dict = {}
    for f in failures:
        reason = f[2]
        key = ("no experimental dG" if "no experimental" in reason else
               "Vina receptor not built" if "receptor" in reason else
               "docking failed" if "docking failed" in reason else
               "unreadable record" if "RDKit" in reason else "other")
        kinds[key] = kinds.get(key, 0) + 1
    text = f"""# FEP+ benchmark series as a multi-target dataset

Schrödinger's public binding free energy benchmark (Ross et al., Commun. Chem. 2023;
`schrodinger/public_binding_free_energy_benchmark`, MIT, `LICENSE`), from
`../shared/data/fepplus.tar.xz`: {len(rows)} series, one target folder each, built by
`tools/dock/fepplus.sh` (`tools/dock/fepplus.py`; the rules are in its docstring).

Per series: `receptor.pdb.gz` (the prepared protein without H, cropped to residues within
{CROP:g} Å of any ligand record, gzip-compressed), `poses/<compound>.sdf.gz` (record 0 = the modelled pose
of the compound's primary record, then the modelled poses of records folded into it, then
Vina poses; `vina_score` per record, in place for modelled poses), `labels.csv` (ΔG,
kcal/mol, `type` dG), `fep_plus.csv` (FEP+ 21.4's predicted ΔG: a reference for reports,
never a model input). `series.csv` has the counts per series, `folding.csv` every folded
compound and every pair of compounds kept apart although their graphs match, and
`failures.csv` every record or compound with a problem and its reason.

State: {records} records, {compounds} compounds ({len(folded)} of them folded from several
records; {len(apart)} compounds share a heavy-atom graph with another of a different ΔG and
are kept apart); Vina poses for {docked} of {compounds} compounds
({'none docked yet: every compound has its modelled poses, scored in place' if docked == 0 else 'the rest have their modelled poses only'}).
Listed in `failures.csv`: {', '.join(f'{v} {k}' for k, v in sorted(kinds.items())) or 'nothing'}.

{timing(docked_rows)}

Regenerate: `tools/dock/fepplus.sh --score-only` (modelled poses and their scores, minutes),
then `tools/dock/fepplus.sh --jobs 16` (adds 9 Vina poses per compound; resumable, e.g.
with `--deadline 400` per device call).
"""
    (out / "README.md").write_text(text)


if __name__ == "__main__":
    raise SystemExit(main())
