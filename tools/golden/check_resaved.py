"""Loads weights that multipose saved (target/golden-resaved/, written by
`cargo test --test golden`) into the PyTorch reference with
safetensors.torch.load_model (strict), and checks the per-pose predictions against the
golden fixtures (relative 1e-6: bitwise equality held for most cases but not all, which
we did not investigate further; the weights themselves are checked bit for bit by the
Rust test). Shows that
multipose -> mtenn weight transfer works.

Run: tools/golden/.venv/bin/python tools/golden/check_resaved.py
"""
import json
import pathlib
import sys

import torch
from safetensors.torch import load_file, load_model

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from generate import DeterministicRadiusGraph, GoldenModel  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]
FIX = ROOT / "tests/fixtures/golden"
RESAVED = ROOT / "target/golden-resaved"


def main():
    cases = sorted(p.stem for p in FIX.glob("*.json"))
    for case in cases:
        cfg = json.loads((FIX / f"{case}.json").read_text())
        data = load_file(FIX / f"{case}.data.safetensors")
        model = GoldenModel(cfg, DeterministicRadiusGraph(cfg["cutoff"], cfg["max_num_neighbors"]))
        missing, unexpected = load_model(model, RESAVED / f"{case}.weights.safetensors", strict=True)
        assert not missing and not unexpected, (case, missing, unexpected)
        with torch.no_grad():
            for p in range(cfg["n_poses"]):
                z, pos, lig = data[f"pose{p}.z"], data[f"pose{p}.pos"], data[f"pose{p}.lig"].bool()
                pred, _ = model.forward_pose(z, pos, lig)
                want = data[f"pose{p}.pred"]
                rel = ((pred - want).abs() / want.abs()).max().item()
                assert rel < 1e-6, (case, p, rel)
        print(f"{case}: loaded strictly, {cfg['n_poses']} pose predictions within 1e-6")


if __name__ == "__main__":
    main()
