from __future__ import annotations

import numpy as np
import pytest

from modelsteal.errors import InvalidInput
from modelsteal.feature_space import CategoricalGroup, FeatureSpace


def mixed_space() -> FeatureSpace:
    return FeatureSpace(
        ("a", "b", "c=x", "c=y", "c=z"),
        np.array([0.0, -5.0, 0, 0, 0]),
        np.array([1.0, 5.0, 1, 1, 1]),
        (CategoricalGroup("c", ("x", "y", "z"), (2, 3, 4)),),
    )


def test_uniform_samples_stay_in_bounds_and_respect_one_hot() -> None:
    space = mixed_space()
    X = space.sample_uniform(2000, random_state=1)
    assert X.shape == (2000, 5)
    assert space.contains(X).all()
    onehot = X[:, 2:]
    assert np.array_equal(onehot.sum(axis=1), np.ones(2000))
    # every level is drawn, about a third of the time each
    assert np.allclose(onehot.mean(axis=0), 1 / 3, atol=0.05)
    assert X[:, 1].min() < -4.5 and X[:, 1].max() > 4.5


def test_sampling_is_reproducible_from_its_seed() -> None:
    space = mixed_space()
    assert np.array_equal(space.sample_uniform(50, 7), space.sample_uniform(50, 7))
    assert not np.array_equal(space.sample_uniform(50, 7), space.sample_uniform(50, 8))


def test_contains_rejects_out_of_box_and_broken_one_hot() -> None:
    space = mixed_space()
    good = np.array([[0.5, 0.0, 0, 1, 0]])
    assert space.contains(good).all()
    assert not space.contains(np.array([[1.5, 0.0, 0, 1, 0]])).any()
    assert not space.contains(np.array([[0.5, 0.0, 1, 1, 0]])).any()
    assert not space.contains(np.array([[0.5, 0.0, 0.5, 0.5, 0]])).any()


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([[1.0, 2.0]], "features per row"),
        ([[np.nan, 0, 0, 1, 0]], "NaN or inf"),
        ([[np.inf, 0, 0, 1, 0]], "NaN or inf"),
        ([[["a"]]], "numeric"),
        (np.zeros((2, 2, 5)), "2-D"),
    ],
)
def test_validate_refuses_bad_rows(rows: object, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        mixed_space().validate(rows)


def test_round_trip_through_dict() -> None:
    space = mixed_space()
    again = FeatureSpace.from_dict(space.to_dict())
    assert again.names == space.names
    assert np.array_equal(again.lower, space.lower) and np.array_equal(again.upper, space.upper)
    assert again.categorical == space.categorical
    assert again.n_free_parameters == 4


def test_bad_spaces_are_refused() -> None:
    with pytest.raises(InvalidInput):
        FeatureSpace.box([0, 1], [1, 0])
    with pytest.raises(InvalidInput):
        FeatureSpace.box([0, 0], [1, 1], image_shape=(3, 3))
    with pytest.raises(InvalidInput):
        FeatureSpace(("a",), np.zeros(1), np.ones(1), (CategoricalGroup("g", ("x",), (3,)),))
