"""Times mtenn's multi-pose training scheme on the same input and weights as
`multipose bench --dump DIR` (one synthetic compound) or `multipose bench --data PATH
--dump DIR` (a whole dataset, one epoch): torch_geometric's SchNet (lin2 = identity, as
mtenn) or, for `--network visnet`, torch_geometric's ViSNet in mtenn's wrapper
(tools/golden/visnet.py), the delta strategy, and mtenn's GroupedModel scheme (forward + backward of every
pose alone, protein included, N stored gradient copies, mean combination, MSE on pIC50),
compound after compound as asapdiscovery-ml's trainer does. Like `multipose bench`'s
epoch it takes no optimiser step. Prints one JSON line: ms per pose, s per epoch, peak
memory, and the mean loss (to compare with multipose's).

This reimplements the scheme, it does not import mtenn. The radius graph is the
deterministic one of tools/golden (nearest first), memoised so its Python cost is not timed.

Run: python bench/mtenn_compare.py DIR [--device cpu|cuda] [--threads N]
"""
import argparse
import hashlib
import json
import math
import pathlib
import resource
import sys
import time

import torch
from safetensors.torch import load_file, load_model

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools/golden"))
from generate import GoldenModel, radius_edges  # noqa: E402,F401
from visnet import VISNET_KEYS, GoldenViSNet  # noqa: E402


def fast_radius_edges(pos, batch, cutoff, max_nb):
    """tools/golden's radius_edges (targets ascending, neighbours by (d2, j), first max_nb),
    vectorised on pos's device: the Python loop takes seconds per 4,700-atom graph."""
    p = pos.detach().to(torch.float64)
    n = p.shape[0]
    d2 = ((p[:, None, :] - p[None, :, :]) ** 2).sum(-1)
    ok = (d2 < float(cutoff) ** 2) & (batch[:, None] == batch[None, :])
    ok.fill_diagonal_(False)
    d2 = torch.where(ok, d2, torch.full_like(d2, float("inf")))
    order = torch.sort(d2, dim=1, stable=True).indices[:, :max_nb]  # ties keep index order
    keep = torch.gather(ok, 1, order)
    dst = torch.arange(n, device=p.device)[:, None].expand_as(order)
    return torch.stack([order[keep], dst[keep]]), None


class MemoGraph:
    """(pos, batch) -> (edge_index, edge_weight), computed once per distinct input."""

    def __init__(self, cutoff, max_nb):
        self.cutoff, self.max_nb, self.memo = cutoff, max_nb, {}

    def __call__(self, pos, batch):
        key = hashlib.sha1(pos.detach().cpu().numpy().tobytes()).hexdigest()
        if key not in self.memo:
            ei, _ = fast_radius_edges(pos, batch, self.cutoff, self.max_nb)
            self.memo[key] = ei.to(pos.device)
        ei = self.memo[key]
        row, col = ei
        return ei, (pos[row] - pos[col]).norm(dim=-1)


class MemoDistance(torch.nn.Module):
    """ViSNet's `distance` module: the same pairs as MemoGraph with one neighbour fewer,
    self-loops appended, lengths and vectors as torch_geometric's Distance(loop=True)."""

    def __init__(self, cutoff, max_nb):
        super().__init__()
        self.cutoff, self.max_nb, self.memo = cutoff, max_nb, {}

    def forward(self, pos, batch):
        key = hashlib.sha1(pos.detach().cpu().numpy().tobytes()).hexdigest()
        if key not in self.memo:
            # One graph per call; `batch` may live on the CPU while pos is on the GPU.
            single = torch.zeros(pos.shape[0], dtype=torch.long, device=pos.device)
            pairs, _ = fast_radius_edges(pos, single, self.cutoff, self.max_nb - 1)
            loops = torch.arange(pos.shape[0], device=pos.device).repeat(2, 1)
            self.memo[key] = torch.cat([pairs.to(pos.device), loops], dim=1)
        ei = self.memo[key]
        vec = pos[ei[0]] - pos[ei[1]]
        mask = ei[0] != ei[1]
        weight = torch.zeros(vec.size(0), device=vec.device)
        weight[mask] = torch.norm(vec[mask], dim=-1)
        return ei, weight, vec


def build_model(s):
    """The network the settings name, with the memoised graph."""
    if s.get("network") == "visnet":
        model = GoldenViSNet(dict({k: s[k] for k in VISNET_KEYS}, strategy=s["strategy"]))
        model.representation.visnet.representation_model.distance = MemoDistance(
            s["cutoff"], s["max_num_neighbors"])
        return model
    cfg = dict(s, strategy=s["strategy"], layer_norm=s["layer_norm"])
    return GoldenModel(cfg, MemoGraph(s["cutoff"], s["max_num_neighbors"]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=1, help="timed steps after one warm-up (median)")
    ap.add_argument("--grad-check", action="store_true",
                    help="also report the first compound's gradient in the model's dtype against "
                         "f64 (max |diff| / max |f64| over each parameter, worst parameter), "
                         "the figure multipose bench --check prints")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    d = pathlib.Path(args.dir)
    s = json.loads((d / "settings.json").read_text())
    model = build_model(s)
    load_model(model, d / "weights.safetensors")
    dev = torch.device(args.device)
    model.to(dev)
    data = load_file(d / "inputs.safetensors")
    compounds = [
        ([(data[f"c{k}.pose{p}.z"].to(dev), data[f"c{k}.pose{p}.pos"].to(dev),
           data[f"c{k}.pose{p}.lig"].bool().to(dev)) for p in range(c["n_poses"])], c["target"])
        for k, c in enumerate(s["compounds"])
    ]
    n_poses = sum(len(poses) for poses, _ in compounds)
    with torch.no_grad():  # build (and memoise) every graph before timing
        for poses, _ in compounds:
            for z, pos, lig in poses:
                model.forward_pose(z, pos, lig)

    def step():
        losses = [compound_step(model, poses, target) for poses, target in compounds]
        if dev.type == "cuda":
            torch.cuda.synchronize()
        return float(torch.stack(losses).mean())

    if args.repeats > 1:
        step()  # warm-up, as multipose bench does when --repeats > 1
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(args.repeats):
        t = time.perf_counter()
        loss = step()
        times.append((time.perf_counter() - t) * 1e3)
    ms = sorted(times)[len(times) // 2]
    out = {
        "impl": "mtenn-scheme (PyTorch %s, PyG %s)" % (
            torch.__version__, "ViSNet" if s.get("network") == "visnet" else "SchNet"),
        "device": args.device,
        "threads": torch.get_num_threads(),
        "data": s.get("data", "synthetic"),
        "atoms": s.get("atoms"),
        "compounds": len(compounds),
        "poses": n_poses,
        "ms_per_pose": ms / n_poses,
        "epoch_s": ms / 1e3,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "loss": loss,
    }
    if dev.type == "cuda":
        out["peak_gpu_mib"] = torch.cuda.max_memory_allocated() / 2**20
    if args.grad_check:
        out["grad_rel_err"], out["grad_worst"] = grad_error(model, compounds[0])
    print(json.dumps(out))


def compound_step(model, poses, target):
    """mtenn's scheme for one compound: each pose's own backward, N stored gradient
    copies, the mean combination's gradient applied by hand; returns the loss."""
    preds, grads = [], []
    for z, pos, lig in poses:
        pred, _ = model.forward_pose(z, pos, lig)
        model.zero_grad()
        pred.sum().backward()
        preds.append(pred.detach())
        grads.append([torch.zeros_like(p) if p.grad is None else p.grad.detach().clone()
                      for p in model.parameters()])  # ViSNet's unused prior has none
    y = torch.stack(preds).mean()
    z = -y / math.log(10.0)
    loss = (z - target) ** 2
    dl_dy = 2.0 * (z - target) * (-1.0 / math.log(10.0))
    for i, p in enumerate(model.parameters()):
        p.grad = dl_dy * torch.stack([g[i] for g in grads]).mean(0)
    return loss


def grad_error(model, compound):
    """Worst parameter's max |g - g64| / max |g64| for one compound's mtenn-scheme step
    (the model in its own dtype against an f64 copy of it, same inputs and device)."""
    import copy

    poses, target = compound
    compound_step(model, poses, target)
    got = {n: p.grad.detach().double() for n, p in model.named_parameters()}
    model64 = copy.deepcopy(model).double()
    compound_step(model64, [(z, pos.double(), lig) for z, pos, lig in poses], target)
    want = {n: p.grad.detach() for n, p in model64.named_parameters()}
    worst = (0.0, "")
    for n, w in want.items():
        scale = w.abs().max().item()
        if scale > 0:
            e = (got[n] - w).abs().max().item() / scale
            worst = max(worst, (e, n))
    return worst


if __name__ == "__main__":
    main()
