from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import skops.io as sio
from sklearn.preprocessing import FunctionTransformer

from modelsteal.datasets import load_dataset
from modelsteal.errors import InvalidInput, ModelDirError
from modelsteal.victims import load_model_dir, save_model_dir, train_victim


@pytest.mark.parametrize(
    ("dataset", "family", "min_accuracy"),
    [
        ("breast_cancer", "logreg", 0.95),
        ("digits", "softmax", 0.95),
        ("iris", "ovr", 0.85),
        ("digits", "mlp", 0.95),
        ("digits", "tree", 0.75),
        ("digits", "svm-rbf", 0.95),
        ("digits", "cnn", 0.95),
        ("loans", "softmax", 0.7),
    ],
)
def test_every_family_trains_saves_and_loads_exactly(
    victim_factory: Callable, tmp_path: Path, dataset: str, family: str, min_accuracy: float
) -> None:
    victim, data = victim_factory(dataset, family)
    out = save_model_dir(victim, data, tmp_path / "m", seed=0)
    loaded = load_model_dir(out)
    card = loaded.card
    assert card["family"] == family and card["dataset"] == data.name
    assert card["test_accuracy"] >= min_accuracy
    assert card["classes"] == list(data.class_names)
    assert np.array_equal(loaded.X_eval, data.X_test) and np.array_equal(loaded.y_eval, data.y_test)
    assert np.array_equal(loaded.victim.predict_proba(data.X_test), victim.predict_proba(data.X_test))
    assert not any(p.suffix in {".pkl", ".pickle", ".joblib", ".pt"} for p in out.iterdir())


def test_default_mlp_is_relu_with_20_units(victim_factory: Callable) -> None:
    victim, _ = victim_factory("digits", "mlp")
    assert victim.details == {"hidden_layer_sizes": [20], "activation": "relu"}


def test_a_tampered_model_file_is_refused(victim_factory: Callable, tmp_path: Path) -> None:
    victim, data = victim_factory("digits", "softmax")
    out = save_model_dir(victim, data, tmp_path / "m", seed=0)
    with (out / "model.skops").open("ab") as fh:
        fh.write(b"\0")
    with pytest.raises(ModelDirError, match="does not match the hash"):
        load_model_dir(out)


def test_a_foreign_skops_file_with_unknown_types_is_refused(victim_factory: Callable, tmp_path: Path) -> None:
    """Even with a matching hash, types outside the allow-list are never loaded."""
    victim, data = victim_factory("digits", "softmax")
    out = save_model_dir(victim, data, tmp_path / "m", seed=0)
    import os

    evil = FunctionTransformer(func=os.system)  # a callable in a model file
    sio.dump(evil, out / "model.skops")
    card = json.loads((out / "card.json").read_text())
    import hashlib

    card["files"]["model.skops"] = hashlib.sha256((out / "model.skops").read_bytes()).hexdigest()
    (out / "card.json").write_text(json.dumps(card))
    with pytest.raises(ModelDirError, match="does not load"):
        load_model_dir(out)


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda p: None, "not a model directory"),
        (lambda p: p.mkdir(), "no card.json"),
        (lambda p: (p.mkdir(), (p / "card.json").write_text("{not json")), "not valid JSON"),
        (
            lambda p: (p.mkdir(), (p / "card.json").write_text('{"format": "other"}')),
            "not a modelsteal card",
        ),
    ],
)
def test_directories_we_did_not_write_are_refused(tmp_path: Path, setup: Callable, message: str) -> None:
    path = tmp_path / "m"
    setup(path)
    with pytest.raises(ModelDirError, match=message):
        load_model_dir(path)


def test_family_and_data_mismatches_are_clear() -> None:
    with pytest.raises(InvalidInput, match="use `family` softmax"):
        train_victim(load_dataset("iris"), "logreg")
    with pytest.raises(InvalidInput, match="image data set"):
        train_victim(load_dataset("iris"), "cnn")
    with pytest.raises(InvalidInput, match="unknown model family"):
        train_victim(load_dataset("iris"), "forest")


def test_victim_refuses_bad_rows(victim_factory: Callable) -> None:
    victim, _ = victim_factory("digits", "softmax")
    with pytest.raises(InvalidInput, match="NaN"):
        victim.predict_proba(np.full((1, 64), np.nan))
    with pytest.raises(InvalidInput, match="features per row"):
        victim.predict_proba(np.zeros((1, 63)))
