"""A transport to a prediction API given by its address, in our protocol or another server's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from modelsteal.errors import InvalidInput
from modelsteal.oracle.http import HTTPTransport, ProtocolTransport
from modelsteal.oracle.protocols import PROTOCOLS, make_protocol
from modelsteal.victims.importing import load_classes, load_feature_space
from modelsteal.victims.model_dir import load_model_dir


def open_transport(
    url: str,
    api_key: str | None,
    *,
    protocol: str = "modelsteal",
    template: str | Path | None = None,
    feature_space: str | Path | None = None,
    eval_dir: str | Path | None = None,
) -> Any:
    """A transport to ``url`` in ``protocol``.

    Our API describes itself. Another server publishes no feature space or classes: they
    come from ``feature_space`` (a YAML/JSON file, with a ``classes`` list), else from the
    ``eval_dir`` model directory; a template may list the classes too.
    """
    if protocol not in PROTOCOLS:
        raise InvalidInput(f"unknown protocol {protocol!r}; choose one of {', '.join(PROTOCOLS)}")
    if protocol == "modelsteal":
        if template is not None or feature_space is not None:
            raise InvalidInput(
                "`template` and `feature_space` describe another server's API; ours describes itself"
            )
        if not api_key:
            raise InvalidInput("an http:// target needs `api_key` KEY (or $MODELSTEAL_API_KEY)")
        return HTTPTransport(url, api_key)
    wire = make_protocol(protocol, template=template)
    space = None
    classes = getattr(wire, "classes", None)
    if feature_space is not None:
        space = load_feature_space(feature_space)
        classes = load_classes(feature_space) or classes
    if eval_dir is not None and (space is None or classes is None):
        judge = load_model_dir(eval_dir)
        space = space or judge.feature_space
        classes = classes or tuple(str(c) for c in judge.card["classes"])
    if space is None:
        raise InvalidInput(
            f"a {protocol} server does not publish its inputs: pass `feature_space` FILE (with a classes list), "
            "or `eval_dir` DIR"
        )
    if classes is None:
        raise InvalidInput(
            f"add the API's class names to {feature_space} as 'classes: [...]', or pass `eval_dir` DIR"
        )
    return ProtocolTransport(url, wire, feature_space=space, classes=tuple(classes), api_key=api_key)
