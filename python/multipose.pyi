"""multipose: multi-pose binding-affinity models (Rust), from Python."""

from os import PathLike
from typing import Any, Sequence

Path = str | PathLike[str]

def train(config: dict[str, Any] | Path, out: Path, quiet: bool = True) -> dict[str, Any]:
    """Train into the run folder `out`; `config` has the sections of
    `multipose config --default` (a dict) or is a TOML file. Returns the summary.
    Ctrl-C stops at the next batch and raises KeyboardInterrupt (the run stays resumable).
    Raises ValueError for bad settings or data, OSError for files.

    >>> summary = multipose.train({"optim": {"epochs": 5}}, "runs/tyk2")
    """

def load_dataset(path: Path) -> dict[str, Any]:
    """A dataset as `train` reads it: {"compounds": [{compound_id, target, poses, label,
    protein_atoms, pocket_atoms, ligand_atoms, sources}], "skipped": [...]}."""

class Prediction:
    """Predictions as lists of dicts: `pandas.DataFrame(result.poses)` works."""

    compounds: list[dict[str, Any]]
    """Per compound: compound_id, target, prediction, combined, n_poses, top_pose."""
    poses: list[dict[str, Any]]
    """Per pose: compound_id, pose, source, prediction, weight (how much it counts)."""

class Ensemble:
    """Several models as one, as `multipose predict --model` repeated: run folders,
    ligand-only models of `fit-baseline`, and folders whose ensemble.json lists them."""

    @staticmethod
    def load(paths: Path | Sequence[Path], device: str = "cpu") -> Ensemble:
        """The members of one folder or a list of them.

        >>> ens = multipose.Ensemble.load("models/polaris")
        >>> r = ens.predict("data/polaris/embedded/sars_cov_2_mpro/receptor.pdb",
        ...                 "data/polaris/embedded/sars_cov_2_mpro/poses/asap-0001.sdf.gz",
        ...                 target="sars_cov_2_mpro")
        >>> r.compounds[0]["prediction"], r.compounds[0]["std"]
        """

    def predict(
        self, receptor: Path, poses: Path | Sequence[Path] | str, target: str | None = None
    ) -> Prediction:
        """Per compound the members' mean (`prediction`), `std` and count (`models`);
        per pose the members' mean prediction and weight. `target` names the receptor for
        models fitted on several (models/polaris: sars_cov_2_mpro or mers_cov_mpro)."""

    @property
    def members(self) -> list[Path]: ...

class Model:
    """A trained model: the weights its run folder reports."""

    @staticmethod
    def load(run_dir: Path, device: str = "cpu") -> Model:
        """The model of a run folder (`device`: cpu, cuda or cuda:N with a CUDA build).

        >>> model = multipose.Model.load("runs/tyk2")
        >>> result = model.predict("data/tyk2/receptor.pdb", "data/tyk2/poses/lig_ejm_31.sdf")
        >>> result.compounds[0]["prediction"]
        """

    @staticmethod
    def from_mtenn(
        weights: Path,
        config: Path | None = None,
        out: Path | None = None,
        settings: dict[str, Any] | None = None,
        device: str = "cpu",
    ) -> Model:
        """An mtenn model (weights from safetensors.torch.save_model), with
        asapdiscovery-ml's model_config.json and/or `settings` such as
        {"model.combination": "max"}; as `multipose import-mtenn`, written to `out`."""

    def predict(
        self, receptor: Path, poses: Path | Sequence[Path] | str, target: str | None = None
    ) -> Prediction:
        """Predictions for pose files (SDF/MOL2; a path, a list, or SDF text); `target`
        names the receptor for a model trained on several."""

    def state_dict(self) -> dict[str, Any]:
        """Every tensor under mtenn's state-dict names as NumPy float32 arrays (both
        aliases of each filter network, and the Gaussian centres), as torch's state_dict."""

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Set the weights from arrays under mtenn's names; missing, unexpected or
        mis-shaped tensors raise ValueError naming them."""

    @property
    def run_dir(self) -> Path: ...
