"""Stolen copies out (ONNX, model directories) and users' models in (ONNX, skops)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import skops.io as sio

from modelsteal.attacks import make_attack
from modelsteal.campaigns.experiment import steal_model_dir
from modelsteal.cli import main
from modelsteal.datasets import Dataset, load_dataset
from modelsteal.errors import InvalidInput, ModelDirError
from modelsteal.oracle import LocalTransport, Oracle, OutputMode
from modelsteal.stolen.export import export_onnx, onnx_proba
from modelsteal.stolen.tree import Box, Leaf, StolenTree, units_of
from modelsteal.victims import load_model_dir, save_model_dir

# (data set, victim family, attack, budget, output mode, attack options): one row per family of copy
EXPORTS = [
    ("breast_cancer", "logreg", "eq-logistic", 31, "probabilities", {}),
    ("digits", "softmax", "eq-softmax", 65, "probabilities", {}),
    ("iris", "ovr", "eq-ovr", 8, "probabilities", {}),
    ("digits", "mlp", "eq-mlp", 2200, "probabilities", {}),
    ("digits", "tree", "path-finding", 5000, "confidence", {}),
    ("loans", "tree", "path-finding", 3000, "confidence", {}),
    ("breast_cancer", "logreg", "lowd-meek", 1100, "label", {}),
    ("moons", "svm-rbf", "retrain-adaptive", 300, "label", {}),
    ("moons", "mlp", "retrain-uniform", 300, "label", {}),
    ("loans", "softmax", "retrain-uniform", 200, "label", {}),
    ("iris", "softmax-binned", "eq-binned", 700, "probabilities", {}),
    ("circles", "logreg-binned", "eq-binned", 300, "probabilities", {}),
]


@pytest.mark.parametrize(
    ("dataset", "family", "attack", "budget", "mode", "options"),
    EXPORTS,
    ids=[f"{a}-{d}" for d, _, a, *_ in EXPORTS],
)
def test_an_exported_copy_answers_as_the_copy_in_memory(
    tmp_path: Path,
    victim_factory: Callable,
    dataset: str,
    family: str,
    attack: str,
    budget: int,
    mode: str,
    options: dict,
) -> None:
    base = family.removesuffix("-binned")
    victim, data = victim_factory(dataset, base, "relu", "quantile-bins" if base != family else None)
    oracle = Oracle(LocalTransport(victim, output_mode=OutputMode(mode)))  # type: ignore[arg-type]
    result = make_attack(attack, **options).run(oracle, budget=budget, random_state=0)
    path = export_onnx(result.model, data.n_features, tmp_path / "copy.onnx")
    X = np.vstack([data.X_test, data.feature_space.sample_uniform(500, random_state=1)])
    assert np.abs(onnx_proba(path, X) - result.model.predict_proba(X)).max() <= 1e-5


def test_an_exported_network_answers_as_the_copy(theft_factory: Callable, tmp_path: Path) -> None:
    victim, data, pool = theft_factory("digits")
    for attack in ("knockoff", "semi-supervised"):
        result = make_attack(attack, pool=pool).run(
            Oracle(LocalTransport(victim)), budget=200, random_state=0
        )
        path = export_onnx(result.model, 64, tmp_path / f"{attack}.onnx")
        assert np.abs(onnx_proba(path, data.X_test) - result.model.predict_proba(data.X_test)).max() <= 1e-5


def test_a_tree_with_overlapping_boxes_exports_its_fallback(tmp_path: Path) -> None:
    """Boxes that no cut separates (equal answers made one too large) take the smallest box holding a row."""
    from modelsteal.feature_space import FeatureSpace

    space = FeatureSpace.box([0.0, 0.0], [1.0, 1.0])
    units = units_of(space)
    big = Leaf(Box(), np.array([1.0, 0.0]), "a")
    small = Leaf(Box(low={0: (0.3, 0.2)}, high={0: (0.6, 0.7), 1: (0.5, 0.6)}), np.array([0.2, 0.8]), "b")
    corner = Leaf(Box(low={1: (0.9, 0.8)}, high={0: (0.4, 0.5)}), np.array([0.6, 0.4]), "c")
    tree = StolenTree.from_leaves(space, np.arange(2), [big, small, corner])
    assert tree._box_lists, "the construction must reach the fallback"
    X = space.sample_uniform(2000, random_state=0)
    path = export_onnx(tree, 2, tmp_path / "tree.onnx")
    assert np.abs(onnx_proba(path, X) - tree.predict_proba(X)).max() == 0.0
    assert len(units) == 2


def test_export_from_the_cli_to_onnx_and_to_a_model_directory(
    tmp_path: Path, victim_factory: Callable, capsys: pytest.CaptureFixture[str]
) -> None:
    victim, data = victim_factory("digits", "softmax")
    victim_dir = save_model_dir(victim, data, tmp_path / "victim", seed=0)
    onnx = tmp_path / "copy.onnx"
    assert (
        main(
            [
                "attack",
                str(victim_dir),
                "--attack",
                "equation-solving",
                "--budget",
                "65",
                "--export",
                str(onnx),
            ]
        )
        == 0
    )
    assert np.abs(onnx_proba(onnx, data.X_test) - victim.predict_proba(data.X_test)).max() < 1e-8
    copy_dir = tmp_path / "copy"
    assert (
        main(
            [
                "attack",
                str(victim_dir),
                "--attack",
                "equation-solving",
                "--budget",
                "65",
                "--export",
                str(copy_dir),
                "--json",
            ]
        )
        == 0
    )
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["export"] == str(copy_dir)
    loaded = load_model_dir(copy_dir)
    assert loaded.card["backend"] == "onnx" and loaded.card["family"] == "softmax"
    # the copy is a victim like any other: stolen again, exactly, with the same d+1 queries
    again = steal_model_dir(copy_dir, "equation-solving", budget=65, seed=0)
    assert again.queries == 65 and again.comparison is not None and again.comparison.fidelity_uniform == 1.0
    # refused before a query: an existing file, a directory without rows to judge
    assert (
        main(["attack", str(victim_dir), "--attack", "eq-softmax", "--budget", "65", "--export", str(onnx)])
        == 2
    )
    assert "exists" in capsys.readouterr().err


def labelled_csv(path: Path, data: Dataset, rows: int | None = None) -> Path:
    X = np.vstack([data.X_train, data.X_test])[:rows]
    y = np.concatenate([data.y_train, data.y_test])[:rows]
    names = list(data.feature_space.names)
    lines = [",".join([*names, "label"])]
    lines += [
        ",".join([*(repr(float(v)) for v in row), data.class_names[int(c)]])
        for row, c in zip(X, y, strict=True)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_an_onnx_mlp_from_scikit_learn_is_stolen_as_the_original(
    tmp_path: Path, victim_factory: Callable
) -> None:
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import DoubleTensorType

    victim, data = victim_factory("digits", "mlp")
    onx = convert_sklearn(
        victim.estimator,  # type: ignore[attr-defined]
        initial_types=[("input", DoubleTensorType([None, 64]))],
        options={id(victim.estimator.steps[-1][1]): {"zipmap": False}},  # type: ignore[attr-defined]
    )
    model = tmp_path / "mlp.onnx"
    model.write_bytes(onx.SerializeToString())
    space = tmp_path / "space.json"
    space.write_text(json.dumps(data.feature_space.to_dict()))
    sample = labelled_csv(tmp_path / "digits.csv", data)
    out = tmp_path / "imported"
    assert (
        main(
            [
                "import",
                str(model),
                "--out",
                str(out),
                "--csv",
                str(sample),
                "--target",
                "label",
                "--feature-space",
                str(space),
            ]
        )
        == 0
    )
    imported = load_model_dir(out)
    assert (
        np.abs(imported.victim.predict_proba(data.X_test) - victim.predict_proba(data.X_test)).max() < 1e-12
    )
    original = make_attack("eq-mlp", activation="relu", hidden=20).run(
        Oracle(LocalTransport(victim)), budget=4000, random_state=0
    )
    stolen = make_attack("eq-mlp", activation="relu", hidden=20).run(
        Oracle(LocalTransport(imported.victim)), budget=4000, random_state=0
    )
    assert stolen.queries == original.queries
    X = data.X_test
    assert np.array_equal(stolen.model.predict(X), original.model.predict(X))


def test_an_onnx_cnn_from_pytorch_is_stolen_as_the_original(tmp_path: Path, theft_factory: Callable) -> None:
    import warnings

    import torch

    from modelsteal.metrics import EvalSet

    victim, data, pool = theft_factory("digits")

    class Images(torch.nn.Module):  # the shape a user's image model takes: [n, 1, 8, 8]
        def __init__(self, net: torch.nn.Module) -> None:
            super().__init__()
            self.net = net

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.softmax(self.net(x.reshape(x.shape[0], -1)), dim=1)

    model = tmp_path / "cnn.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            Images(victim.module).eval(),  # type: ignore[attr-defined]
            (torch.zeros(2, 1, 8, 8),),
            str(model),
            dynamo=False,
            input_names=["image"],
            output_names=["probabilities"],
            dynamic_axes={"image": {0: "n"}, "probabilities": {0: "n"}},
        )
    space = tmp_path / "space.json"
    space.write_text(json.dumps(data.feature_space.to_dict()))
    sample = labelled_csv(tmp_path / "digits.csv", data)
    out = tmp_path / "imported-cnn"
    args = ["import", str(model), "--out", str(out), "--csv", str(sample), "--target", "label"]
    assert main([*args, "--feature-space", str(space)]) == 0
    imported = load_model_dir(out).victim
    assert np.abs(imported.predict_proba(data.X_test) - victim.predict_proba(data.X_test)).max() < 1e-5
    ev = EvalSet.build(victim, data.X_test, data.y_test, data.feature_space, n_uniform=0)
    runs = [
        make_attack("knockoff", pool=pool).run(
            Oracle(LocalTransport(v)), budget=300, random_state=0, eval_set=ev
        )
        for v in (victim, imported)
    ]
    assert runs[0].queries == runs[1].queries == 300
    assert runs[0].comparison is not None and runs[1].comparison is not None
    assert abs(runs[0].comparison.fidelity_test - runs[1].comparison.fidelity_test) <= 0.01


def test_a_skops_estimator_with_text_labels_is_imported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    data = load_dataset("iris")
    names = np.asarray(["setosa", "versicolor", "virginica"])
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(
        data.X_train, names[data.y_train]
    )
    path = tmp_path / "iris.skops"
    sio.dump(model, path)
    sample = tmp_path / "iris.csv"
    lines = ["a,b,c,d,species"] + [
        ",".join([*(str(v) for v in row), names[c]]) for row, c in zip(data.X_test, data.y_test, strict=True)
    ]
    sample.write_text("\n".join(lines) + "\n")
    out = tmp_path / "iris-dir"
    assert main(["import", str(path), "--out", str(out), "--csv", str(sample), "--target", "species"]) == 0
    assert "softmax" in capsys.readouterr().out
    result = steal_model_dir(out, "equation-solving", budget=5, seed=0)
    assert result.queries == 5 and result.comparison is not None and result.comparison.fidelity_uniform == 1.0


class NotAllowed:  # a type no allow-list holds
    def __init__(self) -> None:
        self.classes_ = np.arange(2)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return np.full((len(X), 2), 0.5)


def test_bad_models_are_refused_with_the_fix(tmp_path: Path) -> None:
    from modelsteal.victims.importing import import_model

    data = load_dataset("breast_cancer")
    sample = labelled_csv(tmp_path / "bc.csv", data, rows=120)
    bad = tmp_path / "bad.skops"
    sio.dump({"model": NotAllowed()}, bad)
    with pytest.raises(ModelDirError, match=r"test_bring_your_own\.NotAllowed"):
        import_model(bad, tmp_path / "a", csv=sample, target="label")
    with pytest.raises(InvalidInput, match=r"imports \.onnx files and scikit-learn models saved with skops"):
        import_model(sample, tmp_path / "b", csv=sample, target="label")
    (tmp_path / "garbage.onnx").write_bytes(b"not onnx")
    with pytest.raises(ModelDirError, match="not an ONNX model"):
        import_model(tmp_path / "garbage.onnx", tmp_path / "c", csv=sample, target="label")
    # a regressor: one output column, not per-class scores
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import DoubleTensorType
    from sklearn.linear_model import LinearRegression

    reg = LinearRegression().fit(data.X_train, data.y_train)
    onx = convert_sklearn(reg, initial_types=[("x", DoubleTensorType([None, 30]))])
    (tmp_path / "reg.onnx").write_bytes(onx.SerializeToString())
    with pytest.raises(ModelDirError, match="scores per row"):
        import_model(tmp_path / "reg.onnx", tmp_path / "d", csv=sample, target="label")
    # a feature-space file that disagrees with the model's input width
    narrow = tmp_path / "narrow.yaml"
    narrow.write_text("features:\n  - {name: a, lower: 0, upper: 1}\n")
    with pytest.raises(InvalidInput, match="describes 1 features"):
        import_model(tmp_path / "reg.onnx", tmp_path / "e", csv=sample, target="label", feature_space=narrow)
    assert not any((tmp_path / n).exists() and any((tmp_path / n).iterdir()) for n in "abcde")
