#!/usr/bin/env python3
"""Golden-value generator for the Rust SchNet multi-pose model.

Builds reference models out of torch_geometric's own ``SchNet`` (with
``lin2`` replaced by ``Identity`` as in the mtenn representation), evaluates
them on real TYK2 atoms (PDB 4GIH pocket + first SDF ligand) and writes, for
each case in ``CASES``:

  tests/fixtures/golden/<case>.weights.safetensors   (safetensors.torch.save_model)
  tests/fixtures/golden/<case>.data.safetensors      (inputs, intermediates, outputs, grads)
  tests/fixtures/golden/<case>.json                  (configuration + provenance)

Run through ``tools/golden/run.sh`` (pinned venv). Everything is float32 on CPU.
"""

import argparse
import json
import math
import os
import struct
import sys

import numpy as np
import torch
import torch_geometric
from safetensors.torch import load_file, load_model, save_file, save_model
from torch_geometric.nn.models import SchNet

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
DEFAULT_DATA = os.path.abspath(os.path.join(REPO, "..", "shared", "data", "tyk2"))
DEFAULT_OUT = os.path.join(REPO, "tests", "fixtures", "golden")
PDB_NAME = "protein.pdb"
SDF_NAME = "ligands.sdf"

ATOMIC_NUMBERS = {
    "H": 1, "D": 1, "B": 5, "C": 6, "N": 7, "O": 8, "F": 9, "NA": 11, "MG": 12,
    "P": 15, "S": 16, "CL": 17, "K": 19, "CA": 20, "MN": 25, "FE": 26,
    "ZN": 30, "SE": 34, "BR": 35, "I": 53,
}

# Parameter noise added on top of PyG's initialisation so that no parameter is
# exactly 0 or 1 (biases, LayerNorm affine params, ...).
PARAM_NOISE = 0.1
MAX_ROT_DEG = 30.0
MAX_TRANS_A = 1.5


# --------------------------------------------------------------------------
# Input parsing (heavy atoms only)
# --------------------------------------------------------------------------

def element_to_z(sym):
    key = sym.strip().upper()
    if key not in ATOMIC_NUMBERS:
        raise ValueError(f"unknown element {sym!r}")
    return ATOMIC_NUMBERS[key]


def read_pdb_heavy(path):
    """All ATOM/HETATM records (incl. caps and waters), hydrogens dropped.

    Element from columns 77-78; coordinates from columns 31-54. File order kept.
    """
    zs, xyz = [], []
    with open(path) as fh:
        for line in fh:
            if not (line.startswith("ATOM  ") or line.startswith("HETATM")):
                continue
            elem = line[76:78].strip()
            if not elem:
                raise ValueError(f"PDB record without element: {line!r}")
            z = element_to_z(elem)
            if z == 1:
                continue
            zs.append(z)
            xyz.append((float(line[30:38]), float(line[38:46]), float(line[46:54])))
    return np.array(zs, dtype=np.int64), np.array(xyz, dtype=np.float64)


def read_sdf_first_heavy(path):
    """First record of a V2000 SDF: (name, z, xyz) with hydrogens dropped."""
    with open(path) as fh:
        lines = fh.read().splitlines()
    name = lines[0].strip()
    counts = lines[3]
    if "V2000" not in counts:
        raise ValueError("only V2000 SDF supported")
    n_atoms = int(counts[0:3])
    zs, xyz = [], []
    for line in lines[4:4 + n_atoms]:
        sym = line[31:34].strip()
        z = element_to_z(sym)
        if z == 1:
            continue
        zs.append(z)
        xyz.append((float(line[0:10]), float(line[10:20]), float(line[20:30])))
    return name, np.array(zs, dtype=np.int64), np.array(xyz, dtype=np.float64)


def select_pocket(prot_xyz, ref_xyz, count):
    """Indices of the `count` protein atoms with the smallest minimum distance
    to any reference (ligand) atom; ties broken by file index; returned in
    ascending file order."""
    d2 = ((prot_xyz[:, None, :] - ref_xyz[None, :, :]) ** 2).sum(-1).min(1)
    order = np.lexsort((np.arange(len(d2)), d2))
    return np.sort(order[:count])


def rigid_pose(lig_xyz, rng):
    """Random rotation (angle <= MAX_ROT_DEG about a random axis through the
    centroid) followed by a random translation of length <= MAX_TRANS_A."""
    axis = rng.normal(size=3)
    axis /= np.linalg.norm(axis)
    angle = math.radians(rng.uniform(0.0, MAX_ROT_DEG))
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    rot = np.eye(3) + math.sin(angle) * k + (1 - math.cos(angle)) * (k @ k)
    direction = rng.normal(size=3)
    direction /= np.linalg.norm(direction)
    trans = direction * rng.uniform(0.0, MAX_TRANS_A)
    c = lig_xyz.mean(0)
    return (lig_xyz - c) @ rot.T + c + trans


# --------------------------------------------------------------------------
# Deterministic radius graph (the rule the Rust side implements)
# --------------------------------------------------------------------------

def radius_edges(pos, batch, cutoff, max_nb):
    """For each target i ascending: candidates j != i in the same structure
    with d2 < cutoff^2 (d2 in float64 from the float32 coordinates), sorted by
    (d2, j), first max_nb kept. edge_index[0] = source j, [1] = target i."""
    p = pos.detach().to(torch.float64).numpy()
    b = batch.detach().numpy()
    c2 = float(cutoff) * float(cutoff)
    src, dst, n_cand = [], [], []
    for i in range(p.shape[0]):
        diff = p - p[i]
        d2 = (diff * diff).sum(-1)
        cand = [j for j in range(p.shape[0]) if j != i and b[j] == b[i] and d2[j] < c2]
        cand.sort(key=lambda j: (d2[j], j))
        n_cand.append(len(cand))
        for j in cand[:max_nb]:
            src.append(j)
            dst.append(i)
    ei = torch.tensor([src, dst], dtype=torch.long).reshape(2, -1)
    return ei, n_cand


class DeterministicRadiusGraph:
    """`interaction_graph` callable for PyG SchNet: (pos, batch) -> (edge_index, edge_weight)."""

    def __init__(self, cutoff, max_num_neighbors):
        self.cutoff = cutoff
        self.max_num_neighbors = max_num_neighbors
        self.log = []  # (edge_index, candidate counts) of every call

    def __call__(self, pos, batch):
        edge_index, n_cand = radius_edges(pos, batch, self.cutoff, self.max_num_neighbors)
        row, col = edge_index
        # Same expression as torch_geometric's RadiusInteractionGraph.
        edge_weight = (pos[row] - pos[col]).norm(dim=-1)
        self.log.append((edge_index, n_cand))
        return edge_index, edge_weight


# --------------------------------------------------------------------------
# Model (parameter names follow mtenn's state dict)
# --------------------------------------------------------------------------

def head(in_dim, layer_norm):
    if layer_norm:
        return torch.nn.Sequential(torch.nn.LayerNorm(in_dim), torch.nn.Linear(in_dim, 1))
    return torch.nn.Linear(in_dim, 1)


class Strategy(torch.nn.Module):
    def __init__(self, kind, half, layer_norm):
        super().__init__()
        self.kind = kind
        if kind in ("delta", "complex"):
            self.energy_func = head(half, layer_norm)
        elif kind == "concat":
            self.reduce_nn = head(3 * half, layer_norm)
        else:
            raise ValueError(kind)

    def forward(self, comp, parts):
        if self.kind == "delta":
            out = self.energy_func(comp)
            for p in parts:
                out = out - self.energy_func(p)
            return out
        if self.kind == "complex":
            return self.energy_func(comp)
        # concat: sum of the concatenations over all permutations of the parts
        perms = [parts, parts[::-1]] if len(parts) == 2 else None
        assert perms is not None
        parts_cat = torch.cat(perms[0], dim=-1)
        for perm in perms[1:]:
            parts_cat = parts_cat + torch.cat(perm, dim=-1)
        return self.reduce_nn(torch.cat([comp, parts_cat], dim=-1))


class GoldenModel(torch.nn.Module):
    def __init__(self, cfg, graph):
        super().__init__()
        self.kind = cfg["strategy"]
        self.representation = SchNet(
            hidden_channels=cfg["hidden"],
            num_filters=cfg["filters"],
            num_interactions=cfg["interactions"],
            num_gaussians=cfg["gaussians"],
            cutoff=cfg["cutoff"],
            max_num_neighbors=cfg["max_num_neighbors"],
            interaction_graph=graph,
        )
        if self.kind != "ligand_only":
            self.representation.lin2 = torch.nn.Identity()
            self.strategy = Strategy(self.kind, cfg["hidden"] // 2, cfg["layer_norm"])

    def rep(self, z, pos):
        # mtenn calls the PyG forward with (z, pos) only -> batch = zeros.
        return self.representation(z, pos)

    def forward_pose(self, z, pos, lig):
        """Returns (pred [1], dict of intermediates)."""
        inter = {}
        if self.kind == "ligand_only":
            captured = {}
            h = self.representation.lin2.register_forward_hook(
                lambda m, i, o: captured.__setitem__("x", i[0]))
            pred = self.rep(z[lig], pos[lig])
            h.remove()
            inter["rep_ligand"] = captured["x"].sum(0)  # sum_atoms ssp(lin1(h)) (lin2 input)
            return pred.reshape(1), inter
        comp = self.rep(z, pos)
        inter["rep_complex"] = comp.reshape(-1)
        parts = []
        if self.kind in ("delta", "concat"):
            prot = self.rep(z[~lig], pos[~lig])
            ligr = self.rep(z[lig], pos[lig])
            inter["rep_protein"] = prot.reshape(-1)
            inter["rep_ligand"] = ligr.reshape(-1)
            parts = [prot, ligr]  # parts order = (protein, ligand)
        pred = self.strategy(comp, parts)
        return pred.reshape(1), inter


def combine(y, comb):
    kind = comb["kind"]
    if kind == "mean":
        return y.mean().reshape(1)
    if kind == "max":
        n = -1.0 if comb["negate"] else 1.0
        t = comb["scale"]
        return ((n / t) * torch.logsumexp(n * t * y, dim=0)).reshape(1)
    if kind == "boltzmann":
        w = torch.softmax(-y / comb["temperature"], dim=0)
        return (w * y).sum().reshape(1)
    raise ValueError(kind)


def readout(x, ro):
    kind = ro["kind"]
    if kind == "none":
        return x
    out = -x / math.log(10.0)
    if kind == "pic50" and ro["substrate"] is not None and ro["km"] is not None:
        out = out - math.log10(1.0 + ro["substrate"] / ro["km"])
    return out


# --------------------------------------------------------------------------
# Cases
# --------------------------------------------------------------------------

def comb(kind, negate=False, scale=1.0, temperature=1.0):
    return {"kind": kind, "negate": negate, "scale": scale, "temperature": temperature}


def ro(kind, substrate=None, km=None):
    return {"kind": kind, "substrate": substrate, "km": km}


CASES = [
    dict(case="tiny_delta_mean", seed=1001, pocket=14, lig_atoms=6,
         hidden=16, filters=16, interactions=2, gaussians=10, cutoff=5.0, max_num_neighbors=4,
         n_poses=2, strategy="delta", layer_norm=False, combination=comb("mean"),
         readout=ro("pic50", 1.0, 0.5), target=6.5, pose_loss=None, require_cap_binds=True),
    dict(case="tyk2_delta_max_t1000", seed=1002, pocket=260, lig_atoms=None,
         hidden=32, filters=32, interactions=3, gaussians=25, cutoff=10.0, max_num_neighbors=32,
         n_poses=3, strategy="delta", layer_norm=False, combination=comb("max", True, 1000.0),
         readout=ro("pic50"), target=7.0, pose_loss=None),
    dict(case="tyk2_concat_ln_boltzmann_posed", seed=1003, pocket=260, lig_atoms=None,
         hidden=32, filters=24, interactions=2, gaussians=20, cutoff=6.0, max_num_neighbors=16,
         n_poses=3, strategy="concat", layer_norm=True,
         combination=comb("boltzmann", temperature=1.0),
         readout=ro("pki"), target=7.5, pose_loss={"weight": 0.3, "target": -10.0}),
    dict(case="tyk2_complex_max_t1", seed=1004, pocket=120, lig_atoms=None,
         hidden=16, filters=16, interactions=2, gaussians=12, cutoff=8.0, max_num_neighbors=24,
         n_poses=2, strategy="complex", layer_norm=False, combination=comb("max", False, 1.0),
         readout=ro("none"), target=-9.0, pose_loss=None),
    dict(case="delta_layernorm_single", seed=1005, pocket=60, lig_atoms=None,
         hidden=16, filters=16, interactions=2, gaussians=10, cutoff=6.0, max_num_neighbors=12,
         n_poses=1, strategy="delta", layer_norm=True, combination=comb("mean"),
         readout=ro("none"), target=-8.0, pose_loss=None),
    dict(case="ligand_only", seed=1006, pocket=0, lig_atoms=None,
         hidden=16, filters=16, interactions=2, gaussians=10, cutoff=6.0, max_num_neighbors=12,
         n_poses=2, strategy="ligand_only", layer_norm=False, combination=comb("mean"),
         readout=ro("pki"), target=6.0, pose_loss=None),
]


def build_poses(cfg, prot_z, prot_xyz, lig_z, lig_xyz):
    if cfg["lig_atoms"] is not None:
        lig_z, lig_xyz = lig_z[: cfg["lig_atoms"]], lig_xyz[: cfg["lig_atoms"]]
    idx = select_pocket(prot_xyz, lig_xyz, cfg["pocket"]) if cfg["pocket"] > 0 else np.array([], dtype=np.int64)
    pz, pxyz = prot_z[idx], prot_xyz[idx]
    rng = np.random.default_rng(cfg["seed"])
    poses = []
    for p in range(cfg["n_poses"]):
        lxyz = lig_xyz if p == 0 else rigid_pose(lig_xyz, rng)
        z = np.concatenate([pz, lig_z])
        xyz = np.concatenate([pxyz, lxyz]).astype(np.float32)
        lig = np.concatenate([np.zeros(len(pz), bool), np.ones(len(lig_z), bool)])
        poses.append((torch.from_numpy(z), torch.from_numpy(xyz), torch.from_numpy(lig)))
    return poses, idx


def canonicalize_header(path):
    """save_model records the dropped aliases in the header's __metadata__,
    which the safetensors (Rust) writer emits in hash-map order that changes
    from process to process. Re-emit the header with sorted __metadata__ keys
    (same length, space padded; tensor bytes untouched) so reruns are
    byte-identical."""
    with open(path, "rb") as fh:
        blob = fh.read()
    n = struct.unpack("<Q", blob[:8])[0]
    header = json.loads(blob[8:8 + n].decode("utf-8"), object_pairs_hook=dict)
    meta = header.pop("__metadata__", None)
    out = {}
    if meta is not None:
        out["__metadata__"] = dict(sorted(meta.items()))
    out.update(header)
    text = json.dumps(out, separators=(",", ":")).encode("utf-8")
    assert len(text) <= n
    text = text + b" " * (n - len(text))
    with open(path, "wb") as fh:
        fh.write(blob[:8] + text + blob[8 + n:])


def loss_and_grads(model, y, cfg, data):
    """Combination, readout and loss of the per-pose predictions `y`, backpropagated; the
    values and every parameter's gradient go into `data`."""
    combined = combine(y, cfg["combination"])
    z_out = readout(combined, cfg["readout"])
    loss = (z_out - cfg["target"]) ** 2
    if cfg["pose_loss"] is not None:
        loss = loss + cfg["pose_loss"]["weight"] * ((y - cfg["pose_loss"]["target"]) ** 2).sum()
    model.zero_grad()
    loss.sum().backward()
    data["combined"] = combined.detach().clone()
    data["readout"] = z_out.detach().clone()
    data["loss"] = loss.detach().reshape(1).clone()
    for n, prm in model.named_parameters():
        g = prm.grad if prm.grad is not None else torch.zeros_like(prm)
        data[f"grad.{n}"] = g.detach().clone().contiguous()
    return combined, z_out, loss


def write_case(model, data, out_dir, name):
    """The case's weights (save_model, canonical header) and data files; their paths and
    the JSON's."""
    os.makedirs(out_dir, exist_ok=True)
    wpath = os.path.join(out_dir, f"{name}.weights.safetensors")
    dpath = os.path.join(out_dir, f"{name}.data.safetensors")
    jpath = os.path.join(out_dir, f"{name}.json")
    save_model(model, wpath)
    canonicalize_header(wpath)
    save_file({k: v.contiguous() for k, v in data.items()}, dpath)
    return wpath, dpath, jpath


def run_case(cfg, prot_z, prot_xyz, lig_name, lig_z, lig_xyz, out_dir, data_dir):
    name = cfg["case"]
    torch.manual_seed(cfg["seed"])
    graph = DeterministicRadiusGraph(cfg["cutoff"], cfg["max_num_neighbors"])
    model = GoldenModel(cfg, graph)
    with torch.no_grad():
        for _, prm in model.named_parameters():
            prm.add_(PARAM_NOISE * torch.randn_like(prm))
    model.train()  # no dropout/batchnorm anywhere; mode is irrelevant

    poses, pocket_idx = build_poses(cfg, prot_z, prot_xyz, lig_z, lig_xyz)

    data = {}
    preds = []
    stats = []
    for p, (z, pos, lig) in enumerate(poses):
        graph.log.clear()
        pred, inter = model.forward_pose(z, pos, lig)
        # First graph call is the complex (or the ligand for ligand_only).
        ei, n_cand = graph.log[0]
        data[f"pose{p}.z"] = z.clone()
        data[f"pose{p}.pos"] = pos.clone()
        data[f"pose{p}.lig"] = lig.to(torch.uint8)
        data[f"pose{p}.edge_index"] = ei.clone()
        if cfg["strategy"] in ("delta", "concat"):
            data[f"pose{p}.edge_index_protein"] = graph.log[1][0].clone()
            data[f"pose{p}.edge_index_ligand"] = graph.log[2][0].clone()
        for k, v in inter.items():
            data[f"pose{p}.{k}"] = v.detach().clone()
        data[f"pose{p}.pred"] = pred.detach().clone()
        preds.append(pred)
        over = sum(1 for c in n_cand if c > cfg["max_num_neighbors"])
        stats.append(dict(atoms=int(z.numel()), lig_atoms=int(lig.sum()), edges=int(ei.shape[1]),
                          max_candidates=max(n_cand) if n_cand else 0, atoms_over_cap=over))

    y = torch.cat(preds)
    combined, z_out, loss = loss_and_grads(model, y, cfg, data)
    wpath, dpath, jpath = write_case(model, data, out_dir, name)

    # Check what save_model kept for the aliased mlp / conv.nn parameters.
    saved = load_file(wpath)
    sd = model.state_dict()
    param_names = [n for n, _ in model.named_parameters()]
    for k, v in saved.items():
        assert torch.equal(v, sd[k]), k
    dropped = sorted(set(sd) - set(saved))
    for n in param_names:
        alias = n.replace(".mlp.", ".conv.nn.")
        assert n in saved or alias in saved, f"parameter {n} missing from weights file"

    # Self-check: a freshly constructed model (different init) loaded from the
    # weights file alone reproduces the per-pose predictions bit for bit.
    torch.manual_seed(cfg["seed"] + 12345)
    fresh = GoldenModel(cfg, DeterministicRadiusGraph(cfg["cutoff"], cfg["max_num_neighbors"]))
    load_model(fresh, wpath)
    with torch.no_grad():
        for p, (z, pos, lig) in enumerate(poses):
            again, _ = fresh.forward_pose(z, pos, lig)
            assert torch.equal(again, data[f"pose{p}.pred"]), f"reload mismatch pose {p}"

    meta = {
        "case": name,
        "hidden": cfg["hidden"],
        "filters": cfg["filters"],
        "interactions": cfg["interactions"],
        "gaussians": cfg["gaussians"],
        "cutoff": cfg["cutoff"],
        "max_num_neighbors": cfg["max_num_neighbors"],
        "strategy": cfg["strategy"],
        "layer_norm": cfg["layer_norm"],
        "combination": cfg["combination"],
        "readout": cfg["readout"],
        "target": cfg["target"],
        "pose_loss": cfg["pose_loss"],
        "n_poses": cfg["n_poses"],
        "torch_version": torch.__version__,
        "torch_geometric_version": torch_geometric.__version__,
        "source": (f"protein: {PDB_NAME} (TYK2, PDB 4GIH; all ATOM/HETATM records, hydrogens "
                   f"dropped); ligand: {SDF_NAME} first record '{lig_name}' (hydrogens dropped)"),
        "provenance": {
            "protein_file": PDB_NAME,
            "ligand_file": SDF_NAME,
            "ligand_record": lig_name,
            "data_dir": "shared/data/tyk2",
            "ligand_heavy_atoms_used": (cfg["lig_atoms"] if cfg["lig_atoms"] is not None
                                        else int(len(lig_z))),
            "pocket_atoms": int(cfg["pocket"]),
            "pocket_rule": ("protein heavy atoms (file order) ranked by minimum distance to any "
                            "used pose-0 ligand heavy atom, ties by file index, first N kept, "
                            "then restored to file order"),
            "pocket_heavy_atom_indices": [int(i) for i in pocket_idx],
            "poses": (f"pose 0 = SDF coordinates; poses 1.. = rotation by U(0,{MAX_ROT_DEG}) deg "
                      f"about a random axis through the ligand centroid, then translation of "
                      f"length U(0,{MAX_TRANS_A}) A; numpy default_rng(seed)"),
            "seed": cfg["seed"],
            "param_noise": f"every parameter += {PARAM_NOISE} * randn after PyG init (torch.manual_seed(seed) before construction)",
            "graph_rule": ("per target i ascending: j != i, same structure, d2 (float64 from float32 "
                           "coords) < cutoff^2, sorted by (d2, j), first max_num_neighbors kept; "
                           "edge_index[0]=source j, [1]=target i; edge_weight = torch float32 "
                           "(pos[row]-pos[col]).norm(-1)"),
        },
        "pose_stats": stats,
        "weights_dropped_aliases": dropped,
    }
    with open(jpath, "w") as fh:
        json.dump(meta, fh, indent=2)
        fh.write("\n")

    print(f"== {name}")
    for p, s in enumerate(stats):
        print(f"   pose{p}: atoms={s['atoms']} (lig {s['lig_atoms']}) edges={s['edges']} "
              f"max_candidates={s['max_candidates']} atoms_over_cap(M={cfg['max_num_neighbors']})={s['atoms_over_cap']}")
    print(f"   preds={y.detach().tolist()} combined={combined.item():.6f} "
          f"readout={z_out.item():.6f} loss={loss.item():.6f}")
    print(f"   weights kept={len(saved)} dropped aliases={dropped}")
    for path in (wpath, dpath, jpath):
        print(f"   {os.path.relpath(path, REPO)}: {os.path.getsize(path)} bytes")
    if cfg.get("require_cap_binds"):
        assert any(s["atoms_over_cap"] > 0 for s in stats), "neighbour cap does not bind"
    return wpath


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=os.environ.get("GOLDEN_DATA_DIR", DEFAULT_DATA))
    ap.add_argument("--out-dir", default=DEFAULT_OUT)
    ap.add_argument("--only", nargs="*", help="case names to generate (default: all)")
    ap.add_argument("--list-weights", default="tiny_delta_mean",
                    help="print the tensor names of this case's weights file")
    args = ap.parse_args()

    torch.set_num_threads(1)
    torch.set_default_dtype(torch.float32)

    prot_z, prot_xyz = read_pdb_heavy(os.path.join(args.data_dir, PDB_NAME))
    lig_name, lig_z, lig_xyz = read_sdf_first_heavy(os.path.join(args.data_dir, SDF_NAME))
    print(f"torch {torch.__version__}, torch_geometric {torch_geometric.__version__}")
    print(f"protein heavy atoms: {len(prot_z)}; ligand '{lig_name}' heavy atoms: {len(lig_z)}")

    listed = None
    for cfg in CASES:
        if args.only and cfg["case"] not in args.only:
            continue
        w = run_case(cfg, prot_z, prot_xyz, lig_name, lig_z, lig_xyz, args.out_dir, args.data_dir)
        if cfg["case"] == args.list_weights:
            listed = w
    if listed:
        print(f"tensors in {os.path.relpath(listed, REPO)}:")
        for k, v in sorted(load_file(listed).items()):
            print(f"   {k} {list(v.shape)} {v.dtype}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
