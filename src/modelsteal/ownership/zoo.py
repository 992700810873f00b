"""Independent models: what an innocent suspect looks like, for the null of every method.

The hard case of false accusation is a model trained on the same distribution as the
owner's but on other rows (Szyller et al., TMLR 2023). An owner directory made with
``train --victim-rows N`` keeps the rest of the data set's training rows, labelled, as
``pool.npz``: rows the owner's model never saw. Each independent is trained on a random
share of those rows, with its own seed, cycling through model families (the owner's own
first), and saved as a model directory under ``OWNER_DIR/zoo/``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from modelsteal.catalog import MODEL_FAMILIES
from modelsteal.datasets.base import Dataset
from modelsteal.errors import InvalidInput
from modelsteal.oracle import LocalTransport, Oracle
from modelsteal.ownership.base import Evidence, OwnershipMethod
from modelsteal.ownership.null import NullDistribution
from modelsteal.random import RandomState, check_random_state, derive_seed
from modelsteal.victims.model_dir import ModelDir, load_model_dir, load_pool, read_card, save_model_dir
from modelsteal.victims.training import train_victim

#: an independent trains on this share of the owner's held-out rows (a different share each)
ROW_SHARE = 0.8
ZOO = "zoo"


def default_families(owner_family: str, image: bool) -> tuple[str, ...]:
    """The owner's family, then others of its kind (images: CNNs and perceptrons; tables: more)."""
    others = ("cnn", "mlp") if image else ("mlp", "softmax", "svm-rbf")
    first = owner_family if owner_family in MODEL_FAMILIES else others[0]
    return (first, *[f for f in others if f != first])


def owner_split(owner: ModelDir) -> Dataset:
    """The owner's held-out training rows as a data set (its eval rows as the test split)."""
    pool = load_pool(owner.path)
    X, y, _ = pool if pool is not None else (None, None, "")
    if X is None or y is None:
        raise InvalidInput(
            f"{owner.path} keeps no labelled rows apart from its training set, which independent models need: "
            "train the owner with --victim-rows N (the rest of the data set is kept as its pool)"
        )
    card = owner.card
    return Dataset(
        name=str(card.get("dataset", "owner")),
        X_train=X,
        y_train=y,
        X_test=owner.X_eval,
        y_test=owner.y_eval,
        feature_space=owner.feature_space,
        class_names=tuple(str(c) for c in card["classes"]),
    )


def build_zoo(
    owner_dir: str | Path,
    *,
    size: int = 20,
    families: Sequence[str] | None = None,
    out: str | Path | None = None,
    random_state: RandomState = 0,
    on_built: Callable[[str], None] | None = None,
) -> list[Path]:
    """Train ``size`` independent models on the owner's held-out rows; returns their directories."""
    if not isinstance(size, int) or size < 1:
        raise InvalidInput("`size` must be a whole number >= 1")
    owner = load_model_dir(owner_dir)
    data = owner_split(owner)
    image = owner.feature_space.image_shape is not None
    chosen = tuple(families) if families else default_families(str(owner.card["family"]), image)
    for family in chosen:
        if family not in MODEL_FAMILIES:
            raise InvalidInput(f"unknown family {family!r}; choose from {', '.join(MODEL_FAMILIES)}")
    where = Path(out) if out is not None else Path(owner_dir) / ZOO
    rng = check_random_state(random_state)
    n = data.X_train.shape[0]
    written = []
    for i in range(size):
        family = chosen[i % len(chosen)]
        seed = derive_seed(rng)
        rows = np.random.default_rng(seed).permutation(n)[: max(2, int(ROW_SHARE * n))]
        subset = Dataset(
            name=data.name,
            X_train=data.X_train[rows],
            y_train=data.y_train[rows],
            X_test=data.X_test,
            y_test=data.y_test,
            feature_space=data.feature_space,
            class_names=data.class_names,
        )
        victim = train_victim(subset, family, seed=seed)
        victim.details["independent_of"] = str(owner.card.get("name"))
        path = save_model_dir(victim, subset, where / f"independent-{i:03d}-{family}", seed=seed)
        written.append(path)
        if on_built is not None:
            on_built(path.name)
    return written


def load_zoo(where: str | Path, owner: ModelDir | None = None) -> list[tuple[str, Any]]:
    """The independent models saved under ``where`` (name, victim), in name order; with
    ``owner``, each must take the owner's inputs and answer its classes."""
    from modelsteal.ownership.suspects import check_like_owner

    where = Path(where)
    if not where.is_dir():
        raise InvalidInput(f"no zoo at {where}: build one with modelsteal zoo OWNER_DIR --size N")
    out = []
    for path in sorted(p for p in where.iterdir() if (p / "card.json").is_file()):
        read_card(path)
        md = load_model_dir(path)
        if owner is not None:
            check_like_owner(owner, md, f"independent model {path}")
        out.append((path.name, md.victim))
    return out


def null_distribution(
    method: OwnershipMethod, evidence: Evidence, independents: Sequence[tuple[str, Any]]
) -> NullDistribution:
    """``method``'s statistic on each independent model, answered as a label or probability API."""
    answered = [method.ask(evidence, Oracle(LocalTransport(victim))) for _, victim in independents]
    method.calibrate(evidence, answered)
    stats = [float(method.score(evidence, answers)) for answers in answered]
    labels = [answers.labels for answers in answered]
    names = tuple(name for name, _ in independents)
    return NullDistribution(
        np.asarray(stats), names, method.tail, tuple(labels), logit_trials=method.share_of(evidence)
    )
