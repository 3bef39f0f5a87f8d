#!/usr/bin/env python3
"""Golden values for the Rust ViSNet: torch_geometric 2.8's own ``ViSNet`` inside a module
laid out as mtenn's wrapper (``mtenn.conversion_utils.visnet.ViSNet``: ``.visnet`` holds
the PyG model; its forward is ``representation_model`` then ``output_model.pre_reduce``
times ``std``; the strategy's energy function sums (``reduce_op``) over atoms and adds
``mean``). Same inputs, combinations and file layout as ``generate.py`` (read its
docstring); the case JSON says ``"network": "visnet"`` and ViSNet's settings.

The radius graph is the Rust rule (``generate.radius_edges``) with ``max_num_neighbors -
1`` neighbours per atom plus a self-loop appended after all pairs, as torch_cluster's
``radius_graph(loop=True)`` counts the loop within the cap. ``edge_index`` in the data file
holds the pairs only (what ``Graph::build`` makes); ViSNet adds the loops itself.

Run through ``tools/golden/run.sh`` (pinned venv). float32 on CPU.
"""

import argparse
import json
import os
import sys

import torch
import torch_geometric
from safetensors.torch import load_model
from torch_geometric.nn.models import ViSNet as PygViSNet
from torch_geometric.utils import scatter

import generate as g

VISNET_KEYS = ("lmax", "vecnorm_type", "trainable_vecnorm", "num_heads", "num_layers",
               "hidden_channels", "num_rbf", "trainable_rbf", "max_z", "cutoff",
               "max_num_neighbors", "vertex", "reduce_op")


class DeterministicDistance(torch.nn.Module):
    """Replaces ViSNetBlock.distance: the Rust graph rule, loops last, and the edge
    lengths and vectors exactly as torch_geometric's ``Distance(loop=True)`` computes them."""

    def __init__(self, cutoff, max_num_neighbors):
        super().__init__()
        self.cutoff = cutoff
        self.max_num_neighbors = max_num_neighbors
        self.log = []

    def forward(self, pos, batch):
        pairs, n_cand = g.radius_edges(pos, torch.zeros(pos.shape[0], dtype=torch.long),
                                       self.cutoff, self.max_num_neighbors - 1)
        loops = torch.arange(pos.shape[0]).repeat(2, 1)
        edge_index = torch.cat([pairs, loops], dim=1)
        edge_vec = pos[edge_index[0]] - pos[edge_index[1]]
        mask = edge_index[0] != edge_index[1]
        edge_weight = torch.zeros(edge_vec.size(0), device=edge_vec.device)
        edge_weight[mask] = torch.norm(edge_vec[mask], dim=-1)
        self.log.append((pairs, n_cand))
        return edge_index, edge_weight, edge_vec


class MtennViSNet(torch.nn.Module):
    """mtenn's wrapper: per-atom outputs of the PyG model, times std."""

    def __init__(self, cfg):
        super().__init__()
        kw = {k: cfg[k] for k in VISNET_KEYS}
        self.visnet = PygViSNet(**kw)
        self.visnet.representation_model.distance = DeterministicDistance(
            cfg["cutoff"], cfg["max_num_neighbors"])

    def forward(self, z, pos):
        batch = torch.zeros(z.shape[0], dtype=torch.long)
        x, v = self.visnet.representation_model(z, pos, batch)
        x = self.visnet.output_model.pre_reduce(x, v)
        return x * self.visnet.std

    def energy(self, per_atom):
        """The strategy's energy function (mtenn's EquivariantVecToScaler)."""
        batch = torch.zeros(per_atom.shape[0], dtype=torch.long)
        return scatter(per_atom, batch, dim=0, reduce=self.visnet.reduce_op) + self.visnet.mean


class GoldenViSNet(torch.nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.kind = cfg["strategy"]
        self.representation = MtennViSNet(cfg)

    @property
    def graph(self):
        return self.representation.visnet.representation_model.distance

    def e(self, z, pos):
        return self.representation.energy(self.representation(z, pos)).reshape(1)

    def forward_pose(self, z, pos, lig):
        inter = {}
        comp = self.e(z, pos)
        inter["rep_complex"] = comp
        pred = comp
        if self.kind == "delta":
            prot, ligr = self.e(z[~lig], pos[~lig]), self.e(z[lig], pos[lig])
            inter["rep_protein"], inter["rep_ligand"] = prot, ligr
            pred = comp - prot - ligr
        return pred.reshape(1), inter


CASES = [
    dict(case="visnet_delta_max", seed=1101, pocket=60, lig_atoms=None,
         lmax=1, vecnorm_type="none", trainable_vecnorm=False, num_heads=2, num_layers=3,
         hidden_channels=16, num_rbf=8, trainable_rbf=False, max_z=100, cutoff=5.0,
         max_num_neighbors=12, vertex=False, reduce_op="add", mean=0.0, std=1.0,
         n_poses=2, strategy="delta", combination=g.comb("max", True, 1.0),
         readout=g.ro("pic50"), target=6.5, pose_loss=None),
    dict(case="visnet_vertex_lmax2_complex", seed=1102, pocket=40, lig_atoms=None,
         lmax=2, vecnorm_type="none", trainable_vecnorm=True, num_heads=4, num_layers=2,
         hidden_channels=16, num_rbf=6, trainable_rbf=True, max_z=100, cutoff=4.5,
         max_num_neighbors=16, vertex=True, reduce_op="mean", mean=0.3, std=1.7,
         n_poses=2, strategy="complex", combination=g.comb("boltzmann", temperature=1.0),
         readout=g.ro("none"), target=-9.0, pose_loss=None),
]


def perturb(model, cfg):
    """Noise on every parameter (as generate.py) and on the float buffers a weight file
    carries, so that loading them is tested; mean and std as the case sets them."""
    with torch.no_grad():
        for _, prm in model.named_parameters():
            prm.add_(g.PARAM_NOISE * torch.randn_like(prm))
        vis = model.representation.visnet
        for name, buf in vis.named_buffers():
            if name.endswith(("means", "betas", "weight")):
                buf.mul_(1.0 + g.PARAM_NOISE * torch.randn_like(buf))
        vis.mean.fill_(cfg["mean"])
        vis.std.fill_(cfg["std"])


def run_case(cfg, prot_z, prot_xyz, lig_name, lig_z, lig_xyz, out_dir):
    name = cfg["case"]
    torch.manual_seed(cfg["seed"])
    model = GoldenViSNet(cfg)
    perturb(model, cfg)
    poses, pocket_idx = g.build_poses(cfg, prot_z, prot_xyz, lig_z, lig_xyz)
    data, preds, stats = {}, [], []
    for p, (z, pos, lig) in enumerate(poses):
        model.graph.log.clear()
        pred, inter = model.forward_pose(z, pos, lig)
        ei, n_cand = model.graph.log[0]
        data[f"pose{p}.z"] = z.clone()
        data[f"pose{p}.pos"] = pos.clone()
        data[f"pose{p}.lig"] = lig.to(torch.uint8)
        data[f"pose{p}.edge_index"] = ei.clone()
        if cfg["strategy"] == "delta":
            data[f"pose{p}.edge_index_protein"] = model.graph.log[1][0].clone()
            data[f"pose{p}.edge_index_ligand"] = model.graph.log[2][0].clone()
        for k, v in inter.items():
            data[f"pose{p}.{k}"] = v.detach().clone()
        data[f"pose{p}.pred"] = pred.detach().clone()
        preds.append(pred)
        cap = cfg["max_num_neighbors"] - 1
        stats.append(dict(atoms=int(z.numel()), lig_atoms=int(lig.sum()), edges=int(ei.shape[1]),
                          max_candidates=max(n_cand) if n_cand else 0,
                          atoms_over_cap=sum(1 for c in n_cand if c > cap)))
    y = torch.cat(preds)
    combined, z_out, loss = g.loss_and_grads(model, y, cfg, data)
    wpath, dpath, jpath = g.write_case(model, data, out_dir, name)

    # A fresh model loaded from the weights file alone reproduces every prediction.
    torch.manual_seed(cfg["seed"] + 12345)
    fresh = GoldenViSNet(cfg)
    load_model(fresh, wpath)
    with torch.no_grad():
        for p, (z, pos, lig) in enumerate(poses):
            again, _ = fresh.forward_pose(z, pos, lig)
            assert torch.equal(again, data[f"pose{p}.pred"]), f"reload mismatch pose {p}"

    meta = {k: cfg[k] for k in VISNET_KEYS}
    meta.update({
        "case": name, "network": "visnet", "mean": cfg["mean"], "std": cfg["std"],
        "strategy": cfg["strategy"], "layer_norm": False, "combination": cfg["combination"],
        "readout": cfg["readout"], "target": cfg["target"], "pose_loss": cfg["pose_loss"],
        "n_poses": cfg["n_poses"], "torch_version": torch.__version__,
        "torch_geometric_version": torch_geometric.__version__,
        "source": f"protein: {g.PDB_NAME} (TYK2, PDB 4GIH, heavy atoms); ligand: {g.SDF_NAME} "
                  f"first record '{lig_name}' (heavy atoms)",
        "provenance": {
            "pocket_atoms": int(cfg["pocket"]),
            "pocket_heavy_atom_indices": [int(i) for i in pocket_idx],
            "seed": cfg["seed"],
            "graph_rule": "generate.py's rule with max_num_neighbors - 1 pairs, then one "
                          "self-loop per atom (ViSNet's Distance with loop=True)",
            "perturbation": "parameters += 0.1 randn; float buffers *= 1 + 0.1 randn; "
                            "mean and std set",
        },
        "pose_stats": stats,
    })
    with open(jpath, "w") as fh:
        json.dump(meta, fh, indent=2)
        fh.write("\n")
    print(f"== {name}: preds={y.detach().tolist()} loss={loss.item():.6f}")
    for s in stats:
        print(f"   {s}")
    for path in (wpath, dpath, jpath):
        print(f"   {os.path.relpath(path, g.REPO)}: {os.path.getsize(path)} bytes")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=os.environ.get("GOLDEN_DATA_DIR", g.DEFAULT_DATA))
    ap.add_argument("--out-dir", default=g.DEFAULT_OUT)
    ap.add_argument("--only", nargs="*", help="case names to generate (default: all)")
    ap.add_argument("--list-weights", help="generate.py's option (run.sh passes both the same)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.set_default_dtype(torch.float32)
    prot_z, prot_xyz = g.read_pdb_heavy(os.path.join(args.data_dir, g.PDB_NAME))
    lig_name, lig_z, lig_xyz = g.read_sdf_first_heavy(os.path.join(args.data_dir, g.SDF_NAME))
    for cfg in CASES:
        if not args.only or cfg["case"] in args.only:
            run_case(cfg, prot_z, prot_xyz, lig_name, lig_z, lig_xyz, args.out_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
