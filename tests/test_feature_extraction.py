"""APIs that bin numbers into quantiles before a logistic model (Tramèr et al. 2016, §5, Table 7)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from modelsteal.attacks import make_attack
from modelsteal.cli import main
from modelsteal.datasets import Dataset, load_dataset
from modelsteal.datasets.examples import load_census, write_census_csv
from modelsteal.errors import InvalidInput, UnsupportedOracle
from modelsteal.metrics import EvalSet
from modelsteal.oracle import LocalTransport, Oracle, OutputMode
from modelsteal.victims import TrainOptions, train_victim
from modelsteal.victims.training import parse_feature_extraction

#: Tramèr et al. 2016, Table 7: queries of the online attack on Amazon's binned models
PAPER = {"circles": 278, "iris": 644, "census": 1485}


def true_edges(victim: object) -> list[np.ndarray]:
    binner = victim.estimator.named_steps["encode"].named_transformers_["bins"]  # type: ignore[attr-defined]
    return [edges[1:-1] for edges in binner.bin_edges_]


@pytest.mark.parametrize(
    ("name", "family"),
    [("circles", "logreg"), ("iris", "softmax"), ("census", "logreg"), ("census", "softmax")],
)
def test_binned_victims_are_stolen_exactly_in_fewer_queries_than_the_paper(name: str, family: str) -> None:
    data: Dataset = (
        load_census(6000, classes=2 if family == "logreg" else 5, random_state=0)
        if name == "census"
        else load_dataset(name)
    )
    victim = train_victim(data, family, seed=0, options=TrainOptions(feature_extraction="quantile-bins"))
    ev = EvalSet.build(victim, data.X_test, data.y_test, data.feature_space, n_uniform=10_000, random_state=1)
    attack = make_attack("eq-binned")
    result = attack.run(Oracle(LocalTransport(victim)), budget=PAPER[name], random_state=0, eval_set=ev)
    assert result.queries < PAPER[name]
    assert result.comparison is not None
    assert result.comparison.fidelity_test == 1.0 and result.comparison.fidelity_uniform == 1.0
    # every boundary, and no other, located within epsilon of its feature's range below it
    space = data.feature_space
    found = result.model.binned_
    for (j, thresholds), edges in zip(found.items(), true_edges(victim), strict=True):
        eps = attack.epsilon * (space.upper[j] - space.lower[j])  # type: ignore[attr-defined]
        assert len(thresholds) == len(edges)
        assert np.all((thresholds < edges) & (edges - thresholds <= eps))


def test_train_and_attack_a_binned_csv_victim_from_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv = write_census_csv(tmp_path / "census.csv", 3000, classes=2, random_state=1)
    out = tmp_path / "binned"
    argv = ["train", "--csv", str(csv), "--target", "income", "--model", "logreg"]
    assert main([*argv, "--feature-extraction", "quantile-bins:40", "--out", str(out)]) == 0
    card = json.loads((out / "card.json").read_text())
    assert card["details"] == {"feature_extraction": "quantile-bins"}  # the kind, not the edges
    capsys.readouterr()
    assert main(["attack", str(out), "--attack", "eq-binned", "--budget", "1485", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    # a uniform point within epsilon (1 unit of 99,999) of one of the many boundaries may
    # land in the neighbouring bin: 1 of 10,000 did
    assert summary["fidelity_test"] == 1.0 and summary["fidelity_uniform"] >= 0.999
    assert summary["queries"] < 1485 and summary["unresolved_boundaries"] == 0
    # plain equation solving, blind to the bins, cannot do this (90% zeros: 40 quantiles
    # give each number a few boundaries among its nonzero values)
    assert main(["attack", str(out), "--attack", "eq-logistic", "--budget", "200", "--json"]) == 0
    plain = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert plain["fidelity_uniform"] < 0.99


def test_bad_feature_extraction_and_oracles(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        parse_feature_extraction("quantile-bins") == 10 and parse_feature_extraction("quantile-bins:4") == 4
    )
    for text, message in [
        ("quantile-bins:1", "between 2"),
        ("bins", "unknown feature"),
        ("quantile-bins:x", "whole"),
    ]:
        with pytest.raises(InvalidInput, match=message):
            parse_feature_extraction(text)
    argv = [
        "train",
        "--dataset",
        "iris",
        "--out",
        str(tmp_path / "x"),
        "--feature-extraction",
        "quantile-bins",
    ]
    assert main([*argv, "--model", "mlp"]) == 2
    assert "logreg or softmax" in capsys.readouterr().err
    data = load_dataset("iris")
    victim = train_victim(data, "softmax", seed=0, options=TrainOptions(feature_extraction="quantile-bins:5"))
    with pytest.raises(UnsupportedOracle):
        make_attack("eq-binned").run(
            Oracle(LocalTransport(victim, output_mode=OutputMode("label"))), budget=500, random_state=0
        )
    with pytest.raises(InvalidInput, match="at least 8 queries"):
        make_attack("eq-binned").run(Oracle(LocalTransport(victim)), budget=5, random_state=0)
    with pytest.raises(InvalidInput, match="epsilon"):
        make_attack("eq-binned", epsilon=0.0)
