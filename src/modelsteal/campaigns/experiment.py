"""Steal a model from a model directory: the path shared by the CLI, the demo and benches."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from modelsteal.attacks.base import ExtractionResult
from modelsteal.attacks.registry import make_attack
from modelsteal.datasets import dataset_names, load_dataset
from modelsteal.datasets.csv_import import read_csv_frame
from modelsteal.datasets.thief import ThiefPool, make_pool, patches_pool, split_for_theft, uniform_pool
from modelsteal.errors import InvalidInput
from modelsteal.feature_space import FeatureSpace
from modelsteal.metrics.fidelity import DEFAULT_N_UNIFORM, EvalSet
from modelsteal.oracle import LocalTransport, ModelInfo, Oracle, OutputMode
from modelsteal.oracle.connect import open_transport
from modelsteal.victims.model_dir import ModelDir, load_model_dir, load_pool


def eval_set_for(model_dir: ModelDir, *, n_uniform: int = DEFAULT_N_UNIFORM, seed: int = 0) -> EvalSet:
    """The directory's evaluation split plus ``n_uniform`` uniform points, with the victim's answers."""
    return EvalSet.build(
        model_dir.victim,
        model_dir.X_eval,
        model_dir.y_eval,
        model_dir.feature_space,
        n_uniform=n_uniform,
        random_state=seed,
    )


def local_oracle(
    model_dir: ModelDir,
    *,
    output_mode: OutputMode | None = None,
    price: float = 0.0,
    hooks: dict[str, Any] | None = None,
) -> Oracle:
    transport = LocalTransport(
        model_dir.victim,
        output_mode=output_mode,
        price_per_query=price,
        name=str(model_dir.card.get("name", model_dir.path.name)),
        class_names=tuple(model_dir.card["classes"]),
    )
    return Oracle(transport, **(hooks or {}))


def thief_pool(
    kind: str,
    space: FeatureSpace,
    *,
    card: dict[str, Any] | None = None,
    model_dir: str | Path | None = None,
    csv: str | Path | None = None,
    n: int = 2000,
    seed: int = 0,
) -> ThiefPool:
    """The attacker's pool for a learning attack.

    ``csv``: the attacker's own rows: a CSV file with the model's original columns (text
    values are one-hot encoded with the levels the API publishes; the victim's target
    column, if present, is ignored), or with the published one-hot columns themselves.
    ``in-distribution``: the training rows the victim never saw when it was trained with
    ``modelsteal train --victim-rows N`` (kept in the model directory); otherwise the
    victim's own training split (the attacker then holds the owner's data, which the
    pool's description says).
    """
    if csv is not None:
        return csv_pool(csv, space, target=((card or {}).get("dataset_info") or {}).get("target"))
    if kind in ("patches", "uniform"):
        if kind == "patches":
            return patches_pool(space, n, random_state=seed)
        return uniform_pool(space, n, random_state=seed)
    if kind == "in-distribution" and model_dir is not None:
        held_out = load_pool(model_dir)
        if held_out is not None:
            return ThiefPool("in-distribution", *held_out)
    dataset = (card or {}).get("dataset")
    if dataset not in dataset_names():
        raise InvalidInput(
            f"--pool {kind} needs rows like the victim's: train it with --victim-rows N (the rest is kept "
            "as the pool), or pass --pool-csv FILE, --pool patches or --pool uniform"
        )
    data = load_dataset(str(dataset))
    if kind == "in-distribution":
        rows = ((card or {}).get("details") or {}).get("victim_rows")
        if rows is None:
            return ThiefPool(
                "in-distribution",
                data.X_train,
                data.y_train,
                f"the victim's own {data.X_train.shape[0]} training rows (train with --victim-rows to hold some out)",
            )
        return split_for_theft(data, victim_rows=int(rows), random_state=0)[1]
    return make_pool(kind, data, n=n, random_state=seed)


def csv_rows(
    path: str | Path, space: FeatureSpace, *, keep: str | None = None
) -> tuple[NDArray[np.float64], Any]:
    """Complete rows of a CSV encoded in ``space`` (original columns, or the one-hot ones),
    and the kept frame (with the ``keep`` column too, when the CSV has it)."""
    frame = read_csv_frame(path)
    extra = [keep] if keep is not None and keep in frame.columns else []
    if all(name in frame.columns for name in space.names):
        frame = frame[[*space.names, *extra]].dropna()
        try:
            X = frame[list(space.names)].to_numpy(dtype=np.float64)
        except ValueError:
            raise InvalidInput(f"{path}: the published feature columns must hold numbers") from None
    else:
        raw = [name for name, _ in space.raw_fields()]
        missing = [c for c in raw if c not in frame.columns]
        if missing:
            raise InvalidInput(
                f"{path} lacks the model's columns {', '.join(missing[:5])}; its columns are "
                f"{', '.join(map(str, frame.columns[:8]))}"
            )
        frame = frame[[*raw, *extra]].dropna()
        X = space.encode_records(frame[raw].to_dict("records"), what=f"{Path(path).name} row")
    if X.shape[0] == 0:
        raise InvalidInput(f"{path} has no complete row")
    return X, frame


def csv_pool(path: str | Path, space: FeatureSpace, *, target: str | None = None) -> ThiefPool:
    """A pool from the attacker's CSV: original columns (encoded here) or the one-hot columns."""
    X, frame = csv_rows(path, space, keep=target)
    X = space.clip(X)  # rows beyond the published bounds would be refused by the API
    ignored = f", its {target!r} column ignored" if target and target in frame.columns else ""
    return ThiefPool("csv", space.validate(X), None, f"{X.shape[0]} rows of {path}{ignored}")


def labelled_csv(
    path: str | Path, space: FeatureSpace, target: str | None, classes: tuple[str, ...]
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Rows and class indices of a labelled CSV (the victim's training data, say).

    ``target`` names the label column; without it, the one column that is not a feature.
    """
    if target is None:
        columns = [str(c) for c in read_csv_frame(path).columns]
        features = set(space.names) | {name for name, _ in space.raw_fields()}
        others = [c for c in columns if c not in features]
        if len(others) != 1:
            raise InvalidInput(
                f"cannot tell the label column of {path} ({', '.join(others[:5]) or 'none besides the features'}); "
                "pass --train-target COLUMN"
            )
        target = others[0]
    X, frame = csv_rows(path, space, keep=target)
    if target not in frame.columns:
        raise InvalidInput(f"{path} has no column {target!r}; pass --train-target COLUMN")
    from modelsteal.oracle.protocols import class_index

    lookup = {name: i for i, name in enumerate(classes)}
    labels = []
    for value in frame[target].tolist():
        index = class_index(value, lookup)
        if index is None:
            raise InvalidInput(
                f"{path}: label {value!r} is none of the model's classes ({', '.join(classes[:8])})"
            )
        labels.append(index)
    return X, np.asarray(labels, dtype=np.int64)


def steal_model_dir(
    path: str | Path,
    attack: str,
    *,
    budget: int,
    seed: int = 0,
    options: dict[str, Any] | None = None,
    output_mode: OutputMode | None = None,
    n_uniform: int = DEFAULT_N_UNIFORM,
    pool: str | None = None,
    pool_csv: str | Path | None = None,
    hooks: dict[str, Any] | None = None,
) -> ExtractionResult:
    """Train nothing, load ``path``, run ``attack`` against it in memory and judge the copy.

    ``pool``/``pool_csv`` give a learning attack its data (see :func:`thief_pool`).
    """
    model_dir = load_model_dir(path)
    options = dict(options or {})
    if pool is not None or pool_csv is not None:
        options["pool"] = thief_pool(
            pool or "csv",
            model_dir.feature_space,
            card=model_dir.card,
            model_dir=model_dir.path,
            csv=pool_csv,
            seed=seed,
        )
    attacker = make_attack(attack, **options)
    oracle = local_oracle(model_dir, output_mode=output_mode, hooks=hooks)
    return attacker.run(
        oracle,
        budget=budget,
        random_state=seed,
        eval_set=eval_set_for(model_dir, n_uniform=n_uniform, seed=seed),
    )


def steal_url(
    url: str,
    api_key: str | None,
    attack: str,
    *,
    budget: int,
    seed: int = 0,
    options: dict[str, Any] | None = None,
    eval_dir: str | Path | None = None,
    n_uniform: int = DEFAULT_N_UNIFORM,
    wait: bool = False,
    max_wait: float = 3600.0,
    pool: str | None = None,
    pool_csv: str | Path | None = None,
    hooks: dict[str, Any] | None = None,
    protocol: str = "modelsteal",
    template: str | Path | None = None,
    feature_space: str | Path | None = None,
) -> tuple[ExtractionResult, str, str | None]:
    """Run ``attack`` over HTTP against ``url``; judge it on ``eval_dir`` when given.

    Everything that can be checked is checked before the first query is sent (and
    charged): the attack's options, the pool, and that ``eval_dir`` holds a model with
    the API's features and classes. ``hooks``: ``on_sent``/``on_wait`` for the oracle.
    ``protocol``: ours, or another server's (see :func:`open_transport`).
    """
    transport = open_transport(
        url, api_key, protocol=protocol, template=template, feature_space=feature_space, eval_dir=eval_dir
    )
    try:
        oracle = Oracle(transport, wait_on_rate_limit=wait, max_wait=max_wait, **(hooks or {}))
        info = oracle.info
        eval_set = None
        card = None
        judge = None
        if eval_dir is not None:
            judge = load_model_dir(eval_dir)
            check_same_model(info, judge)
            card = judge.card
        options = dict(options or {})
        if pool is not None or pool_csv is not None:
            options["pool"] = thief_pool(
                pool or "csv",
                info.feature_space,
                card=card,
                model_dir=judge.path if judge is not None else None,
                csv=pool_csv,
                seed=seed,
            )
        attacker = make_attack(attack, **options)
        if judge is not None:
            eval_set = eval_set_for(judge, n_uniform=n_uniform, seed=seed)
        result = attacker.run(oracle, budget=budget, random_state=seed, eval_set=eval_set)
    finally:
        transport.close()
    return result, info.name, info.family


def describe_target(
    target: str,
    *,
    api_key: str | None = None,
    protocol: str = "modelsteal",
    feature_space: str | Path | None = None,
    eval_dir: str | Path | None = None,
) -> tuple[FeatureSpace, tuple[str, ...]]:
    """The feature space and class names of an attack's target (a model directory or a URL);
    asking an API for them spends no query."""
    if not target.startswith(("http://", "https://")):
        md = load_model_dir(target)
        return md.feature_space, tuple(str(c) for c in md.card["classes"])
    transport = open_transport(
        target, api_key, protocol=protocol, feature_space=feature_space, eval_dir=eval_dir
    )
    try:
        info = transport.describe()
    finally:
        transport.close()
    return info.feature_space, tuple(info.classes)


def check_same_model(info: ModelInfo, judge: ModelDir) -> None:
    """``--eval DIR`` must hold a model with the API's features and classes, or nothing is judged."""
    space = judge.feature_space
    theirs = info.feature_space
    if space.n_features != theirs.n_features or space.names != theirs.names:
        raise InvalidInput(
            f"--eval {judge.path} takes {space.n_features} features, but {info.name} at the API takes "
            f"{theirs.n_features}{' with other names' if space.n_features == theirs.n_features else ''}; "
            "pass the model directory of the model the API serves"
        )
    classes = tuple(str(c) for c in judge.card["classes"])
    if classes != tuple(info.classes):
        raise InvalidInput(
            f"--eval {judge.path} has classes {', '.join(classes[:6])}, but the API answers "
            f"{', '.join(info.classes[:6])}; pass the model directory of the model the API serves"
        )
