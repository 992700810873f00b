from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from modelsteal.datasets import dataset_names, load_csv, load_dataset
from modelsteal.errors import InvalidInput

EXPECTED = {
    "iris": (150, 4, 3),
    "wine": (178, 13, 3),
    "breast_cancer": (569, 30, 2),
    "digits": (1797, 64, 10),
    "mnist5k": (5000, 784, 10),
    "mnist1d": (5000, 40, 10),
    "moons": (1000, 2, 2),
    "circles": (1000, 2, 2),
    "blobs": (1500, 6, 4),
    "classification5": (2000, 20, 5),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_bundled_data_sets_have_fixed_splits_and_spaces(name: str) -> None:
    data = load_dataset(name)
    rows, features, classes = EXPECTED[name]
    assert data.X_train.shape[0] + data.X_test.shape[0] == rows
    assert data.n_features == features and data.n_classes == classes
    assert set(np.unique(data.y_train)) == set(range(classes))
    assert data.feature_space.contains(data.X_train).all()
    assert data.feature_space.contains(data.X_test).all()
    assert abs(data.X_test.shape[0] / rows - 0.25) < 0.01


def test_split_is_the_same_in_a_fresh_process() -> None:
    import subprocess
    import sys

    code = "from modelsteal.datasets import load_dataset; d = load_dataset('wine'); print(d.y_test[:20].tolist(), float(d.X_test.sum()))"
    out1 = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    out2 = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out1 == out2
    assert set(dataset_names()) == set(EXPECTED)


def test_unknown_data_set_names_the_choices() -> None:
    with pytest.raises(InvalidInput, match="choose one of: iris"):
        load_dataset("cifar10")


MESSY = (
    "age , colour, income,label\n"
    "30, red, 1000.5, yes\n"
    '41, "blue", 2000, no\n'
    "?, red, 1500, yes\n"
    "25, , 1200, no\n"
    '52, "green, dark", 900, no\n'
    "33, blue, 1800, yes\n"
    "29, red, 1100, yes\n"
    "60, green, 3000, no\n"
)


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_messy_csv_with_any_line_ending(tmp_path: Path, newline: str) -> None:
    path = tmp_path / "messy.csv"
    path.write_bytes(MESSY.replace("\n", newline).encode())
    data = load_csv(path, "label")
    assert data.info["rows_read"] == 8
    assert data.info["rows_dropped_missing"] == 2
    assert data.X_train.shape[0] + data.X_test.shape[0] == 6
    space = data.feature_space
    assert space.names == (
        "age",
        "colour=blue",
        "colour=green",
        "colour=green, dark",
        "colour=red",
        "income",
    )
    assert [g.name for g in space.categorical] == ["colour"]
    assert data.class_names == ("no", "yes")
    assert np.all(space.sample_uniform(100, 0)[:, 1:5].sum(axis=1) == 1)


def test_csv_with_semicolons_and_bom(tmp_path: Path) -> None:
    path = tmp_path / "semi.csv"
    path.write_bytes(("\ufeffx;y;t\n" + "".join(f"{i};{i % 3};{i % 2}\n" for i in range(20))).encode())
    data = load_csv(path, "t")
    assert data.feature_space.names == ("x", "y")
    assert data.class_names == ("0", "1")


@pytest.mark.parametrize(
    ("content", "target", "message"),
    [
        (b"", "t", "empty"),
        (b"a,b,t\n", "t", "no data rows"),
        (b"a,b,t\n1,2,x\n3,4,x\n", "t", "single class"),
        (b"a,b,t\n1,2,x\n3,4,y\n", "label", "no column 'label'"),
        (b"a,b,t\n\xff\xfe\x00,2,x\n", "t", "not UTF-8"),
        (b"a,t\n?,x\n,y\n", "t", "every row"),
    ],
)
def test_csv_errors_name_the_problem(tmp_path: Path, content: bytes, target: str, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(InvalidInput, match=message):
        load_csv(path, target)


def test_missing_csv_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="does not exist"):
        load_csv(tmp_path / "nope.csv", "t")
