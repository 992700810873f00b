"""Stealing the regularisation strength (Wang & Gong 2018) after equation solving."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from modelsteal.attacks import make_attack
from modelsteal.attacks.hyperparameters import steal_regularisation
from modelsteal.cli import main
from modelsteal.datasets import Dataset, load_dataset
from modelsteal.datasets.examples import load_census
from modelsteal.errors import InvalidInput
from modelsteal.oracle import LocalTransport, Oracle
from modelsteal.victims import TrainOptions, train_victim

ATTACK = {"logreg": "eq-logistic", "softmax": "eq-softmax", "ovr": "eq-ovr"}


def stolen(data: Dataset, family: str, C: float) -> object:
    victim = train_victim(data, family, seed=0, options=TrainOptions(C=C))
    budget = data.n_features + 1 if family != "ovr" else 4 * (data.n_features + 1)
    return (
        make_attack(ATTACK[family]).run(Oracle(LocalTransport(victim)), budget=budget, random_state=0).model
    )


@pytest.mark.parametrize(
    ("dataset", "family", "C"),
    [
        ("breast_cancer", "logreg", 0.1),
        ("breast_cancer", "logreg", 1.0),
        ("digits", "softmax", 0.1),
        ("digits", "softmax", 1.0),
        ("wine", "softmax", 1.0),
        ("iris", "softmax", 3.0),
    ],
)
def test_regularisation_recovered_within_one_percent(dataset: str, family: str, C: float) -> None:
    data = load_dataset(dataset)
    estimate = steal_regularisation(stolen(data, family, C), data.X_train, data.y_train, data.feature_space)
    assert not isinstance(estimate, dict)
    assert abs(estimate.C - C) / C <= 0.01, estimate
    assert estimate.lam == pytest.approx(1.0 / estimate.C)
    assert estimate.residual < 0.1


def test_one_vs_rest_gives_one_estimate_per_class() -> None:
    data = load_dataset("iris")
    estimates = steal_regularisation(stolen(data, "ovr", 1.0), data.X_train, data.y_train, data.feature_space)
    assert isinstance(estimates, dict) and sorted(estimates) == [0, 1, 2]
    assert all(abs(e.C - 1.0) <= 0.01 for e in estimates.values())


def test_one_hot_groups_are_recentred_before_solving() -> None:
    """On the loans CSV (two text columns) the stolen weights carry an arbitrary shift per group.

    The shift is orthogonal to the data gradient, so C barely moves, but it would swamp the
    residual that tells a user whether to trust C (0.44 without re-centring, 0.02 with)."""
    from modelsteal.datasets import load_csv
    from modelsteal.datasets.examples import write_loans_csv

    data = load_csv(write_loans_csv(Path(__import__("tempfile").mkdtemp()) / "loans.csv"), "risk")
    estimate = steal_regularisation(
        stolen(data, "softmax", 1.0), data.X_train, data.y_train, data.feature_space
    )
    assert not isinstance(estimate, dict)
    assert abs(estimate.C - 1.0) <= 0.01, estimate
    assert estimate.residual < 0.1, estimate


def test_a_learner_far_from_its_optimum_is_flagged_by_its_residual() -> None:
    """Census-style data: lbfgs stops (tol 1e-4) far from the minimum; the estimate says so."""
    data = load_census(3000, classes=2, random_state=0)
    estimate = steal_regularisation(
        stolen(data, "logreg", 1.0), data.X_train, data.y_train, data.feature_space
    )
    assert not isinstance(estimate, dict)
    assert estimate.residual > 0.1


def test_wrong_inputs_name_the_fix() -> None:
    data = load_dataset("breast_cancer")
    model = stolen(data, "logreg", 1.0)
    with pytest.raises(InvalidInput, match="stolen linear model"):
        steal_regularisation(object(), data.X_train, data.y_train, data.feature_space)
    with pytest.raises(InvalidInput, match="labels"):
        steal_regularisation(model, data.X_train, data.y_train[:-1], data.feature_space)
    with pytest.raises(InvalidInput, match="two or more"):
        steal_regularisation(model, data.X_train, np.zeros_like(data.y_train), data.feature_space)


def test_cli_steals_c_from_a_model_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cancer"
    assert (
        main(["train", "--dataset", "breast_cancer", "--model", "logreg", "--C", "0.5", "--out", str(out)])
        == 0
    )
    data = load_dataset("breast_cancer")
    csv = tmp_path / "train.csv"
    header = ",".join([*data.feature_space.names, "diagnosis"])
    rows = [
        ",".join([*map(repr, x.tolist()), data.class_names[y]])
        for x, y in zip(data.X_train, data.y_train, strict=True)
    ]
    csv.write_text("\n".join([header, *rows]) + "\n")
    capsys.readouterr()
    argv = ["attack", str(out), "--attack", "equation-solving", "--budget", "31", "--json"]
    assert main([*argv, "--steal-hyperparameters", "--train-data", str(csv)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    summary = json.loads(lines[-1])
    assert abs(summary["hyperparameters"]["C"] - 0.5) <= 0.005
    assert any(line.startswith("regularisation: C = ") for line in lines)
    # bad input: one line naming the fix, exit 2
    assert main([*argv, "--steal-hyperparameters"]) == 2
    assert "--train-data CSV" in capsys.readouterr().err
    knock = ["attack", str(out), "--attack", "knockoff", "--budget", "31"]
    assert main([*knock, "--steal-hyperparameters", "--train-data", str(csv)]) == 2
    assert "follows equation solving" in capsys.readouterr().err
    assert main([*argv, "--train-data", str(csv)]) == 2
    assert "go with --steal-hyperparameters" in capsys.readouterr().err
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("\n".join([header, *[r.rsplit(",", 1)[0] + ",maybe" for r in rows]]) + "\n")
    assert main([*argv, "--steal-hyperparameters", "--train-data", str(wrong)]) == 2
    assert "none of the model's classes" in capsys.readouterr().err
