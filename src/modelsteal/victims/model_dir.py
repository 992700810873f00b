"""Model directories: a victim in a safe format, its card, and its evaluation split.

Layout of a directory written by :func:`save_model_dir`::

    card.json          name, dataset, family, published details, feature space, classes,
                       test accuracy, seed, and the SHA-256 of every other file
    model.skops        scikit-learn models (skops, loaded with an explicit type allow-list)
    model.safetensors  PyTorch weights; the architecture is in card.json
    model.onnx         a model onnxruntime runs (imported, or a stolen copy exported)
    eval.npz           the evaluation split (numeric arrays only, loaded without pickle)

Loading refuses a directory whose card is not ours or whose files do not match the
hashes the card recorded: nothing a user hands over is unpickled.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import skops.io as sio
from numpy.typing import NDArray
from safetensors.torch import load_file, save_file

from modelsteal.datasets import Dataset
from modelsteal.errors import ModelDirError
from modelsteal.feature_space import FeatureSpace
from modelsteal.victims.base import SklearnVictim, TorchVictim, Victim
from modelsteal.victims.nets import build_network
from modelsteal.victims.tree import TreeVictim

FORMAT = "modelsteal-model/1"

# Types beyond skops' defaults that scikit-learn victims of ours contain. Anything else
# in a .skops file is refused: we load what we wrote, not what someone slipped in.
TRUSTED_SKOPS_TYPES = frozenset(
    {
        "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
        "sklearn.neural_network._stochastic_optimizers.SGDOptimizer",
        "sklearn.tree._tree.Tree",
        "sklearn.calibration._CalibratedClassifier",
        "sklearn.calibration._SigmoidCalibration",
        "sklearn.utils._bunch.Bunch",
        # quantile-binned victims (train --feature-extraction)
        "sklearn.compose._column_transformer.ColumnTransformer",
        "sklearn.preprocessing._discretization.KBinsDiscretizer",
        "sklearn.preprocessing._encoders.OneHotEncoder",
        "numpy.dtype",  # KBinsDiscretizer keeps its output dtype
    }
)


@dataclass(frozen=True)
class ModelDir:
    """A loaded model directory."""

    path: Path
    victim: Victim
    card: dict[str, Any]
    X_eval: NDArray[np.float64]
    y_eval: NDArray[np.int64]

    @property
    def feature_space(self) -> FeatureSpace:
        return self.victim.feature_space


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_card(out: Path, card: dict[str, Any]) -> Path:
    """The card last, atomically: a directory without a whole card.json is not a model directory."""
    tmp = out / "card.json.tmp"
    tmp.write_text(json.dumps(card, indent=2) + "\n")
    os.replace(tmp, out / "card.json")
    return out


def check_writable(out: str | Path, *, overwrite: bool) -> Path:
    """Where a model directory may be written; without ``overwrite``, never over another one."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ModelDirError(f"{out} exists and is not a directory; pass a directory path to `out`")
    if not overwrite and out.is_dir() and any(out.iterdir()):
        what = "a model directory" if (out / "card.json").is_file() else "a directory that is not empty"
        raise ModelDirError(f"{out} is {what}; choose another `out`, or pass `force` to replace it")
    return out


def _write_model(victim: Victim, out: Path, files: dict[str, str]) -> str:
    """The model's weights in a safe format (skops or safetensors); its backend's name."""
    if isinstance(victim, SklearnVictim):
        sio.dump(victim.estimator, out / "model.skops")
        files["model.skops"] = _sha256(out / "model.skops")
        return "sklearn"
    if isinstance(victim, TorchVictim):
        state = {k: v.detach().contiguous() for k, v in victim.module.state_dict().items()}
        save_file(state, str(out / "model.safetensors"))
        files["model.safetensors"] = _sha256(out / "model.safetensors")
        return "torch"
    raise ModelDirError(f"cannot save a victim of type {type(victim).__name__}")


def _write_secrets(
    victim: Victim,
    data: Dataset,
    out: Path,
    files: dict[str, str],
    *,
    pool: tuple[NDArray[np.float64], NDArray[np.int64] | None, str] | None,
    keep_private: bool,
) -> dict[str, Any] | None:
    """What the owner keeps and never serves: its private rows, the watermark, the held-out
    pool (whose card entry is returned). Files of an earlier victim in ``out`` go first."""
    (out / "pool.npz").unlink(missing_ok=True)
    (out / "watermark.npz").unlink(missing_ok=True)
    (out / "private.npz").unlink(missing_ok=True)
    if keep_private:
        np.savez(out / "private.npz", X=data.X_train, y=data.y_train)
        files["private.npz"] = _sha256(out / "private.npz")
    watermark = getattr(victim, "watermark", None)
    if watermark is not None:  # the owner's secret: kept here, never served
        np.savez(out / "watermark.npz", X=watermark[0], y=watermark[1])
        files["watermark.npz"] = _sha256(out / "watermark.npz")
    if pool is None:
        return None
    X_pool, y_pool, description = pool
    arrays = {"X": X_pool} if y_pool is None else {"X": X_pool, "y": y_pool}
    np.savez(out / "pool.npz", **arrays)
    files["pool.npz"] = _sha256(out / "pool.npz")
    return {"rows": int(X_pool.shape[0]), "labelled": y_pool is not None, "description": description}


def save_model_dir(
    victim: Victim,
    data: Dataset,
    out: str | Path,
    *,
    seed: int,
    name: str | None = None,
    test_accuracy: float | None = None,
    pool: tuple[NDArray[np.float64], NDArray[np.int64] | None, str] | None = None,
    keep_private: bool = False,
    overwrite: bool = True,
) -> Path:
    """Write ``victim`` with its card and ``data``'s test split into ``out``.

    ``pool`` (rows, labels or ``None``, description): training rows the victim was not
    trained on, kept as ``pool.npz`` for the thief's in-distribution pool. ``keep_private``:
    ``data``'s training rows too, as ``private.npz``, the owner's secret that dataset
    inference reveals a few of (never served, like the watermark). Without
    ``overwrite`` an existing model directory (or any non-empty directory) is refused.
    """
    out = check_writable(out, overwrite=overwrite)
    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, str] = {}
    backend = _write_model(victim, out, files)
    np.savez(out / "eval.npz", X=data.X_test, y=data.y_test)
    files["eval.npz"] = _sha256(out / "eval.npz")
    pool_card = _write_secrets(victim, data, out, files, pool=pool, keep_private=keep_private)
    if test_accuracy is None:
        test_accuracy = float(np.mean(victim.predict(data.X_test) == data.y_test))
    card = {
        "format": FORMAT,
        "name": name or out.name,
        "dataset": data.name,
        "dataset_info": data.info,
        "family": victim.family,
        "details": victim.details,
        "backend": backend,
        "feature_space": victim.feature_space.to_dict(),
        "classes": list(data.class_names),
        "test_accuracy": test_accuracy,
        "n_train": int(data.X_train.shape[0]),
        "n_eval": int(data.X_test.shape[0]),
        "pool": pool_card,
        "seed": seed,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "files": files,
    }
    return _write_card(out, card)


def save_onnx_model_dir(
    onnx_model: bytes,
    out: str | Path,
    *,
    feature_space: FeatureSpace,
    classes: list[str],
    X_eval: NDArray[np.float64],
    y_eval: NDArray[np.int64],
    name: str | None = None,
    family: str = "onnx",
    details: dict[str, Any] | None = None,
    dataset: str | None = None,
    outputs: str = "probabilities",
    extra: dict[str, Any] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write an ONNX model as a model directory that ``attack``, ``serve`` and the rest take.

    The model is checked by loading it (``OnnxVictim``) before anything is written.
    """
    from modelsteal.victims.onnx_victim import OnnxVictim

    out = check_writable(out, overwrite=overwrite)
    out.mkdir(parents=True, exist_ok=True)
    (out / "model.onnx").write_bytes(onnx_model)
    try:
        victim = OnnxVictim(out / "model.onnx", feature_space, np.arange(len(classes)), outputs=outputs)
    except ModelDirError:
        (out / "model.onnx").unlink()
        raise
    np.savez(out / "eval.npz", X=X_eval, y=y_eval)
    files = {"model.onnx": _sha256(out / "model.onnx"), "eval.npz": _sha256(out / "eval.npz")}
    (out / "pool.npz").unlink(missing_ok=True)
    accuracy = float(np.mean(victim.predict(X_eval) == y_eval)) if len(y_eval) else None
    card = {
        "format": FORMAT,
        "name": name or out.name,
        "dataset": dataset,
        "dataset_info": {},
        "family": family,
        "details": dict(details or {}),
        "backend": "onnx",
        "outputs": outputs,
        "feature_space": feature_space.to_dict(),
        "classes": list(classes),
        "test_accuracy": accuracy,
        "n_eval": len(y_eval),
        "pool": None,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "files": files,
        **(extra or {}),
    }
    return _write_card(out, card)


def read_card(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    card_path = path / "card.json"
    if not path.is_dir():
        raise ModelDirError(
            f"{path} is not a model directory; create one with `modelsteal train ... --out {path}`"
        )
    if not card_path.is_file():
        raise ModelDirError(f"{path} has no card.json; it was not written by `modelsteal train`")
    try:
        card = json.loads(card_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelDirError(f"{card_path} is not valid JSON ({exc}); retrain the model") from None
    if not isinstance(card, dict) or card.get("format") != FORMAT:
        raise ModelDirError(f"{card_path} is not a modelsteal card (format {FORMAT!r} expected)")
    return card


def _checked(path: Path, name: str, card: dict[str, Any]) -> Path:
    expected = card.get("files", {}).get(name)
    file = path / name
    if expected is None or not file.is_file():
        raise ModelDirError(f"{path} lacks {name} recorded by its card; retrain the model")
    if _sha256(file) != expected:
        raise ModelDirError(
            f"{file} does not match the hash in card.json: it was modified or not written by modelsteal"
        )
    return file


def load_pool(path: str | Path) -> tuple[NDArray[np.float64], NDArray[np.int64] | None, str] | None:
    """The held-out training rows ``train --victim-rows`` kept in the directory, if any."""
    path = Path(path)
    card = read_card(path)
    if not card.get("pool"):
        return None
    file = _checked(path, "pool.npz", card)
    with np.load(file, allow_pickle=False) as npz:
        X = np.asarray(npz["X"], dtype=np.float64)
        y = np.asarray(npz["y"], dtype=np.int64) if "y" in npz.files else None
    return X, y, str(card["pool"].get("description", f"{X.shape[0]} held-out training rows"))


def load_private(path: str | Path) -> tuple[NDArray[np.float64], NDArray[np.int64]] | None:
    """The owner's training rows ``train --keep-private`` kept in the directory, if any."""
    return _owner_rows(path, "private.npz")


def load_watermark(path: str | Path) -> tuple[NDArray[np.float64], NDArray[np.int64]] | None:
    """The trigger set ``train --watermark`` kept in the directory, if any."""
    return _owner_rows(path, "watermark.npz")


def _owner_rows(path: str | Path, name: str) -> tuple[NDArray[np.float64], NDArray[np.int64]] | None:
    """Labelled rows the owner keeps in ``name`` (checked against the card's hash), if any."""
    path = Path(path)
    card = read_card(path)
    if name not in card.get("files", {}):
        return None
    file = _checked(path, name, card)
    with np.load(file, allow_pickle=False) as npz:
        return np.asarray(npz["X"], dtype=np.float64), np.asarray(npz["y"], dtype=np.int64)


def load_model_dir(path: str | Path) -> ModelDir:
    """Load a directory written by :func:`save_model_dir`, refusing anything else."""
    path = Path(path)
    card = read_card(path)
    space = FeatureSpace.from_dict(card["feature_space"])
    classes = np.arange(len(card["classes"]))
    victim: Victim
    if card.get("backend") == "sklearn":
        file = _checked(path, "model.skops", card)
        untrusted = set(sio.get_untrusted_types(file=file))
        unknown = untrusted - TRUSTED_SKOPS_TYPES
        if unknown:
            raise ModelDirError(f"{file} holds types modelsteal does not load: {', '.join(sorted(unknown))}")
        estimator = sio.load(file, trusted=sorted(untrusted))
        if not (hasattr(estimator, "predict_proba") and hasattr(estimator, "classes_")):
            raise ModelDirError(f"{file} does not hold a fitted classifier")
        if card["family"] == "tree":
            victim = TreeVictim(estimator, space, family="tree", details=card.get("details", {}))
        else:
            victim = SklearnVictim(estimator, space, family=card["family"], details=card.get("details", {}))
    elif card.get("backend") == "torch":
        file = _checked(path, "model.safetensors", card)
        module = build_network(card["details"]["architecture"])
        try:
            module.load_state_dict(load_file(str(file)))
        except RuntimeError as exc:
            raise ModelDirError(f"{file} does not fit its architecture: {exc}") from None
        victim = TorchVictim(module, space, classes, family=card["family"], details=card.get("details", {}))
    elif card.get("backend") == "onnx":
        from modelsteal.victims.onnx_victim import OnnxVictim

        file = _checked(path, "model.onnx", card)
        victim = OnnxVictim(
            file,
            space,
            classes,
            family=card.get("family", "onnx"),
            details=card.get("details", {}),
            outputs=card.get("outputs", "probabilities"),
        )
    else:
        raise ModelDirError(f"{path}/card.json names an unknown backend {card.get('backend')!r}")
    eval_file = _checked(path, "eval.npz", card)
    with np.load(eval_file, allow_pickle=False) as npz:
        X_eval = np.asarray(npz["X"], dtype=np.float64)
        y_eval = np.asarray(npz["y"], dtype=np.int64)
    return ModelDir(path, victim, card, X_eval, y_eval)
