"""White-box access to a suspect: its log-probabilities as a differentiable function.

An owner who holds the suspect itself (a seized model directory or ONNX file, not an API)
may run it as often as it likes and read its gradients. MinGD (``dataset_inference.py``)
needs them. A PyTorch network (our victims, and copies made by modelsteal's attacks) is
differentiated by autograd. Any other local model with ``predict_proba`` (ONNX, scikit-learn)
gets forward finite differences, one evaluation per feature and step: exact enough for
smooth models, costly for wide inputs, and zero for models that are flat almost everywhere
(trees), whose distances then read as "never left".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from modelsteal.errors import InvalidInput
from modelsteal.oracle import LocalTransport, Oracle

if TYPE_CHECKING:
    import torch

#: the function MinGD descends: rows (n, d) and targets (n,) → (log p(target), gradient, predicted labels)
#: most numbers a finite-difference batch holds at once (rows × features × features)
FD_ELEMENTS = 4_000_000
TargetGradient = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]]


def torch_module(model: Any) -> torch.nn.Module | None:
    """The PyTorch network behind a victim or a copy, when there is one (torch is imported
    only when the model may hold one: the light commands never load it)."""
    import sys

    if "torch" not in sys.modules:  # no network was ever built in this process
        return None
    import torch

    for candidate in (model, getattr(model, "estimator", None)):
        if candidate is None:
            continue
        for attribute in ("module", "module_"):  # an empty Sequential is falsy: test, not ``or``
            module = getattr(candidate, attribute, None)
            if isinstance(module, torch.nn.Module):
                return module
    return None


def predicted_labels(model: Any, X: np.ndarray) -> np.ndarray:
    """The model's labels (class indices) on rows ``X``, without gradients."""
    module = torch_module(model)
    if module is not None:
        import torch

        dtype = next(module.parameters()).dtype
        with torch.no_grad():
            return np.asarray(module.eval()(torch.as_tensor(X, dtype=dtype)).argmax(dim=1).numpy())
    return np.asarray(np.argmax(model.predict_proba(X), axis=1))


def local_model(oracle: Oracle, method: str) -> Any:
    """The model an oracle answers from, when it runs in this process; otherwise the fix."""
    transport = oracle.transport
    if not isinstance(transport, LocalTransport):
        raise InvalidInput(
            f"{method} reads the suspect's gradients and an API serves none: pass the suspect's model "
            "directory or ONNX file, or use dataset-inference (labels only) against an API"
        )
    return transport.victim


def target_gradient(model: Any, *, fd_step: float = 1e-3) -> TargetGradient:
    """log p(target | x), its gradient in x, and the predicted labels, for a batch of rows."""
    module = torch_module(model)
    if module is not None:
        import torch

        dtype = next(module.parameters()).dtype
        net = module.eval()

        def autograd(X: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            x = torch.as_tensor(X, dtype=dtype).requires_grad_(True)
            log_p = torch.log_softmax(net(x), dim=1)
            chosen = log_p[torch.arange(t.size), torch.as_tensor(t)]
            (grad,) = torch.autograd.grad(chosen.sum(), x)
            labels = log_p.argmax(dim=1)
            return chosen.detach().double().numpy(), grad.double().numpy(), labels.numpy()

        return autograd
    if not hasattr(model, "predict_proba"):
        raise InvalidInput(f"{type(model).__name__} gives no probabilities to differentiate")
    space = model.feature_space
    lower = np.asarray(space.lower, dtype=np.float64)
    upper = np.asarray(space.upper, dtype=np.float64)
    h = fd_step * np.where(upper > lower, upper - lower, 1.0)

    def finite(X: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        chunk = max(1, FD_ELEMENTS // (X.shape[1] * X.shape[1]))
        parts = [finite_chunk(X[i : i + chunk], t[i : i + chunk]) for i in range(0, X.shape[0], chunk)]
        return (
            np.concatenate([p[0] for p in parts]),
            np.concatenate([p[1] for p in parts]),
            np.concatenate([p[2] for p in parts]),
        )

    def finite_chunk(X: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        # forward differences, one evaluation per feature; backward where the box's face is near
        n, d = X.shape
        rows = np.arange(n)
        proba = model.predict_proba(X)
        signed = np.where(X + h > upper, -h, h)  # (n, d)
        moved = X[:, None, :] + np.eye(d)[None] * signed[:, None, :]  # (n, d, d): row i, feature j moved
        around = model.predict_proba(moved.reshape(-1, d)).reshape(n, d, -1)[rows, :, t]  # (n, d)
        log_p = np.log(np.maximum(proba[rows, t], 1e-300))
        grad = (np.log(np.maximum(around, 1e-300)) - log_p[:, None]) / signed
        return log_p, grad, np.argmax(proba, axis=1)

    return finite
