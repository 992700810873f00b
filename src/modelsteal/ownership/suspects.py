"""A suspect is anything modelsteal can query: a model directory, an ONNX file, an HTTP API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from modelsteal.errors import InvalidInput
from modelsteal.oracle import LocalTransport, Oracle
from modelsteal.victims.model_dir import ModelDir, load_model_dir, read_card


def _check(owner: ModelDir, n_features: int, classes: tuple[str, ...], what: str) -> None:
    ours = tuple(str(c) for c in owner.card["classes"])
    if n_features != owner.feature_space.n_features:
        raise InvalidInput(
            f"{what} takes {n_features} features and the owner's model {owner.feature_space.n_features}: "
            "a copy answers the owner's inputs; pass a suspect made for this task"
        )
    if classes != ours:
        raise InvalidInput(
            f"{what} answers classes {', '.join(classes[:6])} and the owner's model {', '.join(ours[:6])}: "
            "a copy answers the owner's classes; pass a suspect made for this task"
        )


def check_like_owner(owner: ModelDir, other: ModelDir, what: str) -> None:
    """``other`` takes the owner's inputs and answers its classes, or the error names the fix."""
    _check(owner, other.feature_space.n_features, tuple(str(c) for c in other.card["classes"]), what)


def open_suspect(
    target: str,
    owner: ModelDir,
    *,
    api_key: str | None = None,
    protocol: str = "modelsteal",
    template: str | Path | None = None,
    feature_space: str | Path | None = None,
) -> Oracle:
    """An oracle onto ``target``, checked to take the owner's inputs and answer its classes."""
    classes = tuple(str(c) for c in owner.card["classes"])
    if target.startswith(("http://", "https://")):
        from modelsteal.oracle.connect import open_transport

        transport: Any = open_transport(
            target,
            api_key,
            protocol=protocol,
            template=template,
            feature_space=feature_space,
            eval_dir=owner.path,
        )
        info = transport.describe()
        _check(owner, info.feature_space.n_features, tuple(info.classes), target)
        return Oracle(transport, max_batch=100)
    path = Path(target)
    if path.suffix == ".onnx":
        if not path.is_file():
            raise InvalidInput(f"no ONNX file at {path}")
        from modelsteal.victims.onnx_victim import OnnxVictim

        victim: Any = OnnxVictim(path, owner.feature_space, np.arange(len(classes)), family="suspect")
        try:
            proba = victim.predict_proba(owner.X_eval[:1])
        except Exception as exc:  # onnxruntime's own errors for a graph of another shape
            raise InvalidInput(
                f"{path} does not take the owner's {owner.feature_space.n_features} features: {exc}"
            ) from None
        if proba.shape[1] != len(classes):
            raise InvalidInput(
                f"{path} answers {proba.shape[1]} classes and the owner's model {len(classes)}"
            )
        return Oracle(LocalTransport(victim, class_names=classes))
    if not path.is_dir():
        raise InvalidInput(f"no suspect at {target}: pass a model directory, a .onnx file or an http:// URL")
    read_card(path)  # a directory without a card is refused with the fix
    md = load_model_dir(path)
    check_like_owner(owner, md, str(path))
    return Oracle(LocalTransport(md.victim, class_names=classes))
