from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from modelsteal.cli import main

REQUIRED_KEYS = {"attack", "queries", "seconds", "fidelity_test", "fidelity_uniform", "tv_test"}


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "modelsteal", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="module")
def softmax_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "softmax"
    assert main(["train", "--dataset", "digits", "--model", "softmax", "--out", str(out)]) == 0
    return out


def test_train_then_attack_prints_a_table_and_json(softmax_dir: Path) -> None:
    proc = run_cli("attack", str(softmax_dir), "--attack", "equation-solving", "--budget", "65", "--json")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert any("1−R_test" in line for line in lines)
    summary = json.loads(lines[-1])
    assert summary.keys() >= REQUIRED_KEYS
    assert summary["queries"] == 65
    assert summary["fidelity_test"] == 1.0 and summary["fidelity_uniform"] == 1.0
    assert summary["tv_test"] < 1e-6


def test_csv_train_and_attack(tmp_path: Path, loans_csv: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "loans"
    assert (
        main(
            [
                "train",
                "--csv",
                str(loans_csv),
                "--target",
                "risk",
                "--model",
                "softmax",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert "rows dropped for missing values" in capsys.readouterr().out
    assert main(["attack", str(out), "--attack", "eq-softmax", "--budget", "12", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["queries"] == 12 and summary["fidelity_uniform"] == 1.0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["attack", "{dir}", "--attack", "eq-softmax", "--budget", "10"],
            "needs at least 65 queries",
        ),
        (
            [
                "attack",
                "{dir}",
                "--attack",
                "eq-softmax",
                "--budget",
                "65",
                "--output-mode",
                "label",
            ],
            "probabilit",
        ),
        (["attack", "{dir}", "--attack", "nope", "--budget", "65"], "invalid choice"),
        (["attack", "{dir}", "--attack", "eq-softmax", "--budget", "-3"], "must be >= 0"),
        (
            ["attack", "/nonexistent/dir", "--attack", "eq-softmax", "--budget", "65"],
            "not a model directory",
        ),
        (["train", "--dataset", "nope", "--model", "mlp", "--out", "/tmp/x"], "unknown dataset"),
        (["train", "--dataset", "iris", "--model", "nope", "--out", "/tmp/x"], "invalid choice"),
        (
            [
                "train",
                "--csv",
                "/nonexistent.csv",
                "--target",
                "t",
                "--model",
                "mlp",
                "--out",
                "/tmp/x",
            ],
            "does not exist",
        ),
        (["train", "--csv", "/nonexistent.csv", "--model", "mlp", "--out", "/tmp/x"], "--target"),
        (
            ["attack", "{dir}", "--attack", "eq-softmax", "--budget", "65", "--family", "softmax"],
            "--family goes with",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2(softmax_dir: Path, args: list[str], message: str) -> None:
    proc = run_cli(*[a.replace("{dir}", str(softmax_dir)) for a in args])
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    err_lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(err_lines) == 1, proc.stderr
    assert message in err_lines[0]


def test_datasets_and_attacks_are_listed(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["datasets"]) == 0
    out = capsys.readouterr().out
    assert "mnist5k" in out and "--csv" in out
    assert main(["attacks"]) == 0
    assert "eq-mlp" in capsys.readouterr().out
