"""The Python package on the repository's real data: train from a dict on a slice of
TYK2, predict as the CLI does, import the golden mtenn weights, and errors as exceptions
with the CLI's messages."""

import csv
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

import multipose

ROOT = Path(__file__).resolve().parents[2]
TYK2 = ROOT / "data" / "tyk2"
GOLDEN = ROOT / "tests" / "fixtures" / "golden"
IDS = ["lig_ejm_31", "lig_ejm_42", "lig_ejm_46", "lig_jmc_23", "lig_ejm_55"]


def binary():
    """The CLI built from this checkout (cargo builds it for the Rust tests first)."""
    exe = os.environ.get("MULTIPOSE_BIN") or str(ROOT / "target" / "debug" / "multipose")
    if not Path(exe).exists():
        subprocess.run(["cargo", "build", "--quiet"], cwd=ROOT, check=True)
    return exe


@pytest.fixture(scope="module")
def tyk2_slice(tmp_path_factory):
    """Five TYK2 compounds with their first three poses each."""
    d = tmp_path_factory.mktemp("tyk2")
    (d / "poses").mkdir()
    shutil.copy(TYK2 / "receptor.pdb", d / "receptor.pdb")
    for cid in IDS:
        records = (TYK2 / "poses" / f"{cid}.sdf").read_text().split("$$$$\n")[:3]
        (d / "poses" / f"{cid}.sdf").write_text("$$$$\n".join(records) + "$$$$\n")
    lines = (TYK2 / "labels.csv").read_text().splitlines()
    kept = [lines[0]] + [l for l in lines[1:] if l.split(",")[0] in IDS]
    (d / "labels.csv").write_text("\n".join(kept) + "\n")
    return d


def small_config(data):
    return {
        "data": {"path": str(data), "pocket_radius": 5.0},
        "model": {"hidden_channels": 16, "num_filters": 16, "num_interactions": 2,
                  "num_gaussians": 10, "cutoff": 5.0, "max_num_neighbors": 8,
                  "combination": "mean"},
        "optim": {"epochs": 2, "batch_size": 2},
        "split": {"train": 0.6, "val": 0.2, "test": 0.2},
        "early_stopping": {"kind": "none"},
    }


@pytest.fixture(scope="module")
def trained(tyk2_slice, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "run"
    summary = multipose.train(small_config(tyk2_slice), out)
    return out, summary


def test_train_from_a_dict_returns_the_summary(trained):
    out, summary = trained
    assert summary["epochs"] == 2
    assert summary["weights"] in ("last.safetensors", "best.safetensors")
    assert (out / "predictions.csv").exists() and (out / "config.toml").exists()


def test_predictions_equal_the_cli(trained, tyk2_slice, tmp_path):
    out, _ = trained
    poses = sorted((tyk2_slice / "poses").glob("*.sdf"))
    model = multipose.Model.load(out)
    result = model.predict(tyk2_slice / "receptor.pdb", [str(p) for p in poses])
    assert len(result.compounds) == 5 and len(result.poses) == 15
    assert {"compound_id", "pose", "prediction", "weight"} <= set(result.poses[0])

    csv_path = tmp_path / "cli.csv"
    args = [binary(), "predict", "--model", str(out), "--receptor",
            str(tyk2_slice / "receptor.pdb"), "--poses", *map(str, poses), "--out", str(csv_path)]
    subprocess.run(args, check=True, capture_output=True)
    cli = {r["compound_id"]: float(r["prediction"]) for r in csv.DictReader(csv_path.open())}
    for c in result.compounds:
        # The CLI writes four decimals.
        assert abs(c["prediction"] - cli[c["compound_id"]]) < 1e-4


def test_sdf_text_works_as_poses(trained, tyk2_slice):
    out, _ = trained
    text = (tyk2_slice / "poses" / "lig_ejm_31.sdf").read_text()
    result = multipose.Model.load(out).predict(tyk2_slice / "receptor.pdb", text)
    assert [c["compound_id"] for c in result.compounds] == ["lig_ejm_31"]
    weights = [p["weight"] for p in result.poses]
    assert abs(sum(weights) - 1.0) < 1e-6  # the mean combination weighs poses equally


def test_imported_mtenn_weights_predict_the_golden_values(tmp_path):
    case = json.loads((GOLDEN / "tyk2_complex_max_t1.json").read_text())
    comb = case["combination"]
    settings = {
        "model.strategy": case["strategy"],
        "model.combination": comb["kind"],
        "model.negate": comb["negate"],
        "model.scale": comb["scale"],
        "model.max_num_neighbors": case["max_num_neighbors"],
    }
    model = multipose.Model.from_mtenn(
        GOLDEN / "tyk2_complex_max_t1.weights.safetensors", settings=settings,
        out=tmp_path / "imported")
    assert "cutoff = 8.0" in (tmp_path / "imported" / "config.toml").read_text()
    assert "strategy=complex" in repr(model)


def test_contradicting_cutoff_raises_with_the_message(tmp_path):
    with pytest.raises(ValueError, match="trained with 8"):
        multipose.Model.from_mtenn(
            GOLDEN / "tyk2_complex_max_t1.weights.safetensors",
            settings={"model.cutoff": 5.0}, out=tmp_path / "x")


def test_bad_input_raises_value_and_os_errors(tmp_path, tyk2_slice):
    with pytest.raises(ValueError, match="model.combination"):
        multipose.train({"model": {"combination": "median"}}, tmp_path / "r")
    with pytest.raises(ValueError, match="hiden_channels"):
        multipose.train({"model": {"hiden_channels": 3}}, tmp_path / "r")
    with pytest.raises(ValueError, match="one process per device"):
        multipose.train({"engine": {"devices": "cpu,cpu"}}, tmp_path / "r")
    assert not (tmp_path / "r").exists()
    with pytest.raises(OSError):
        multipose.Model.load(tmp_path / "no-such-run")
    bad = tmp_path / "bad.sdf"
    bad.write_text("x\n  multipose\n\n  1  0  0  0  0  0            999 V2000\n    0.0 nope\n")
    model = multipose.Model.from_mtenn(
        GOLDEN / "tiny_delta_mean.weights.safetensors", out=tmp_path / "m")
    with pytest.raises(ValueError, match="bad.sdf"):
        model.predict(tyk2_slice / "receptor.pdb", bad)


def test_load_dataset_lists_compounds(tyk2_slice):
    data = multipose.load_dataset(tyk2_slice)
    assert sorted(c["compound_id"] for c in data["compounds"]) == sorted(IDS)
    assert all(c["poses"] == 3 for c in data["compounds"])


def test_state_dict_round_trip_under_mtenn_names(trained, tyk2_slice):
    np = pytest.importorskip("numpy")
    out, _ = trained
    model = multipose.Model.load(out)
    state = model.state_dict()
    assert state["representation.embedding.weight"].shape[0] == 100
    # torch's state_dict has both names of each filter network.
    assert np.array_equal(state["representation.interactions.0.mlp.0.weight"],
                          state["representation.interactions.0.conv.nn.0.weight"])
    assert "representation.distance_expansion.offset" in state
    poses = str(tyk2_slice / "poses" / "lig_ejm_31.sdf")
    before = model.predict(tyk2_slice / "receptor.pdb", poses).compounds[0]["prediction"]
    moved = dict(state)
    moved["strategy.energy_func.bias"] = state["strategy.energy_func.bias"] + 1.0
    model.load_state_dict(moved)
    shifted = model.predict(tyk2_slice / "receptor.pdb", poses).compounds[0]["prediction"]
    assert abs(shifted - before) > 1e-3
    model.load_state_dict(state)
    again = model.predict(tyk2_slice / "receptor.pdb", poses).compounds[0]["prediction"]
    assert again == before
    bad = dict(state)
    bad["representation.lin1.weight"] = np.zeros((3, 3), dtype="float32")
    with pytest.raises(ValueError, match="representation.lin1.weight"):
        model.load_state_dict(bad)


SYMBOLS = {1: "H", 6: "C", 7: "N", 8: "O", 9: "F", 15: "P", 16: "S", 17: "Cl", 35: "Br", 53: "I"}


def read_safetensors(path):
    """name -> NumPy array, read by hand (no safetensors package needed)."""
    np = pytest.importorskip("numpy")
    raw = Path(path).read_bytes()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    kinds = {"F32": "<f4", "I64": "<i8", "U8": "u1"}
    out = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        a, b = meta["data_offsets"]
        buf = raw[8 + n + a:8 + n + b]
        out[name] = np.frombuffer(buf, dtype=kinds[meta["dtype"]]).reshape(meta["shape"])
    return out


def test_from_mtenn_predicts_the_golden_values_from_files(tmp_path):
    """The golden case's atoms written as a receptor PDB and a two-pose SDF (coordinates
    rounded to the formats' 0.001 / 0.0001 Å), predicted through Model.from_mtenn."""
    case = json.loads((GOLDEN / "tyk2_delta_max_t1000.json").read_text())
    data = read_safetensors(GOLDEN / "tyk2_delta_max_t1000.data.safetensors")
    z, lig = data["pose0.z"], data["pose0.lig"].astype(bool)
    pdb = []
    for i, (zi, p) in enumerate(zip(z[~lig], data["pose0.pos"][~lig])):
        el = SYMBOLS[int(zi)]
        pdb.append(f"ATOM  {i + 1:5d} {el:<3s}  ALA A   1    {p[0]:8.3f}{p[1]:8.3f}{p[2]:8.3f}"
                   f"  1.00  0.00          {el:>2s}")
    (tmp_path / "receptor.pdb").write_text("\n".join(pdb) + "\nEND\n")
    sdf = []
    for k in range(case["n_poses"]):
        pos = data[f"pose{k}.pos"][data[f"pose{k}.lig"].astype(bool)]
        zs = data[f"pose{k}.z"][data[f"pose{k}.lig"].astype(bool)]
        sdf += ["golden", "  multipose", "", f"{len(zs):3d}  0  0  0  0  0  0  0  0  0999 V2000"]
        sdf += [f"{p[0]:10.4f}{p[1]:10.4f}{p[2]:10.4f} {SYMBOLS[int(zi)]:<3s} 0  0  0  0  0  0"
                for zi, p in zip(zs, pos)]
        sdf += ["M  END", "$$$$"]
    comb = case["combination"]
    model = multipose.Model.from_mtenn(
        GOLDEN / "tyk2_delta_max_t1000.weights.safetensors", out=tmp_path / "run",
        settings={"model.strategy": case["strategy"], "model.combination": comb["kind"],
                  "model.negate": comb["negate"], "model.scale": comb["scale"],
                  "model.max_num_neighbors": case["max_num_neighbors"]})
    result = model.predict(tmp_path / "receptor.pdb", "\n".join(sdf) + "\n")
    assert len(result.poses) == case["n_poses"]
    for row in result.poses:
        want = float(data[f"pose{row['pose']}.pred"][0])
        assert abs(row["prediction"] - want) <= 1e-3 * abs(want), (row, want)
    want = float(data["combined"][0])
    assert abs(result.compounds[0]["combined"] - want) <= 1e-3 * abs(want)


def test_ctrl_c_stops_training_with_keyboard_interrupt(tyk2_slice, tmp_path):
    import signal
    import sys
    import time

    config = small_config(tyk2_slice)
    config["optim"]["epochs"] = 100000
    script = (
        "import sys\n"
        "try:\n"
        "    import multipose\n"
        "    print('training', flush=True)\n"
        f"    multipose.train({config!r}, {str(tmp_path / 'run')!r})\n"
        "except KeyboardInterrupt as e:\n"
        "    print('interrupted:', e, flush=True)\n"
        "    sys.exit(130)\n"
    )
    p = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "training"
    time.sleep(2)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 130, (out, err)
    assert "interrupted" in out


def test_an_ensemble_of_a_run_and_the_polaris_ligand_model_equals_the_cli(trained, tmp_path):
    """`Ensemble` takes what `predict --model` takes: here a trained run and the shipped
    Polaris ligand-only model (an ensemble.json folder), on SMILES embedded by `dock`."""
    run, _ = trained
    polaris = ROOT / "data" / "polaris" / "embedded" / "sars_cov_2_mpro"
    poses = [str(p) for p in sorted((polaris / "poses").glob("*.sdf.gz"))[:3]]
    receptor = polaris / "receptor.pdb"
    models = [ROOT / "models" / "polaris", run]
    ens = multipose.Ensemble.load([str(m) for m in models])
    assert len(ens.members) == 2
    with pytest.raises(ValueError, match="fitted on mers_cov_mpro, sars_cov_2_mpro"):
        ens.predict(receptor, poses)  # a multi-target model needs the target's name
    result = ens.predict(receptor, poses, target="sars_cov_2_mpro")
    assert [c["models"] for c in result.compounds] == [2, 2, 2]

    csv_path = tmp_path / "cli.csv"
    args = [binary(), "predict", str(polaris.parent), "--out", str(csv_path)]
    for m in models:
        args += ["--model", str(m)]
    subprocess.run(args, check=True, capture_output=True)
    cli = {r["compound_id"]: r for r in csv.DictReader(csv_path.open())}
    for c in result.compounds:
        row = cli["sars_cov_2_mpro/" + c["compound_id"]]
        assert abs(c["prediction"] - float(row["prediction"])) < 1e-4
        assert abs(c["std"] - float(row["std"])) < 1e-4
    alone = multipose.Ensemble.load(ROOT / "models" / "polaris").predict(
        receptor, poses, target="mers_cov_mpro")
    assert all(c["std"] == 0.0 and 3.0 < c["prediction"] < 9.0 for c in alone.compounds)


def test_an_ensemble_of_a_missing_folder_raises_naming_it(tmp_path):
    with pytest.raises((OSError, ValueError), match="nowhere"):
        multipose.Ensemble.load(tmp_path / "nowhere")


def test_a_visnet_run_predicts_and_round_trips_its_state_dict(tyk2_slice, tmp_path):
    """ViSNet's scalar buffers (mean, std) keep their 0-d shape through NumPy."""
    config = small_config(tyk2_slice)
    config["model"] = {"combination": "mean", "representation": {
        "kind": "visnet", "hidden_channels": 8, "num_heads": 2, "num_layers": 2,
        "num_rbf": 6, "cutoff": 4.0, "max_num_neighbors": 8}}
    out = tmp_path / "visnet"
    multipose.train(config, out)
    model = multipose.Model.load(out)
    poses = str(tyk2_slice / "poses" / "lig_ejm_31.sdf")
    before = model.predict(tyk2_slice / "receptor.pdb", poses).compounds[0]["prediction"]
    state = model.state_dict()
    assert state["representation.visnet.std"].shape == ()
    model.load_state_dict(state)
    after = model.predict(tyk2_slice / "receptor.pdb", poses).compounds[0]["prediction"]
    assert after == before
