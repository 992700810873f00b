"""Bring your own model: an ONNX file or a scikit-learn estimator saved with skops.

``import_model`` writes a model directory, so an imported model works everywhere a
trained one does (``attack``, ``serve``, ``audit``). What modelsteal needs beside the
model comes from a labelled sample (``--csv FILE --target COL``): the evaluation split
that judges stolen copies, the classes, and — unless a feature-space file is given — the
feature space (numeric columns bounded by the sample's range, text columns one-hot with
the sample's levels, exactly as ``train --csv`` encodes them).

A skops file is opened with an allow-list: scikit-learn's own types and the few more our
victims hold; any other type is refused and named, and nothing is unpickled.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from modelsteal.datasets import Dataset, load_csv
from modelsteal.errors import InvalidInput, ModelDirError
from modelsteal.feature_space import FeatureSpace
from modelsteal.victims.model_dir import (
    TRUSTED_SKOPS_TYPES,
    check_writable,
    save_model_dir,
    save_onnx_model_dir,
)
from modelsteal.yaml_files import read_yaml


def load_feature_space(path: str | Path) -> FeatureSpace:
    """A feature space from YAML or JSON: ``names``, ``lower``, ``upper`` and optionally
    ``categorical`` (``[{name, levels, columns}]``) and ``image_shape``; or the shorthand
    ``{features: [{name, lower, upper} | {name, levels: [...]}]}``."""
    path = Path(path)
    data = read_yaml(path, "feature-space file")
    if not isinstance(data, dict):
        raise InvalidInput(f"{path} must hold a mapping (names, lower, upper) or {{features: [...]}}")
    if "features" in data:
        return _from_features(data["features"], path, data.get("image_shape"))
    return FeatureSpace.from_dict(data)


def load_classes(path: str | Path) -> tuple[str, ...] | None:
    """The ``classes`` list of a feature-space file, if it has one (an API's class names)."""
    data = read_yaml(path, "feature-space file")
    classes = data.get("classes") if isinstance(data, dict) else None
    if classes is None:
        return None
    if not isinstance(classes, list) or len(classes) < 2:
        raise InvalidInput(f"{path}: 'classes' must list two or more class names")
    return tuple(str(c) for c in classes)


def _from_features(features: Any, path: Path, image_shape: Any) -> FeatureSpace:
    from modelsteal.feature_space import CategoricalGroup

    if not isinstance(features, list) or not features:
        raise InvalidInput(f"{path}: 'features' must be a non-empty list")
    names: list[str] = []
    lower: list[float] = []
    upper: list[float] = []
    groups = []
    for spec in features:
        if not isinstance(spec, dict) or "name" not in spec:
            raise InvalidInput(f"{path}: each feature needs a name, and lower/upper or levels")
        if "levels" in spec:
            levels = tuple(str(level) for level in spec["levels"])
            start = len(names)
            names += [f"{spec['name']}={level}" for level in levels]
            lower += [0.0] * len(levels)
            upper += [1.0] * len(levels)
            groups.append(
                CategoricalGroup(str(spec["name"]), levels, tuple(range(start, start + len(levels))))
            )
        else:
            try:
                names.append(str(spec["name"]))
                lower.append(float(spec["lower"]))
                upper.append(float(spec["upper"]))
            except (KeyError, TypeError, ValueError):
                raise InvalidInput(
                    f"{path}: feature {spec.get('name')!r} needs numeric lower and upper"
                ) from None
    shape = tuple(int(s) for s in image_shape) if image_shape else None
    return FeatureSpace(tuple(names), np.asarray(lower), np.asarray(upper), tuple(groups), shape)


def _sample(csv: str | Path, target: str, space: FeatureSpace | None) -> tuple[Dataset, FeatureSpace]:
    data = load_csv(csv, target)
    if space is None:
        return data, data.feature_space
    if space.n_features != data.n_features:
        raise InvalidInput(
            f"the feature-space file describes {space.n_features} features, but {csv} encodes to "
            f"{data.n_features} ({', '.join(data.feature_space.names[:6])} ...); make them agree"
        )
    return data, space


def import_model(
    model: str | Path,
    out: str | Path,
    *,
    csv: str | Path,
    target: str,
    feature_space: str | Path | None = None,
    outputs: str = "probabilities",
    name: str | None = None,
    overwrite: bool = False,
) -> Path:
    """Write ``model`` (``.onnx`` or ``.skops``) as a model directory judged on ``csv``."""
    model = Path(model)
    if not model.is_file():
        raise InvalidInput(f"{model} is not a file; pass an .onnx file or a .skops file")
    check_writable(out, overwrite=overwrite)
    space = load_feature_space(feature_space) if feature_space is not None else None
    data, space = _sample(csv, target, space)
    X = np.vstack([data.X_train, data.X_test])
    y = np.concatenate([data.y_train, data.y_test])
    details = {"imported_from": model.name, "sample": str(csv)}
    if model.suffix == ".onnx":
        return save_onnx_model_dir(
            model.read_bytes(),
            out,
            feature_space=space,
            classes=list(data.class_names),
            X_eval=X,
            y_eval=y,
            name=name,
            details=details,
            dataset=data.name,
            outputs=outputs,
            overwrite=overwrite,
        )
    if model.suffix == ".skops":
        return _import_skops(model, out, data, space, X, y, details, name, overwrite)
    raise InvalidInput(
        f"{model}: modelsteal imports .onnx files and scikit-learn models saved with skops (.skops)"
    )


def _import_skops(
    model: Path,
    out: str | Path,
    data: Dataset,
    space: FeatureSpace,
    X: np.ndarray,
    y: np.ndarray,
    details: dict[str, Any],
    name: str | None,
    overwrite: bool,
) -> Path:
    from dataclasses import replace

    import skops.io as sio

    from modelsteal.victims.base import SklearnVictim
    from modelsteal.victims.tree import TreeVictim

    try:
        untrusted = set(sio.get_untrusted_types(file=model))
    except Exception as exc:  # skops raises several types for files it cannot read
        raise InvalidInput(f"{model} is not a skops file: {exc}") from None
    unknown = sorted(untrusted - TRUSTED_SKOPS_TYPES)
    if unknown:
        raise ModelDirError(
            f"{model} holds types modelsteal does not load: {', '.join(unknown)}; save a plain scikit-learn "
            "estimator or pipeline, or export it to ONNX"
        )
    estimator = sio.load(model, trusted=sorted(untrusted))
    if not (hasattr(estimator, "predict_proba") and hasattr(estimator, "classes_")):
        raise ModelDirError(f"{model} does not hold a fitted classifier with predict_proba")
    classes = tuple(str(c) for c in estimator.classes_)
    if classes != tuple(data.class_names):
        raise InvalidInput(
            f"{model} predicts classes {', '.join(classes[:6])}, but {target_of(data)} in the sample holds "
            f"{', '.join(data.class_names[:6])}; pass a sample labelled like the model"
        )
    width = getattr(estimator, "n_features_in_", space.n_features)
    if width != space.n_features:
        raise InvalidInput(
            f"{model} takes {width} features, but the feature space has {space.n_features}; "
            "pass --feature-space FILE describing its inputs"
        )
    family, extra = family_of(estimator, len(classes))
    details = {**details, **extra}
    victim: Any
    if family == "tree":
        victim = TreeVictim(estimator, space, family=family, details=details)
    else:
        victim = SklearnVictim(estimator, space, family=family, details=details)
    sample = replace(data, feature_space=space)
    accuracy = float(np.mean(victim.predict(X) == y))
    evaluation = replace(sample, X_test=X, y_test=y)
    return save_model_dir(
        victim, evaluation, out, seed=0, name=name, test_accuracy=accuracy, overwrite=overwrite
    )


def target_of(data: Dataset) -> str:
    return str(data.info.get("target", "the target"))


def family_of(estimator: Any, n_classes: int) -> tuple[str, dict[str, Any]]:
    """The family an attack reads from the card, as MLaaS platforms publish it."""
    final = estimator[-1] if hasattr(estimator, "steps") else estimator
    kind = type(final).__name__
    if kind == "LogisticRegression":
        return ("logreg" if n_classes == 2 else "softmax"), {}
    if kind == "OneVsRestClassifier" and type(final.estimator).__name__ == "LogisticRegression":
        return "ovr", {}
    if kind == "MLPClassifier":
        return "mlp", {"hidden_layer_sizes": list(final.hidden_layer_sizes), "activation": final.activation}
    if kind == "DecisionTreeClassifier":
        return "tree", {}
    return kind, {}


def describe(path: str | Path) -> str:
    card = json.loads((Path(path) / "card.json").read_text())
    return f"{card['family']} ({card['backend']}), {len(card['classes'])} classes, {card['n_eval']} rows to judge copies"
