"""Write a stolen copy as an ONNX model that onnxruntime runs.

Every exported graph has one input ``X`` (double, ``[n, d]``: rows of the published
feature space) and two outputs: ``probabilities`` (double, ``[n, c]``, the copy's
``predict_proba``) and ``label`` (int64 class index). Each family is written the way that
keeps the copy's own arithmetic:

- linear copies (equation solving, Lowd–Meek, linear retraining) and MLP copies
  (equation solving, MLP retraining): the matrices themselves, in double precision;
- binned linear copies (``eq-binned``): one ``x_j > t`` comparison per stolen threshold,
  then each bin's weight as the first bin's plus the steps it has passed;
- trees (path finding): the tree as comparisons — every internal node's test is one column
  of ``X @ M <= t`` (a one-hot group's level set is a sum of its columns), and a leaf is
  reached when all the tests on its path agree, so the graph is exact, without ONNX's
  float32 tree operators; the rare overlapping-box fallback is written as box tests;
- networks (``StolenNet``: Knockoff, Copycat, Jacobian, active, semi-supervised): the
  PyTorch module through ``torch.onnx.export`` (float32 inside, as the copy computes);
- any other scikit-learn estimator or pipeline (an SVM retraining copy): skl2onnx, with
  the copy's one-hot answers when it has no probabilities.

``onnx_proba(path, X)`` runs a file with onnxruntime; the tests hold every family to
``max |Δp| <= 1e-5`` against the copy in memory.
"""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from modelsteal.errors import InvalidInput
from modelsteal.victims.onnx_victim import onnx_session

FloatArray = NDArray[np.float64]
OPSET = 17
INPUT, OUTPUT, LABEL = "X", "probabilities", "label"


# ---------------------------------------------------------------------- graph helpers
class _Graph:
    """A small builder over ``onnx.helper``: named constants and nodes, double by default."""

    def __init__(self, n_features: int) -> None:
        from onnx import TensorProto, helper

        self.helper = helper
        self.TP = TensorProto
        self.nodes: list[Any] = []
        self.inits: list[Any] = []
        self.count = 0
        self.n_features = n_features

    def name(self, stem: str) -> str:
        self.count += 1
        return f"{stem}_{self.count}"

    def const(self, value: Any, dtype: Any = np.float64) -> str:
        from onnx import numpy_helper

        name = self.name("c")
        self.inits.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def op(self, kind: str, *inputs: str, **attrs: Any) -> str:
        out = self.name(kind.lower())
        self.nodes.append(self.helper.make_node(kind, list(inputs), [out], **attrs))
        return out

    def finish(self, proba: str, n_classes: int) -> bytes:
        h, TP = self.helper, self.TP
        self.nodes.append(h.make_node("Identity", [proba], [OUTPUT]))
        self.nodes.append(h.make_node("ArgMax", [OUTPUT], [LABEL], axis=1, keepdims=0))
        graph = h.make_graph(
            self.nodes,
            "modelsteal_copy",
            [h.make_tensor_value_info(INPUT, TP.DOUBLE, ["n", self.n_features])],
            [
                h.make_tensor_value_info(OUTPUT, TP.DOUBLE, ["n", n_classes]),
                h.make_tensor_value_info(LABEL, TP.INT64, ["n"]),
            ],
            self.inits,
        )
        model = h.make_model(graph, opset_imports=[h.make_opsetid("", OPSET)], producer_name="modelsteal")
        model.ir_version = 8
        return bytes(model.SerializeToString())

    def affine(self, x: str, W: FloatArray, b: FloatArray) -> str:
        """x @ W + b."""
        return self.op("Add", self.op("MatMul", x, self.const(W)), self.const(b))

    def softmax(self, z: str) -> str:
        return self.op("Softmax", z, axis=1)


def _activation(g: _Graph, z: str, activation: str) -> str:
    kinds = {"relu": "Relu", "tanh": "Tanh", "logistic": "Sigmoid"}
    if activation not in kinds:
        raise InvalidInput(f"cannot export activation {activation!r}")
    return g.op(kinds[activation], z)


# ---------------------------------------------------------------------- families
def _linear(g: _Graph, x: str, model: Any) -> tuple[str, int]:
    coef, intercept = np.atleast_2d(model.coef_), np.atleast_1d(model.intercept_)
    z = g.affine(x, coef.T, intercept)
    kind = getattr(model, "kind", "multinomial")
    if kind == "binary" or coef.shape[0] == 1:
        p1 = g.op("Sigmoid", z)
        return g.op("Concat", g.op("Sub", g.const([[1.0]]), p1), p1, axis=1), 2
    if kind == "ovr":
        s = g.op("Sigmoid", z)
        return g.op("Div", s, g.op("ReduceSum", s, g.const([1], np.int64), keepdims=1)), coef.shape[0]
    return g.softmax(z), coef.shape[0]


def _mlp(g: _Graph, x: str, model: Any) -> tuple[str, int]:
    h = _activation(g, g.affine(x, model.W1_.T, model.b1_), model.activation)
    z = g.affine(h, model.W2_.T, model.b2_)
    if model.skip_ is not None:
        z = g.op("Add", z, g.op("MatMul", x, g.const(model.skip_.T)))
    return g.softmax(z), model.W2_.shape[0]


def _binned(g: _Graph, x: str, model: Any) -> tuple[str, int]:
    """A binned linear copy: for each threshold t of column j, G = (x_j > t); a bin's weight is
    the first bin's plus the steps G·(w[k+1] − w[k]), so the graph is one comparison and two
    matrix products, exact in double precision."""
    d = g.n_features
    W = np.atleast_2d(model.coef_)  # classes × encoded columns
    n_out = W.shape[0]
    pairs = [(j, float(t)) for j, ts in model.binned_.items() for t in ts]
    S = np.zeros((d, max(len(pairs), 1)))
    thresholds = np.full(max(len(pairs), 1), np.inf)
    steps = np.zeros((max(len(pairs), 1), n_out))
    base = np.asarray(model.intercept_, dtype=np.float64).copy()
    col = 0  # encoded column of the current feature's first bin
    k = 0
    for _, ts in model.binned_.items():
        base += W[:, col]
        for i in range(ts.size):
            steps[k] = W[:, col + i + 1] - W[:, col + i]
            k += 1
        col += ts.size + 1
    for m, (j, t) in enumerate(pairs):
        S[j, m] = 1.0
        thresholds[m] = t
    rest = [j for j in range(d) if j not in model.binned_]
    B = np.zeros((d, n_out))
    B[rest, :] = W[:, col : col + len(rest)].T
    past = g.op("Cast", g.op("Greater", g.op("MatMul", x, g.const(S)), g.const(thresholds)), to=g.TP.DOUBLE)
    z = g.op(
        "Add", g.op("Add", g.op("MatMul", past, g.const(steps)), g.op("MatMul", x, g.const(B))), g.const(base)
    )
    if model.kind == "binary":
        p1 = g.op("Sigmoid", z)
        return g.op("Concat", g.op("Sub", g.const([[1.0]]), p1), p1, axis=1), 2
    return g.softmax(z), n_out


def _scaled(g: _Graph, x: str, scaler: Any) -> str:
    """A MinMaxScaler (our bounds scaler): x * scale + min."""
    return g.op("Add", g.op("Mul", x, g.const(scaler.scale_)), g.const(scaler.min_))


def _one_hot_of_label(g: _Graph, label_index: str, n_classes: int) -> str:
    eye = g.const(np.eye(n_classes))
    return g.op("Gather", eye, label_index, axis=0)


def _tree(g: _Graph, x: str, tree: Any) -> tuple[str, int]:
    from modelsteal.stolen.tree import units_of

    units = units_of(tree.feature_space)
    d = g.n_features
    internal = np.flatnonzero(tree.left_ >= 0)
    leaves = np.flatnonzero(tree.left_ < 0)
    n_classes = tree.value_.shape[1]
    index = {int(node): j for j, node in enumerate(internal)}
    # every internal node's test: (X @ M)[:, j] <= t[j] means "go left"
    M = np.zeros((d, max(internal.size, 1)))
    t = np.zeros(max(internal.size, 1))
    for j, node in enumerate(internal):
        unit = units[int(tree.unit_[node])]
        if unit.categorical:
            for level in np.flatnonzero(tree.left_levels_[node, : unit.n_levels]):
                M[unit.columns[level], j] = -1.0  # a left level present: the sum is 1, so -1 <= -0.5
            t[j] = -0.5
        else:
            M[unit.columns[0], j] = 1.0
            t[j] = tree.threshold_[node]
    # each leaf's path: +1 where the path goes left, -1 where it goes right
    parent: dict[int, tuple[int, bool]] = {}
    for node in internal:
        parent[int(tree.left_[node])] = (int(node), True)
        parent[int(tree.right_[node])] = (int(node), False)
    P = np.zeros((max(internal.size, 1), leaves.size))
    rights = np.zeros(leaves.size)
    depth = np.zeros(leaves.size)
    for k, leaf in enumerate(leaves):
        at = int(leaf)
        while at in parent:
            up, went_left = parent[at]
            P[index[up], k] = 1.0 if went_left else -1.0
            rights[k] += 0.0 if went_left else 1.0
            depth[k] += 1.0
            at = up
    go_left = g.op("Cast", g.op("LessOrEqual", g.op("MatMul", x, g.const(M)), g.const(t)), to=g.TP.DOUBLE)
    # agreements on the path = sum(+1 * left) + sum(-1 * left) + rights; the leaf whose count is its depth
    agree = g.op("Add", g.op("MatMul", go_left, g.const(P)), g.const(rights))
    reached = g.op("Cast", g.op("Equal", agree, g.const(depth)), to=g.TP.DOUBLE)
    values = np.asarray(tree.value_[leaves], dtype=np.float64)
    proba = g.op("MatMul", reached, g.const(values))
    for node, order in getattr(tree, "_box_lists", {}).items():
        proba = _box_fallback(
            g, x, tree, units, reached, int(np.flatnonzero(leaves == node)[0]), order, proba
        )
    return proba, n_classes


def _box_fallback(
    g: _Graph, x: str, tree: Any, units: list[Any], reached: str, k: int, order: list[int], proba: str
) -> str:
    """Rows that reach leaf ``k`` take the first box of ``order`` holding them (as ``predict_proba``)."""
    at_leaf = g.op("Gather", reached, g.const([k], np.int64), axis=1)  # [n, 1]
    remaining = at_leaf
    base = tree.value_[np.flatnonzero(tree.left_ < 0)[k]]
    total = g.op("Sub", proba, g.op("Mul", at_leaf, g.const(base[None, :])))  # take the node's value out
    for m in order:
        box = tree.leaves_[m].box
        inside = _box_test(g, x, box, units)
        hit = g.op("Mul", remaining, inside)
        total = g.op("Add", total, g.op("Mul", hit, g.const(np.asarray(tree.leaves_[m].proba)[None, :])))
        remaining = g.op("Sub", remaining, hit)
    return g.op("Add", total, g.op("Mul", remaining, g.const(base[None, :])))


def _box_test(g: _Graph, x: str, box: Any, units: list[Any]) -> str:
    """1.0 where a row lies in ``box`` (the same tests as ``Box.contains_rows``), else 0.0; [n, 1]."""
    inside = None
    for u, unit in enumerate(units):
        tests = []
        if not unit.categorical:
            col = g.op("Gather", x, g.const([unit.columns[0]], np.int64), axis=1)
            if u in box.low:
                tests.append(g.op("Greater", col, g.const([box.cut_low(u)])))
            if u in box.high:
                tests.append(g.op("LessOrEqual", col, g.const([box.cut_high(u)])))
        elif u in box.levels:
            select = np.zeros((g.n_features, 1))
            for level in box.levels[u]:
                select[unit.columns[level], 0] = 1.0
            tests.append(g.op("Greater", g.op("MatMul", x, g.const(select)), g.const([0.5])))
        for test in tests:
            value = g.op("Cast", test, to=g.TP.DOUBLE)
            inside = value if inside is None else g.op("Mul", inside, value)
    if inside is None:  # an unbounded box holds every row
        column = g.op("Gather", x, g.const([0], np.int64), axis=1)
        inside = g.op("Add", g.op("Mul", column, g.const([0.0])), g.const([1.0]))
    return inside


def _torch_net(model: Any, n_features: int) -> bytes:
    import torch

    class Wrapped(torch.nn.Module):
        def __init__(self, module: torch.nn.Module) -> None:
            super().__init__()
            self.module = module

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            logits = self.module(x.float()).double()
            proba = torch.softmax(logits, dim=1)
            return proba, torch.argmax(logits, dim=1)

    wrapped = Wrapped(model.module_).eval()
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        # the TorchScript exporter is the one that needs no extra package (onnxscript)
        warnings.simplefilter("ignore")
        torch.onnx.export(
            wrapped,
            (torch.zeros(2, n_features, dtype=torch.float64),),
            f"{tmp}/copy.onnx",
            dynamo=False,
            input_names=[INPUT],
            output_names=[OUTPUT, LABEL],
            dynamic_axes={INPUT: {0: "n"}, OUTPUT: {0: "n"}, LABEL: {0: "n"}},
            opset_version=OPSET,
        )
        return Path(f"{tmp}/copy.onnx").read_bytes()


def _sklearn(model: Any, n_features: int, n_classes: int) -> bytes:
    """A scikit-learn estimator or pipeline through skl2onnx; one-hot answers without probabilities."""
    from onnx import helper
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import DoubleTensorType

    has_proba = hasattr(model, "predict_proba") and not _is_svm_without_proba(model)
    final = _final(model)
    options = {id(final): {"zipmap": False}}
    with warnings.catch_warnings():  # skl2onnx reads attributes scikit-learn marks as deprecated
        warnings.simplefilter("ignore", FutureWarning)
        onx = convert_sklearn(
            model,
            initial_types=[(INPUT, DoubleTensorType([None, n_features]))],
            options=options,
            target_opset=OPSET,
        )
    from onnx import compose

    # skl2onnx names its outputs as we do (label, probabilities): prefix every name but the input
    onx = compose.add_prefix(onx, "skl_", rename_inputs=False)
    graph = onx.graph
    names = [o.name for o in graph.output]  # label, then probabilities
    first, second = names[0], names[-1]
    g = _Graph(n_features)
    if has_proba:
        proba = g.op("Cast", second, to=g.TP.DOUBLE)
    else:
        classes = np.asarray(final.classes_)
        if not np.array_equal(classes, np.arange(classes.size)):
            raise InvalidInput("cannot export a label-only copy whose classes are not 0..c-1")
        proba = _one_hot_of_label(g, g.op("Cast", first, to=g.TP.INT64), n_classes)
    g.nodes.append(helper.make_node("Identity", [proba], [OUTPUT]))
    g.nodes.append(helper.make_node("ArgMax", [OUTPUT], [LABEL], axis=1, keepdims=0))
    graph.node.extend(g.nodes)
    graph.initializer.extend(g.inits)
    del graph.output[:]
    graph.output.extend(
        [
            helper.make_tensor_value_info(OUTPUT, g.TP.DOUBLE, ["n", n_classes]),
            helper.make_tensor_value_info(LABEL, g.TP.INT64, ["n"]),
        ]
    )
    return bytes(onx.SerializeToString())


def _final(model: Any) -> Any:
    return model[-1] if hasattr(model, "steps") else model


def _is_svm_without_proba(model: Any) -> bool:
    final = _final(model)
    return type(final).__name__ in ("SVC", "NuSVC") and not getattr(final, "probability", False)


# ---------------------------------------------------------------------- entry points
def to_onnx(model: Any, n_features: int) -> bytes:
    """The ONNX bytes of a stolen copy (see the module docstring for each family)."""
    from modelsteal.stolen.binned import StolenBinnedLinear
    from modelsteal.stolen.label_copy import LabelCopy
    from modelsteal.stolen.linear import StolenLinearModel
    from modelsteal.stolen.mlp import StolenMLP
    from modelsteal.stolen.net import StolenNet
    from modelsteal.stolen.tree import StolenTree

    if isinstance(model, StolenNet):
        return _torch_net(model, n_features)
    g = _Graph(n_features)
    x = INPUT
    if isinstance(model, LabelCopy):
        scaler, final = model.pipeline[0], model.pipeline[-1]
        if isinstance(final, StolenLinearModel | StolenMLP):
            x = _scaled(g, x, scaler)
            model = final
        else:
            classes = np.asarray(model.classes_)
            return _sklearn(model.pipeline, n_features, classes.size)
    if isinstance(model, StolenBinnedLinear):
        proba, c = _binned(g, x, model)
    elif isinstance(model, StolenLinearModel):
        proba, c = _linear(g, x, model)
    elif isinstance(model, StolenMLP):
        proba, c = _mlp(g, x, model)
    elif isinstance(model, StolenTree):
        proba, c = _tree(g, x, model)
    elif hasattr(model, "predict") and hasattr(model, "classes_"):
        return _sklearn(model, n_features, np.asarray(model.classes_).size)
    else:
        raise InvalidInput(f"cannot export a copy of type {type(model).__name__} to ONNX")
    return g.finish(proba, c)


def export_onnx(model: Any, n_features: int, path: str | Path) -> Path:
    """Write ``model`` to ``path`` (``.onnx``) and check that onnxruntime loads it."""
    path = Path(path)
    if path.suffix != ".onnx":
        raise InvalidInput(f"{path}: an ONNX export is a file ending in .onnx")
    data = to_onnx(model, n_features)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    onnx_session(path)
    return path


def onnx_proba(path: str | Path, X: FloatArray) -> FloatArray:
    """The exported copy's probabilities for ``X``, computed by onnxruntime."""
    session = onnx_session(path)
    out = session.run([OUTPUT], {INPUT: np.ascontiguousarray(X, dtype=np.float64)})[0]
    return np.asarray(out, dtype=np.float64)
