"""Prediction poisoning: answers perturbed to turn a thief's training gradient away from the truth.

:class:`PredictionPoisoning` is MAD, Orekondy, Schiele, Fritz, "Prediction Poisoning:
Towards Defenses Against DNN Model Stealing Attacks" (ICLR 2020). A thief who trains a
copy ``F(x; w)`` on the answer ``ỹ`` moves its weights along ``a(ỹ) = Gᵀỹ``, with ``G``
the Jacobian of ``log F(x; w)`` in ``w``. The defender answers the ``ỹ`` within L1
distance ``ε`` of the true ``y`` whose ``a(ỹ)`` points furthest (in angle) from ``a(y)``.
``F`` is a surrogate with the served model's architecture, randomly initialised, as the
paper does; the answer is a deterministic function of the input, so repeating a query
gains nothing.

Where we depart from the paper:

* the paper picks the simplex vertex ``e_k`` that maximises the angular deviation and then
  moves from ``y`` towards it as far as ``ε`` allows; we score every vertex *at the point
  the budget allows* and keep the best, which is never worse under the constraint;
* MAD-argmax caps the step so the top class cannot change (the paper adds a constraint to
  its search; capping the step along the same segments is the exact projection);
* the surrogate: a torch victim's own architecture; scikit-learn perceptrons become a torch
  perceptron with the same hidden layers; every other family (linear, trees, imported or
  remote models) a linear softmax on the box-scaled inputs;
* the Jacobian is computed in float64, one row at a time, so a batch answers exactly as
  its rows would one by one.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, jacrev

from modelsteal.defenses.transform_base import FloatArray, Transform, check_number, normalised
from modelsteal.errors import InvalidInput, ModelStealError


def surrogate_for(victim: Any, seed: int) -> nn.Module:
    """A randomly initialised network of ``victim``'s architecture (float64, eval mode)."""
    from modelsteal.victims.nets import TabularMLP, build_network

    space = victim.feature_space
    n_classes = len(victim.classes_)
    details = getattr(victim, "details", {}) or {}
    arch = details.get("architecture")
    lower = torch.tensor(space.lower, dtype=torch.float32)
    upper = torch.tensor(space.upper, dtype=torch.float32)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if isinstance(arch, dict) and arch.get("kind") in ("cnn", "mlp"):
            net = build_network(arch)
        else:
            hidden = tuple(int(h) for h in details.get("hidden_layer_sizes", ()) or ())
            net = TabularMLP(space.n_features, n_classes, lower, upper, hidden)
    return net.double().eval()


class LogLikelihoodGram:
    """``G Gᵀ`` per row, ``G`` the Jacobian of a network's log-probabilities in its weights."""

    def __init__(self, net: nn.Module) -> None:
        self.net = net
        self.params = {k: v.detach() for k, v in net.named_parameters()}
        self.buffers = {k: v.detach() for k, v in net.named_buffers()}

        def log_probs(params: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
            logits = functional_call(self.net, (params, self.buffers), (x.unsqueeze(0),))
            return torch.log_softmax(logits, dim=1)[0]

        self._jacobian = jacrev(log_probs)

    def __call__(self, X: FloatArray) -> FloatArray:
        out = []
        with torch.no_grad():
            for row in np.asarray(X, dtype=np.float64):
                jac = self._jacobian(self.params, torch.as_tensor(row))
                G = torch.cat([j.reshape(j.shape[0], -1) for j in jac.values()], dim=1)
                out.append((G @ G.T).numpy())
        return np.stack(out) if out else np.zeros((0, 0, 0))


def most_deviating(y: FloatArray, M: FloatArray, epsilon: float, *, keep_top1: bool) -> FloatArray:
    """The answer within L1 distance ``epsilon`` of ``y`` along a simplex edge whose gradient
    ``Gᵀỹ`` makes the widest angle with ``Gᵀy`` (``M = GGᵀ``)."""
    K = y.size
    yMy = float(y @ M @ y)
    if yMy <= 0.0 or epsilon == 0.0:
        return y.copy()
    gap = 1.0 - y
    alpha = np.where(gap > 0, np.minimum(1.0, epsilon / (2.0 * np.maximum(gap, 1e-300))), 0.0)
    if keep_top1:
        t = int(np.argmax(y))
        margin = y[t] - y
        cap = margin / (1.0 + margin) * (1.0 - 1e-9)
        cap[t] = 1.0
        alpha = np.minimum(alpha, cap)
    Z = y[None, :] + alpha[:, None] * (np.eye(K) - y[None, :])
    ZMz = np.einsum("ij,jk,ik->i", Z, M, Z)
    cos = (Z @ M @ y) / np.sqrt(np.maximum(ZMz, 1e-300) * yMy)
    cos[alpha <= 0.0] = np.inf
    k = int(np.argmin(cos))
    if not np.isfinite(cos[k]) or cos[k] >= 1.0:
        return y.copy()
    return np.asarray(np.clip(Z[k], 0.0, 1.0))


class PredictionPoisoning(Transform):
    """MAD (Orekondy et al. 2020): answers within L1 distance ``epsilon`` (0 to 2) chosen to
    turn the thief's gradient away; ``argmax: true`` keeps every top-1 label."""

    name = "mad"

    def __init__(self, *, epsilon: float, argmax: bool = False, seed: int = 0) -> None:
        self.epsilon = check_number("mad", "epsilon", epsilon, low=0.0, high=2.0)
        if not isinstance(argmax, bool):
            raise InvalidInput(f"mad: argmax must be true or false, not {argmax!r}")
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise InvalidInput(f"mad: seed must be a whole number, not {seed!r}")
        self.argmax = argmax
        self.seed = seed
        self.preserves_top1 = argmax
        self._gram: LogLikelihoodGram | None = None
        self._bound_to: Any = None

    def bind(self, victim: Any) -> PredictionPoisoning:
        if self._bound_to is victim:  # already bound to this model: its surrogate is built
            return self
        bound = PredictionPoisoning(epsilon=self.epsilon, argmax=self.argmax, seed=self.seed)
        bound._gram = LogLikelihoodGram(surrogate_for(victim, self.seed))
        bound._bound_to = victim
        return bound

    def apply(self, P: FloatArray, X: FloatArray, key: str) -> FloatArray:
        if self._gram is None:
            raise ModelStealError("mad needs the served model: bind(victim) before answering")
        P = np.asarray(P, dtype=np.float64)
        grams = self._gram(X)
        out = np.vstack(
            [most_deviating(P[i], grams[i], self.epsilon, keep_top1=self.argmax) for i in range(P.shape[0])]
        )
        return normalised(out) if out.size else out
