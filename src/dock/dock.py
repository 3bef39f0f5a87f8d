"""Docking worker of `multipose dock`: SMILES to multi-pose SDFs with RDKit, meeko and Vina.

The Rust side parses the user's CSV, checks labels and settings, and writes a job file;
this script does only what needs RDKit / meeko / Vina: receptor preparation, stereoisomer
enumeration, 3D embedding, ligand preparation and docking. It prints one JSON object per
line on stdout (events the CLI turns into progress and a summary) and writes, per target
and compound, `<out>/<target>/poses/<file>.sdf.gz` and then `<work>/<target>/<file>.json`
(the result, written last: its presence marks the task finished, so an interrupted run
resumes without redoing or mixing finished compounds).

Usage: python dock.py JOB.json
"""
from __future__ import annotations

import gzip
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

WATER_IONS = {"HOH", "WAT", "DOD", "NA", "CL", "K", "MG", "ZN", "CA", "MN", "SO4", "PO4",
              "EDO", "GOL", "DMS", "ACT", "PEG", "FMT", "IOD", "BR"}


def emit(**event) -> None:
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


def atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


# ---------------------------------------------------------------- receptor and site
def split_receptor(pdb: Path) -> tuple[list[str], dict]:
    """Protein ATOM records (no H, no HETATM) and the HETATM residues by key."""
    protein, het = [], {}
    for line in pdb.read_text().splitlines():
        rec = line[:6].strip()
        if rec == "ATOM":
            element = line[76:78].strip() or line[12:16].strip()[:1]
            if element.upper() not in ("H", "D"):
                protein.append(line)
        elif rec == "HETATM":
            key = (line[17:20].strip(), line[21:22].strip(), line[22:27].strip())
            het.setdefault(key, []).append(line)
    return protein, het


def het_xyz(lines: list[str]) -> list[tuple[float, float, float]]:
    out = []
    for line in lines:
        element = line[76:78].strip() or line[12:16].strip()[:1]
        if element.upper() not in ("H", "D"):
            out.append((float(line[30:38]), float(line[38:46]), float(line[46:54])))
    return out


def site_atoms(target: dict, het: dict) -> list[tuple[float, float, float]]:
    site = target["site"]
    kind = site["kind"]
    if kind == "box":
        return []
    if kind == "sdf":
        from rdkit import Chem
        mol = next(iter(Chem.SDMolSupplier(site["path"], removeHs=False, sanitize=False)), None)
        if mol is None:
            raise RuntimeError(f"site file {site['path']}: no molecule could be read")
        pos = mol.GetConformer().GetPositions()
        return [tuple(p) for p, a in zip(pos, mol.GetAtoms()) if a.GetAtomicNum() > 1]
    # The bound ligand: the residue named, or the first non-water, non-ion HETATM residue.
    name, chain = site.get("resname"), site.get("chain")
    for (res, ch, _num), lines in het.items():
        if name is not None and res != name:
            continue
        if chain is not None and ch != chain:
            continue
        if name is None and (res in WATER_IONS or len(het_xyz(lines)) < 6):
            continue
        return het_xyz(lines)
    want = f"residue {name}" + (f" in chain {chain}" if chain else "") if name else "a bound ligand"
    found = sorted({k[0] for k in het}) or ["none"]
    raise RuntimeError(f"{target['receptor']}: no {want} among the HETATM records "
                       f"(HETATM residues: {', '.join(found)}); give --site NAME=box:x,y,z,edge "
                       "or NAME=sdf:FILE")


def box_for(target: dict, xyz: list) -> tuple[list[float], float]:
    site = target["site"]
    if site["kind"] == "box":
        return list(site["center"]), float(site["edge"])
    lo = [min(p[i] for p in xyz) for i in range(3)]
    hi = [max(p[i] for p in xyz) for i in range(3)]
    centre = [(a + b) / 2 for a, b in zip(lo, hi)]
    length = max(b - a for a, b in zip(lo, hi))
    return centre, max(target["box_edge"], math.ceil((length + 10.0) * 1000) / 1000)


def prepare_receptor(target: dict, out: Path, work: Path) -> dict:
    """Writes `<out>/<target>/receptor.pdb` (protein heavy atoms) and the receptor PDBQT."""
    protein, het = split_receptor(Path(target["receptor"]))
    if not protein:
        raise RuntimeError(f"{target['receptor']}: no ATOM records")
    xyz = site_atoms(target, het)
    centre, edge = box_for(target, xyz)
    tdir = out / target["name"]
    atomic_write(tdir / "receptor.pdb", ("\n".join(protein) + "\nEND\n").encode())
    wdir = work / target["name"]
    wdir.mkdir(parents=True, exist_ok=True)
    if target.get("embed_only"):
        return {"pdbqt": None, "center": centre, "edge": edge, "dropped_het": sorted({k[0] for k in het})}
    # meeko types residues from templates and adds the hydrogens they define; waters, ions
    # and the bound ligand are left out (HETATM), altloc A is kept where there are several.
    # Hydrogens of the input are kept where the file has them.
    src = wdir / "receptor_in.pdb"
    src.write_text("\n".join(l for l in Path(target["receptor"]).read_text().splitlines()
                             if l[:6].strip() == "ATOM") + "\nEND\n")
    base = wdir / "receptor"
    exe = Path(sys.executable).parent / "mk_prepare_receptor.py"
    cmd = [sys.executable, str(exe)] if exe.exists() else [
        sys.executable, "-c", "import sys; from meeko.cli.mk_prepare_receptor import main; "
        "sys.argv[0] = 'mk_prepare_receptor.py'; sys.exit(main())"]
    cmd += ["--read_pdb", str(src), "-o", str(base), "-p", "--default_altloc", "A"]
    res = subprocess.run(cmd, capture_output=True, text=True)
    (wdir / "receptor_prep.log").write_text(res.stdout + res.stderr)
    pdbqt = base.with_suffix(".pdbqt")
    if res.returncode != 0 or not pdbqt.exists():
        tail = (res.stdout + res.stderr).strip().splitlines()[-6:]
        raise RuntimeError(f"meeko could not prepare {target['receptor']}: " + " | ".join(tail))
    return {"pdbqt": str(pdbqt), "center": centre, "edge": edge,
            "dropped_het": sorted({k[0] for k in het})}


# ---------------------------------------------------------------- one compound
def one_line(text: str) -> str:
    """Vina's and meeko's messages span lines; docking.csv keeps one per compound."""
    return " ".join(str(text).split())


class Failure(Exception):
    """A compound-level failure with the stage that failed."""

    def __init__(self, stage: str, message: str):
        super().__init__(f"{stage}: {one_line(message)}")
        self.stage = stage


def isomers(smiles: str):
    from rdkit import Chem
    from rdkit.Chem.EnumerateStereoisomers import (EnumerateStereoisomers,
                                                   StereoEnumerationOptions)
    mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        raise Failure("smiles", f"RDKit cannot parse `{smiles}`")
    notes = []
    fragments = Chem.GetMolFrags(mol, asMols=True)
    if len(fragments) > 1:
        # Salts and solvates: the largest fragment (by heavy atoms, then atoms) is the
        # ligand; the counter-ions are said in the record, not docked.
        mol = max(fragments, key=lambda f: (f.GetNumHeavyAtoms(), f.GetNumAtoms()))
        notes.append(f"kept the largest of {len(fragments)} fragments ({Chem.MolToSmiles(mol)})")
    # Open centres and those of AND/OR stereo groups (CXSMILES `&n`, `on`: relative
    # configuration only) are enumerated; centres given absolutely are kept.
    opts = StereoEnumerationOptions(onlyUnassigned=True, unique=True)
    found = [Chem.Mol(m) for m in EnumerateStereoisomers(mol, options=opts)]
    return found, len(found), notes


def embed(mol, seed: int):
    from rdkit import Chem
    from rdkit.Chem import AllChem
    mh = Chem.AddHs(mol)
    params = AllChem.ETKDGv3()
    params.randomSeed = seed
    if AllChem.EmbedMolecule(mh, params) != 0:
        params.useRandomCoords = True
        if AllChem.EmbedMolecule(mh, params) != 0:
            raise Failure("embedding", "RDKit ETKDG found no 3D conformer")
    if AllChem.MMFFHasAllMoleculeParams(mh):
        AllChem.MMFFOptimizeMolecule(mh, maxIters=500)
    return mh


def dock_isomer(mol, receptor: dict, settings: dict):
    from meeko import MoleculePreparation, PDBQTMolecule, PDBQTWriterLegacy, RDKitMolCreate
    from rdkit import Chem
    from vina import Vina
    setups = MoleculePreparation().prepare(mol)
    pdbqt, ok, err = PDBQTWriterLegacy.write_string(setups[0])
    if not ok:
        raise Failure("meeko", str(err))
    try:
        v = Vina(sf_name="vina", cpu=1, seed=settings["seed"], verbosity=0)
        v.set_receptor(rigid_pdbqt_filename=receptor["pdbqt"])
        v.set_ligand_from_string(pdbqt)
        # One box per target (the site's extent + 10 Å, at least box_edge): a box grown to
        # each embedded conformer's extent made the search space of long, flexible
        # ligands 3x larger and their docking 10x slower, for a site that is the same.
        edge = receptor["edge"]
        v.compute_vina_maps(center=receptor["center"], box_size=[edge] * 3, spacing=0.375)
        v.dock(exhaustiveness=settings["exhaustiveness"], n_poses=settings["poses"], min_rmsd=1.0)
        energies = v.energies(n_poses=settings["poses"], energy_range=1.0e3)
        poses = v.poses(n_poses=settings["poses"], energy_range=1.0e3)
    except Exception as e:  # Vina raises RuntimeError / TypeError with its own text
        raise Failure("vina", f"{type(e).__name__}: {e}")
    mols = RDKitMolCreate.from_pdbqt_mol(PDBQTMolecule(poses, skip_typing=True))
    if len(mols) != 1 or mols[0] is None:
        raise Failure("meeko", "meeko could not rebuild the docked ligand")
    out = []
    for conf, e in zip(mols[0].GetConformers(), energies):
        one = Chem.Mol(mols[0])
        one.RemoveAllConformers()
        one.AddConformer(Chem.Conformer(conf), assignId=True)
        out.append((Chem.RemoveHs(one), float(e[0])))
    return out


def input_order(mol, template):
    """`mol` with its heavy atoms in the input SMILES's order: meeko rebuilds a docked
    ligand from the SMILES in its PDBQT remarks, whose atom order differs between
    stereoisomers, and every record of a compound should list its atoms alike."""
    from rdkit import Chem
    match = mol.GetSubstructMatch(template, useChirality=False)
    if len(match) != mol.GetNumAtoms() or len(match) != template.GetNumAtoms():
        return mol
    return Chem.RenumberAtoms(mol, list(match))


def embedded_pose(mol, receptor: dict):
    """The embedded conformer itself, centred on the site: no docking, no score."""
    from rdkit import Chem
    heavy = Chem.RemoveHs(mol)
    conf = heavy.GetConformer()
    xyz = conf.GetPositions()
    shift = [c - m for c, m in zip(receptor["center"], xyz.mean(axis=0))]
    for i, p in enumerate(xyz):
        conf.SetAtomPosition(i, [float(p[j] + shift[j]) for j in range(3)])
    return [(heavy, None)]


def dock_compound(task: dict) -> dict:
    from rdkit import Chem, RDLogger
    RDLogger.DisableLog("rdApp.*")
    t0 = time.time()
    settings, receptor = task["settings"], task["receptor"]
    try:
        found, total, notes = isomers(task["smiles"])
        # Isomers are docked in RDKit's enumeration order up to the cap; one that cannot
        # be embedded (an enumerated configuration may be impossible, e.g. a trans-fused
        # small bicycle) is skipped and counted, and the compound fails only if none can.
        docked, unembeddable, poses = [], 0, []
        for iso in found:
            if len(docked) == settings["max_isomers"]:
                break
            try:
                mh = embed(iso, settings["seed"])
            except Failure:
                unembeddable += 1
                continue
            k = len(docked)
            docked.append(iso)
            run = embedded_pose(mh, receptor) if settings.get("embed_only") else dock_isomer(mh, receptor, settings)
            for mol, score in run:
                poses.append((score, k, mol))
        if not docked:
            raise Failure("embedding", f"RDKit ETKDG found no 3D conformer for any of {total} stereoisomer(s)")
        found = docked
        # Every isomer's poses compete for the compound's N slots, best Vina score first
        # (ties by isomer, then Vina's rank: a stable, seed-determined order).
        poses.sort(key=lambda p: (p[0] if p[0] is not None else 0.0, p[1]))
        poses = poses[: settings["poses"]]
        if not poses:
            raise Failure("vina", "Vina returned no pose")
        iso_smiles = [Chem.MolToSmiles(m) for m in found]
        template = Chem.RemoveHs(found[0])
        buf = []
        for rank, (score, k, mol) in enumerate(poses):
            mol = input_order(mol, template)
            mol.SetProp("_Name", task["id"])
            mol.SetProp("compound_id", task["id"])
            mol.SetProp("pose_index", str(rank))
            mol.SetProp("pose_source", "embedded" if score is None else "vina")
            mol.SetProp("pose_name", f"isomer{k}_pose{rank}")
            mol.SetProp("isomer", str(k))
            mol.SetProp("isomer_smiles", iso_smiles[k])
            if score is not None:
                mol.SetProp("vina_score", f"{score:.3f}")
            buf.append(Chem.MolToMolBlock(mol, kekulize=True) + "".join(
                f">  <{p}>\n{mol.GetProp(p)}\n\n" for p in
                ("compound_id", "pose_index", "pose_source", "pose_name", "isomer",
                 "isomer_smiles", "vina_score") if mol.HasProp(p)) + "$$$$\n")
        atomic_write(Path(task["sdf"]), gzip.compress("".join(buf).encode(), mtime=0))
        result = {"ok": True, "poses": len(poses), "isomers": len(found),
                  "isomers_total": total, "unembeddable": unembeddable, "best": poses[0][0]}
        if unembeddable:
            notes.append(f"{unembeddable} stereoisomer(s) could not be embedded and were skipped")
        if notes:
            result["note"] = "; ".join(notes)
    except Failure as f:
        Path(task["sdf"]).unlink(missing_ok=True)
        result = {"ok": False, "stage": f.stage, "reason": one_line(str(f))}
    except Exception as e:  # anything else RDKit / meeko raise for this compound
        Path(task["sdf"]).unlink(missing_ok=True)
        result = {"ok": False, "stage": "error", "reason": one_line(f"error: {type(e).__name__}: {e}")}
    result.update(target=task["target"], id=task["id"], row=task["row"], smiles=task["smiles"],
                  seconds=round(time.time() - t0, 3))
    atomic_write(Path(task["result"]), json.dumps(result).encode())
    return result


# ---------------------------------------------------------------- driver
def versions() -> dict:
    import rdkit
    out = {"python": sys.version.split()[0], "rdkit": rdkit.__version__, "vina": "-", "meeko": "-"}
    try:
        import meeko
        import vina
        out.update(vina=vina.__version__, meeko=meeko.__version__)
    except ImportError:  # enough for --embed-only
        pass
    return out


def main() -> int:
    job = json.loads(Path(sys.argv[1]).read_text())
    out, work = Path(job["out"]), Path(job["work"])
    emit(event="versions", **versions())
    receptors = {}
    for target in job["targets"]:
        try:
            receptors[target["name"]] = prepare_receptor(target, out, work)
        except Exception as e:
            emit(event="receptor_failed", target=target["name"], reason=str(e))
            continue
        emit(event="receptor", target=target["name"], **receptors[target["name"]])
    tasks = []
    for t in job["tasks"]:
        if t["target"] in receptors:
            tasks.append(dict(t, receptor=receptors[t["target"]], settings=job["settings"]))
    emit(event="start", tasks=len(tasks))
    deadline = job.get("deadline")
    stop_at = time.time() + deadline if deadline is not None else None
    jobs = max(1, int(job["settings"]["jobs"]))
    if jobs == 1:
        for t in tasks:
            if stop_at and time.time() > stop_at:
                break
            emit(event="done", **dock_compound(t))
        return 0
    import concurrent.futures as cf
    import multiprocessing as mp
    pending = list(reversed(tasks))
    running = {}
    with cf.ProcessPoolExecutor(max_workers=jobs, mp_context=mp.get_context("spawn")) as ex:
        while pending or running:
            while pending and len(running) < jobs and not (stop_at and time.time() > stop_at):
                t = pending.pop()
                running[ex.submit(dock_compound, t)] = t
            if not running:
                break
            done, _ = cf.wait(list(running), return_when=cf.FIRST_COMPLETED)
            for f in done:
                t = running.pop(f)
                try:
                    emit(event="done", **f.result())
                except Exception as e:  # the worker process died (a crash inside Vina)
                    emit(event="done", ok=False, stage="worker", target=t["target"], id=t["id"],
                         row=t["row"], reason=f"worker process died ({type(e).__name__}: {e})",
                         crashed=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
