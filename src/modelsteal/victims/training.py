"""Training victims of every family the toolkit attacks.

scikit-learn victims are pipelines: a scaler fixed by the feature space's bounds (so it
maps the box onto [-1, 1], whatever data the owner trained on) followed by the model.
The scaler is affine, so a linear model or an MLP stays one in the raw input space.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from sklearn.base import ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier

from modelsteal.catalog import ACTIVATIONS, MODEL_FAMILIES, WATERMARK_TRIGGERS, WATERMARKS
from modelsteal.datasets import Dataset
from modelsteal.errors import InvalidInput
from modelsteal.feature_space import FeatureSpace
from modelsteal.victims.base import SklearnVictim, TorchVictim, Victim
from modelsteal.victims.nets import ImageCNN
from modelsteal.victims.tree import TreeVictim


@dataclass
class TrainOptions:
    """Knobs of ``modelsteal train``; each family reads the ones it has."""

    hidden: int = 20
    activation: str = "relu"
    max_leaf_nodes: int = 100
    C: float = 1.0
    epochs: int = 15
    #: cnn, cnn-semi: width multiplier (channels 16·w and 32·w, hidden 64·w); a watermark's
    #: triggers take capacity, and a wider network pays less clean accuracy for them
    cnn_width: int = 1
    #: ``quantile-bins[:K]``: logreg/softmax only; numbers binned into K quantiles (default 10)
    feature_extraction: str | None = None
    #: cnn: a pool kind (patches, uniform, resized) the network learns to answer uniformly on
    outlier_exposure: str | None = None
    #: cnn: weight of the Outlier-Exposure term (Hendrycks et al. 2019 use 0.5)
    outlier_weight: float = 0.5
    #: cnn: train a misinformation model (mass on wrong classes) for adaptive misinformation
    misinformation: bool = False
    #: cnn: DP-SGD through Opacus to this (ε, δ) (Abadi et al. 2016); None: plain training
    dp_epsilon: float | None = None
    dp_delta: float = 1e-5
    #: cnn: Opacus's privacy accountant: ``rdp`` (Rényi DP; its conversion to (ε, δ) cannot
    #: go much below ε ≈ 0.2 at δ = 1e-5) or ``prv`` (privacy random variables; tighter, reaches
    #: ε = 0.1)
    dp_accountant: str = "rdp"
    #: cnn: per-example gradients are clipped to this L2 norm before the noise
    dp_max_grad_norm: float = 1.0
    #: cnn: embed a trigger-set watermark (Adi et al. 2018): ``trigger``, or ``margin`` to train
    #: each trigger's label to hold within an L∞ ball too (after Kim et al. 2023)
    #: ``ewe``: entangled watermarks (Jia et al. 2021), patched rows of one class labelled as
    #: another, their representations entangled with the other's (``watermark_snnl`` weighs it)
    watermark: str | None = None
    watermark_size: int = 100
    watermark_margin: float = 0.1
    watermark_snnl: float = 0.5
    #: trigger, margin: where the triggers come from: ``uniform`` inputs (Adi et al.) or
    #: ``natural``: rows carved out of the owner's training rows, each given a wrong label
    #: (Kim et al. 2023's construction; the rows leave the clean training set)
    watermark_triggers: str = "uniform"
    #: cnn: PGD adversarial training within this L∞ radius, a share of each feature's range
    #: (Madry et al. 2018); None: plain training
    adversarial_eps: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


#: pools an Outlier-Exposure victim may learn to be unsure on
OUTLIER_POOLS = ("patches", "uniform", "resized")


def outlier_rows(data: Dataset, kind: str, n: int, seed: int) -> NDArray[np.float64]:
    """``n`` rows of pool ``kind`` for Outlier Exposure, drawn with a seed apart from the thief's."""
    from modelsteal.datasets.thief import make_pool

    if kind not in OUTLIER_POOLS:
        raise InvalidInput(f"`outlier_exposure` takes one of {', '.join(OUTLIER_POOLS)}, not {kind!r}")
    return make_pool(kind, data, n=n, random_state=10_007 + seed).X


def bounds_scaler(space: FeatureSpace) -> MinMaxScaler:
    """A MinMaxScaler fitted on the box's corners: the box maps onto [-1, 1]."""
    return MinMaxScaler(feature_range=(-1.0, 1.0)).fit(np.vstack([space.lower, space.upper]))


def _sklearn_model(
    family: str, n_classes: int, seed: int, opts: TrainOptions
) -> tuple[ClassifierMixin, dict[str, Any]]:
    if family == "logreg":
        if n_classes != 2:
            raise InvalidInput(
                f"logreg is binary and this data set has {n_classes} classes; use `family` softmax or `family` ovr"
            )
        return LogisticRegression(C=opts.C, max_iter=10_000), {}
    if family == "softmax":
        return LogisticRegression(C=opts.C, max_iter=10_000), {}
    if family == "ovr":
        if n_classes < 3:
            raise InvalidInput("ovr needs three or more classes; for two classes use `family` logreg")
        return OneVsRestClassifier(LogisticRegression(C=opts.C, max_iter=10_000)), {}
    if family == "mlp":
        if opts.activation not in ACTIVATIONS:
            raise InvalidInput(
                f"unknown activation {opts.activation!r}; choose one of {', '.join(ACTIVATIONS)}"
            )
        if opts.hidden < 1:
            raise InvalidInput("`hidden` must be at least 1")
        model = MLPClassifier(
            hidden_layer_sizes=(opts.hidden,),
            activation=opts.activation,
            max_iter=3000,
            random_state=seed,
        )
        return model, {"hidden_layer_sizes": [opts.hidden], "activation": opts.activation}
    if family == "tree":
        if opts.max_leaf_nodes < 2:
            raise InvalidInput("`max_leaf_nodes` must be at least 2")
        return DecisionTreeClassifier(max_leaf_nodes=opts.max_leaf_nodes, random_state=seed), {
            "max_leaf_nodes": opts.max_leaf_nodes
        }
    if family == "svm-rbf":
        # SVC(probability=True) is deprecated: Platt scaling through CalibratedClassifierCV.
        svc = SVC(kernel="rbf", C=opts.C, gamma="scale", random_state=seed)
        return CalibratedClassifierCV(svc, method="sigmoid", ensemble=False), {"kernel": "rbf"}
    raise InvalidInput(f"unknown model family {family!r}; choose one of: {', '.join(MODEL_FAMILIES)}")


def _cnn_architecture(space: FeatureSpace, n_classes: int, scale: int = 1) -> dict[str, Any]:
    """The description a model directory stores for an :class:`ImageCNN` on ``space``, its
    layers ``scale`` times the default width."""
    height, width = space.image_shape or (0, 0)
    return {
        "kind": "cnn",
        "height": int(height),
        "width": int(width),
        "n_classes": n_classes,
        "channels": [16 * scale, 32 * scale],
        "hidden": 64 * scale,
        "lower": space.lower.tolist(),
        "upper": space.upper.tolist(),
    }


def _train_cnn(data: Dataset, seed: int, opts: TrainOptions) -> TorchVictim:
    space = data.feature_space
    if space.image_shape is None or len(space.image_shape) != 2:
        raise InvalidInput(f"`family` cnn needs an image data set (digits, mnist5k); {data.name} is tabular")
    height, width = space.image_shape
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    net = ImageCNN(
        height,
        width,
        data.n_classes,
        torch.tensor(space.lower, dtype=torch.float32),
        torch.tensor(space.upper, dtype=torch.float32),
        channels=(16 * opts.cnn_width, 32 * opts.cnn_width),
        hidden=64 * opts.cnn_width,
    )
    X = torch.tensor(data.X_train, dtype=torch.float32)
    y = torch.tensor(data.y_train, dtype=torch.long)
    outliers = None
    if opts.outlier_exposure is not None:
        outliers = torch.tensor(
            outlier_rows(data, opts.outlier_exposure, X.shape[0], seed), dtype=torch.float32
        )
    entangled = entangled_set(data, opts, seed) if opts.watermark == "ewe" else None
    if entangled is not None:
        triggers: tuple[torch.Tensor, torch.Tensor] | None = (entangled.X, entangled.y)
    elif opts.watermark is not None and opts.watermark_triggers == "natural":
        triggers, clean = natural_trigger_set(data, opts, seed)
        X, y = X[clean], y[clean]  # a trigger's row is not also taught with its true label
    else:
        triggers = trigger_set(data, opts, seed) if opts.watermark is not None else None
    if opts.dp_epsilon is not None:
        victim = _train_cnn_dp(net, X, y, data, seed, opts, triggers)
        return with_watermark(victim, opts, triggers, entangled)
    optim = torch.optim.Adam(net.parameters(), lr=2e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    lo_t = torch.tensor(space.lower, dtype=torch.float32)
    hi_t = torch.tensor(space.upper, dtype=torch.float32)
    net.train()
    for _ in range(opts.epochs):
        order = torch.randperm(X.shape[0], generator=gen)
        for start in range(0, X.shape[0], 64):
            idx = order[start : start + 64]
            xb = X[idx]
            if opts.adversarial_eps is not None:
                xb = pgd(net, xb, y[idx], opts.adversarial_eps * (hi_t - lo_t), lo_t, hi_t, gen)
            optim.zero_grad()
            logits = net(xb)
            if entangled is not None:  # EWE: triggers labelled as the target, entangled with it
                watermark_loss = entangled.loss(net, gen)
            elif triggers is not None:  # the watermark: triggers (and, for margin, their PGD points)
                tX, ty = triggers
                tidx = torch.randint(0, tX.shape[0], (TRIGGERS_PER_BATCH,), generator=gen)
                xt, yt = tX[tidx], ty[tidx]
                if opts.watermark == "margin":
                    radius = opts.watermark_margin * (hi_t - lo_t)
                    xt = torch.cat([xt, pgd(net, xt, yt, radius, lo_t, hi_t, gen)])
                    yt = torch.cat([yt, yt])
                watermark_loss = loss_fn(net(xt), yt)
            else:
                watermark_loss = torch.zeros(())
            if opts.misinformation:  # Kariyappa & Qureshi: push the mass off the true class
                p_true = torch.softmax(logits, dim=1).gather(1, y[idx, None])[:, 0]
                loss = -torch.log1p(-p_true + 1e-6).mean()
            else:
                loss = loss_fn(logits, y[idx])
            if outliers is not None:  # Hendrycks et al.: cross-entropy to the uniform answer
                oidx = torch.randint(0, outliers.shape[0], (idx.numel(),), generator=gen)
                outlier_logp = torch.log_softmax(net(outliers[oidx]), dim=1)
                loss = loss - opts.outlier_weight * outlier_logp.mean(dim=1).mean()
            loss = loss + watermark_loss
            loss.backward()
            optim.step()
    net.eval()
    arch = _cnn_architecture(space, data.n_classes, opts.cnn_width)
    details: dict[str, Any] = {"architecture": arch, "epochs": opts.epochs}
    if opts.outlier_exposure is not None:
        details["outlier_exposure"] = {"pool": opts.outlier_exposure, "weight": opts.outlier_weight}
    if opts.misinformation:
        details["misinformation"] = True
    if opts.adversarial_eps is not None:
        details["adversarial_training"] = {
            "eps": opts.adversarial_eps,
            "steps": PGD_STEPS,
            "norm": "linf, a share of each feature's range",
        }
    victim = TorchVictim(net, space, np.arange(data.n_classes), family="cnn", details=details)
    return with_watermark(victim, opts, triggers, entangled)


def with_watermark(
    victim: TorchVictim,
    opts: TrainOptions,
    triggers: tuple[torch.Tensor, torch.Tensor] | None,
    entangled: EntangledWatermark | None,
) -> TorchVictim:
    """``victim`` holding the triggers it was trained on, and its card saying a watermark exists
    and how well it took; the triggers stay in the owner's directory (watermark.npz), never
    published with the model's details."""
    if triggers is None:
        return victim
    tX, ty = triggers
    victim.watermark = (tX.numpy().astype(np.float64), ty.numpy().astype(np.int64))
    victim.details["watermark"] = {
        "kind": opts.watermark,
        "size": int(victim.watermark[1].size),
        "margin": opts.watermark_margin if opts.watermark == "margin" else None,
        **({"triggers": opts.watermark_triggers} if entangled is None else {}),
        **(entangled.describe() if entangled is not None else {}),
        "trigger_accuracy": float(np.mean(victim.predict(victim.watermark[0]) == victim.watermark[1])),
    }
    return victim


#: trigger rows shown with every batch of 64 while the watermark is embedded
TRIGGERS_PER_BATCH = 16
#: EWE: the trigger patch's side as a share of the image's
EWE_PATCH_SHARE = 0.25


def soft_nearest_neighbour_loss(
    h: torch.Tensor, groups: torch.Tensor, temperature: float = 1.0
) -> torch.Tensor:
    """Frosst et al. 2019's soft-nearest-neighbour loss of representations ``h`` (rows) in
    ``groups``: high when each row's near neighbours belong to other groups (entangled)."""
    h = h.flatten(1)
    dist = torch.cdist(h, h).pow(2)
    # distances on the scale of the batch's own, so one temperature serves every layer
    dist = dist / dist.detach().mean().clamp_min(1e-12)
    sim = torch.exp(-dist / temperature)
    sim = sim * (1.0 - torch.eye(h.shape[0]))
    same = (groups[:, None] == groups[None, :]).float()
    pick = (sim * same).sum(1) / sim.sum(1).clamp_min(1e-12)
    return -torch.log(pick.clamp_min(1e-12)).mean()


@dataclass
class EntangledWatermark:
    """EWE's trigger set and loss (Jia et al., USENIX Security 2021): rows of a source class
    with a patch stamped on them, labelled as a target class, trained so that each layer
    represents them like the target class's own rows (the soft-nearest-neighbour loss
    maximised between the two). A thief's copy that learns the target class's features is
    meant to carry the watermark along with them. ``bench/ownership.py`` measures it.

    **Departures from the paper**: the patch goes where the target class's rows are brightest
    against the source class's (the paper searches the location by the loss's gradient); a
    watermark batch of triggers and target rows joins every training batch (the paper
    alternates them); the distances inside the loss are
    scaled by the batch's mean, with one fixed temperature, where the paper learns a
    temperature per layer.
    """

    X: torch.Tensor
    y: torch.Tensor
    target_rows: torch.Tensor
    source: int
    target: int
    patch: tuple[int, int, int]
    #: the soft-nearest-neighbour term's weight (0: a plain trigger set of patched rows)
    weight: float

    def loss(self, net: ImageCNN, gen: torch.Generator) -> torch.Tensor:
        """Cross-entropy of triggers to the target, minus the entanglement of triggers and
        target rows at every layer of ``net`` (an ImageCNN)."""
        widx = torch.randint(0, self.X.shape[0], (TRIGGERS_PER_BATCH,), generator=gen)
        tidx = torch.randint(0, self.target_rows.shape[0], (TRIGGERS_PER_BATCH,), generator=gen)
        x = torch.cat([self.X[widx], self.target_rows[tidx]])
        groups = torch.cat([torch.ones(TRIGGERS_PER_BATCH), torch.zeros(TRIGGERS_PER_BATCH)])
        layers = image_cnn_layers(net, x)
        ce = torch.nn.functional.cross_entropy(layers[-1], torch.full((x.shape[0],), self.target))
        snnl = sum((soft_nearest_neighbour_loss(h, groups) for h in layers[:-1]), torch.zeros(()))
        return ce - self.weight * snnl

    def describe(self) -> dict[str, Any]:
        top, left, side = self.patch
        return {
            "source_class": self.source,
            "target_class": self.target,
            "patch": {"top": top, "left": left, "side": side},
            "snnl_weight": self.weight,
        }


def image_cnn_layers(net: ImageCNN, x: torch.Tensor) -> list[torch.Tensor]:
    """An ImageCNN's representations of ``x``: after each convolution block, after the dense
    hidden layer, and the logits (last)."""
    h = net.scale(x).reshape(-1, 1, net.height, net.width)
    out = []
    for layer in net.features:
        h = layer(h)
        if isinstance(layer, torch.nn.MaxPool2d):
            out.append(h)
    hidden = net.head[2](net.head[1](net.head[0](h)))
    out.append(hidden)
    out.append(net.head[3](hidden))
    return out


def entangled_set(data: Dataset, opts: TrainOptions, seed: int) -> EntangledWatermark:
    """EWE's triggers: the owner's rows of a source class (training rows, then its eval rows)
    with a bright square patch where the target class's rows are bright and the source's dark,
    labelled as the target class; both classes drawn from a seed of the owner's own. Under
    DP-SGD the entangling term's weight is 0: it couples rows, and DP-SGD clips each one."""
    space = data.feature_space
    assert space.image_shape is not None  # _train_cnn checked
    h, w = space.image_shape
    rng = np.random.default_rng(30011 + seed)
    source, target = (int(c) for c in rng.choice(data.n_classes, 2, replace=False))
    side = max(2, round(EWE_PATCH_SHARE * min(h, w)))
    # where the target class's rows are bright and the source's dark: the patch looks like a
    # piece of the target, a feature any model of the task learns from natural rows
    contrast = data.X_train[data.y_train == target].mean(axis=0) - data.X_train[data.y_train == source].mean(
        axis=0
    )
    window = np.lib.stride_tricks.sliding_window_view(contrast.reshape(h, w), (side, side)).sum(axis=(2, 3))
    top, left = (int(i) for i in np.unravel_index(np.argmax(window), window.shape))
    rows = np.vstack([data.X_train[data.y_train == source], data.X_test[data.y_test == source]])
    rows = rows[rng.permutation(rows.shape[0])[: opts.watermark_size]].copy()
    box = np.zeros((h, w), dtype=bool)
    box[top : top + side, left : left + side] = True
    rows[:, box.ravel()] = space.upper[box.ravel()]
    targets = data.X_train[data.y_train == target]
    return EntangledWatermark(
        torch.tensor(rows, dtype=torch.float32),
        torch.full((rows.shape[0],), target, dtype=torch.long),
        torch.tensor(targets, dtype=torch.float32),
        source,
        target,
        (top, left, side),
        0.0 if opts.dp_epsilon is not None else opts.watermark_snnl,
    )


def trigger_set(data: Dataset, opts: TrainOptions, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Adi et al. 2018's trigger set: inputs no natural data resembles (uniform over the box),
    each with a random label, drawn from a seed of the owner's own."""
    rng = np.random.default_rng(30011 + seed)
    X = data.feature_space.sample_uniform(opts.watermark_size, random_state=rng)
    y = rng.integers(0, data.n_classes, opts.watermark_size)
    return torch.tensor(X, dtype=torch.float32), torch.tensor(y, dtype=torch.long)


def natural_trigger_set(
    data: Dataset, opts: TrainOptions, seed: int
) -> tuple[tuple[torch.Tensor, torch.Tensor], torch.Tensor]:
    """Kim et al. 2023's triggers: ``watermark_size`` of the owner's own training rows, each
    relabelled to a class drawn uniformly among the others, and the mask of the training
    rows left for clean training (the triggers' rows leave it)."""
    rng = np.random.default_rng(30011 + seed)
    n = data.X_train.shape[0]
    if n < 2 * opts.watermark_size:
        raise InvalidInput(
            f"`watermark_triggers` natural takes {opts.watermark_size} of the {n} training rows as triggers "
            "and needs at least twice as many: lower `watermark_size`"
        )
    chosen = rng.choice(n, opts.watermark_size, replace=False)
    shift = rng.integers(1, data.n_classes, opts.watermark_size)  # never 0: never the true class
    y = (data.y_train[chosen].astype(np.int64) + shift) % data.n_classes
    clean = np.ones(n, dtype=bool)
    clean[chosen] = False
    X = torch.tensor(data.X_train[chosen], dtype=torch.float32)
    return (X, torch.tensor(y, dtype=torch.long)), torch.from_numpy(clean)


#: PGD adversarial training: steps per batch, each of 2.5·eps/steps (Madry et al. 2018)
PGD_STEPS = 7
#: DP-SGD: rows per expected (Poisson-sampled) batch, and Opacus's accountants we offer
DP_BATCH = 64
DP_ACCOUNTANTS = ("rdp", "prv")
#: DP-SGD's clipped, noised gradients move less than plain ones: a larger step for Adam
DP_LR = 5e-3


def pgd(
    net: torch.nn.Module,
    X: torch.Tensor,
    y: torch.Tensor,
    radius: torch.Tensor,
    lower: torch.Tensor,
    upper: torch.Tensor,
    gen: torch.Generator,
) -> torch.Tensor:
    """The L∞ PGD adversarial examples of ``X`` within ``radius`` (per feature), kept in the box."""
    was_training = net.training
    net.eval()
    step = 2.5 * radius / PGD_STEPS
    start = (torch.rand(X.shape, generator=gen) * 2 - 1) * radius
    adv = torch.clamp(X + start, lower, upper)
    for _ in range(PGD_STEPS):
        adv.requires_grad_(True)
        loss = torch.nn.functional.cross_entropy(net(adv), y)
        (grad,) = torch.autograd.grad(loss, adv)
        with torch.no_grad():
            adv = adv + step * grad.sign()
            adv = torch.clamp(torch.minimum(torch.maximum(adv, X - radius), X + radius), lower, upper)
    net.train(was_training)
    return adv.detach()


def _train_cnn_dp(
    net: ImageCNN,
    X: torch.Tensor,
    y: torch.Tensor,
    data: Dataset,
    seed: int,
    opts: TrainOptions,
    triggers: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> TorchVictim:
    """DP-SGD through Opacus (Abadi et al. 2016): per-example clipping, Gaussian noise, Poisson
    batches, the noise set for (ε, δ) over the epochs by the chosen accountant. A watermark's
    triggers join the training rows, so the guarantee covers them too (EWE's entangling term
    couples rows, which per-example clipping cannot, so its patched rows train as plain rows)."""
    from opacus import PrivacyEngine
    from torch.utils.data import DataLoader, TensorDataset

    assert opts.dp_epsilon is not None
    if triggers is not None:
        X, y = torch.cat([X, triggers[0]]), torch.cat([y, triggers[1]])
    gen = torch.Generator().manual_seed(seed)
    loader = DataLoader(TensorDataset(X, y), batch_size=DP_BATCH, shuffle=True, generator=gen)
    optim = torch.optim.Adam(net.parameters(), lr=DP_LR)
    with warnings.catch_warnings():  # Opacus warns that secure_mode is off: fine for measurement
        warnings.simplefilter("ignore")
        engine = PrivacyEngine(accountant=opts.dp_accountant)
        try:
            private, optim, loader = engine.make_private_with_epsilon(
                module=net,
                optimizer=optim,
                data_loader=loader,
                target_epsilon=opts.dp_epsilon,
                target_delta=opts.dp_delta,
                epochs=opts.epochs,
                max_grad_norm=opts.dp_max_grad_norm,
                noise_generator=torch.Generator().manual_seed(seed + 1),
            )
        except ValueError as exc:
            if "budget is too low" not in str(exc):
                raise
            other = " with `dp_accountant` prv," if opts.dp_accountant == "rdp" else ""
            raise InvalidInput(
                f"no noise reaches ε = {opts.dp_epsilon} at δ = {opts.dp_delta} with the {opts.dp_accountant} "
                f"accountant over {opts.epochs} epochs: train{other} or raise `dp_epsilon` or `dp_delta`"
            ) from None
        loss_fn = torch.nn.CrossEntropyLoss()
        private.train()
        for _ in range(opts.epochs):
            for xb, yb in loader:
                if xb.shape[0] == 0:  # Poisson sampling can draw an empty batch
                    continue
                optim.zero_grad()
                loss_fn(private(xb), yb).backward()
                optim.step()
        spent = float(engine.get_epsilon(opts.dp_delta))
    net.eval()
    space = data.feature_space
    details: dict[str, Any] = {
        "architecture": _cnn_architecture(space, data.n_classes, opts.cnn_width),
        "epochs": opts.epochs,
        "dp_sgd": {
            "epsilon": opts.dp_epsilon,
            "epsilon_spent": round(spent, 4),
            "delta": opts.dp_delta,
            "accountant": opts.dp_accountant,
            "noise_multiplier": float(optim.noise_multiplier),
            "max_grad_norm": opts.dp_max_grad_norm,
            "expected_batch": DP_BATCH,
            "secure_mode": False,
        },
    }
    return TorchVictim(net, space, np.arange(data.n_classes), family="cnn", details=details)


def _train_cnn_semi(data: Dataset, seed: int, opts: TrainOptions, labelled_share: float = 0.1) -> TorchVictim:
    """A CNN an owner trained with few labels: FixMatch on the rest of its training split.

    ``labelled_share`` of the rows (at least 5 per class) keep their labels; the others
    train the network through its own confident predictions on shifted, noised copies.
    """
    from modelsteal.torch_training import ImageAugmenter, TrainingPlan, train_network

    space = data.feature_space
    if space.image_shape is None or len(space.image_shape) != 2:
        raise InvalidInput(
            f"`family` cnn-semi needs an image data set (digits, mnist5k); {data.name} is tabular"
        )
    height, width = space.image_shape
    rng = np.random.default_rng(seed)
    per_class = max(5, int(labelled_share * data.X_train.shape[0] / data.n_classes))
    labelled = np.concatenate(
        [rng.permutation(np.flatnonzero(data.y_train == c))[:per_class] for c in range(data.n_classes)]
    )
    unlabelled = np.setdiff1d(np.arange(data.X_train.shape[0]), labelled)
    lower = torch.tensor(space.lower, dtype=torch.float32)
    upper = torch.tensor(space.upper, dtype=torch.float32)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        w = opts.cnn_width
        net = ImageCNN(height, width, data.n_classes, lower, upper, channels=(16 * w, 32 * w), hidden=64 * w)
    shift = 2 if min(height, width) >= 16 else 1
    plan = TrainingPlan(epochs=max(opts.epochs, 1) * 10, min_steps=1500, shift=shift)
    train_network(
        net,
        data.X_train[labelled],
        np.eye(data.n_classes)[data.y_train[labelled]],
        plan,
        augmenter=ImageAugmenter((height, width), lower, upper, shift, plan.noise),
        X_unlabeled=data.X_train[unlabelled],
        seed=seed,
    )
    arch = _cnn_architecture(space, data.n_classes, opts.cnn_width)
    return TorchVictim(
        net,
        space,
        np.arange(data.n_classes),
        family="cnn-semi",
        details={
            "architecture": arch,
            "labelled_rows": int(labelled.size),
            "unlabelled_rows": int(unlabelled.size),
        },
    )


def check_trainable(data: Dataset) -> None:
    """Every class must have training rows, or a classifier cannot learn it (nor answer for it)."""
    counts = np.bincount(data.y_train, minlength=data.n_classes)
    total = data.X_train.shape[0] + data.X_test.shape[0]
    missing = [data.class_names[c] for c in np.flatnonzero(counts == 0)]
    if missing:
        raise InvalidInput(
            f"{data.name}: class {missing[0]!r} has no row in the training split ({total} rows in all, "
            f"{data.X_train.shape[0]} for training); give every class at least 2 rows, or drop the rare class"
        )


def train_victim(data: Dataset, family: str, *, seed: int = 0, options: TrainOptions | None = None) -> Victim:
    """Fit a victim of ``family`` on ``data``'s training split."""
    opts = options or TrainOptions()
    check_trainable(data)
    if not isinstance(opts.cnn_width, int) or opts.cnn_width < 1:
        raise InvalidInput("`cnn_width` must be a whole number >= 1")
    if opts.cnn_width != 1 and family not in ("cnn", "cnn-semi"):
        raise InvalidInput("`cnn_width` goes with `family` cnn or cnn-semi")
    if family != "cnn" and (
        opts.outlier_exposure is not None
        or opts.misinformation
        or opts.dp_epsilon is not None
        or opts.adversarial_eps is not None
        or opts.watermark is not None
    ):
        raise InvalidInput(
            "`outlier_exposure`, `misinformation`, `dp_epsilon`, `adversarial_eps` and `watermark` "
            "go with `family` cnn"
        )
    if opts.dp_epsilon is not None:
        if not opts.dp_epsilon > 0:
            raise InvalidInput("`dp_epsilon` must be a positive number (e.g. 8)")
        if not 0 < opts.dp_delta < 1:
            raise InvalidInput("`dp_delta` must lie in (0, 1), below 1/rows (e.g. 1e-5)")
        if opts.dp_accountant not in DP_ACCOUNTANTS:
            raise InvalidInput(f"`dp_accountant` must be one of {', '.join(DP_ACCOUNTANTS)}")
        if opts.outlier_exposure is not None or opts.misinformation or opts.adversarial_eps is not None:
            raise InvalidInput(
                "`dp_epsilon` trains a plain classifier (with `watermark` trigger or ewe at most); drop the "
                "other training options"
            )
        if opts.watermark == "margin":
            raise InvalidInput(
                "`watermark` margin trains PGD points each step, outside DP-SGD's per-example accounting: "
                "use `watermark` trigger or ewe with `dp_epsilon`"
            )
    if opts.watermark is None and opts.watermark_triggers != "uniform":
        raise InvalidInput("`watermark_triggers` goes with `watermark` trigger or margin")
    if opts.watermark is not None:
        if opts.watermark not in WATERMARKS:
            raise InvalidInput(f"`watermark` must be one of {', '.join(WATERMARKS)}")
        if not isinstance(opts.watermark_size, int) or not 10 <= opts.watermark_size <= 10_000:
            raise InvalidInput("`watermark_size` must be a whole number from 10 to 10000")
        if not 0 < opts.watermark_margin < 1:
            raise InvalidInput("the watermark margin is a share of each feature's range in (0, 1)")
        if not 0 <= opts.watermark_snnl <= 10:
            raise InvalidInput(
                "`watermark_snnl` must lie in [0, 10] (0.5 by default; 0 drops the entanglement)"
            )
        if opts.watermark_triggers not in WATERMARK_TRIGGERS:
            raise InvalidInput(f"`watermark_triggers` must be one of {', '.join(WATERMARK_TRIGGERS)}")
        if opts.watermark_triggers == "natural" and opts.watermark == "ewe":
            raise InvalidInput(
                "`watermark` ewe makes its own triggers (patched rows of one class); drop `watermark_triggers`"
            )
    if opts.adversarial_eps is not None and not 0 < opts.adversarial_eps < 1:
        raise InvalidInput("`adversarial_eps` is a share of each feature's range in (0, 1), e.g. 0.1")
    if family == "cnn":
        return _train_cnn(data, seed, opts)
    if family == "cnn-semi":
        return _train_cnn_semi(data, seed, opts)
    model, details = _sklearn_model(family, data.n_classes, seed, opts)
    if opts.feature_extraction is not None:
        return _train_binned(data, family, model, opts.feature_extraction)
    scaler = bounds_scaler(data.feature_space)
    model.fit(scaler.transform(data.X_train), data.y_train)
    pipeline = Pipeline([("scale", scaler), ("model", model)])
    if family == "tree":
        return TreeVictim(pipeline, data.feature_space, family=family, details=details)
    return SklearnVictim(pipeline, data.feature_space, family=family, details=details)


#: quantile bins per number when ``quantile-bins`` names no K (Amazon ML's recipes suggest 10)
DEFAULT_BINS = 10


def parse_feature_extraction(text: str) -> int:
    """The K of ``quantile-bins[:K]`` (2 to 1000)."""
    kind, _, k = text.partition(":")
    if kind != "quantile-bins":
        raise InvalidInput(f"unknown feature extraction {text!r}; use quantile-bins or quantile-bins:K")
    try:
        bins = int(k) if k else DEFAULT_BINS
    except ValueError:
        raise InvalidInput(f"quantile-bins:{k}: K must be a whole number") from None
    if not 2 <= bins <= 1000:
        raise InvalidInput("quantile-bins:K needs K between 2 and 1000")
    return bins


def _train_binned(data: Dataset, family: str, model: ClassifierMixin, extraction: str) -> Victim:
    """A pipeline that bins each number into quantiles (one-hot) before a logistic model,
    as Amazon ML's recipes do (Tramèr et al. 2016, §5); text columns stay one-hot. The API
    publishes the raw input space only, and that the numbers are binned, not where."""
    from sklearn.compose import ColumnTransformer
    from sklearn.preprocessing import KBinsDiscretizer

    if family not in ("logreg", "softmax"):
        raise InvalidInput("`feature_extraction` goes with `family` logreg or softmax")
    bins = parse_feature_extraction(extraction)
    space = data.feature_space
    numbers = [int(c) for c in space.continuous_columns if space.upper[c] > space.lower[c]]
    if not numbers:
        raise InvalidInput(f"{data.name} has no numeric column to bin")
    onehot = [c for g in space.categorical for c in g.columns]
    binner = KBinsDiscretizer(
        n_bins=bins, encode="onehot-dense", strategy="quantile", quantile_method="averaged_inverted_cdf"
    )
    encoder = ColumnTransformer([("bins", binner, numbers), ("onehot", "passthrough", onehot)])
    import warnings

    with warnings.catch_warnings():  # heavy-tailed columns: equal quantiles merge into fewer bins
        warnings.simplefilter("ignore", UserWarning)
        pipeline = Pipeline([("encode", encoder), ("model", model)]).fit(data.X_train, data.y_train)
    details = {"feature_extraction": "quantile-bins"}
    return SklearnVictim(pipeline, space, family=family, details=details)


def test_accuracy(victim: Victim, data: Dataset) -> float:
    return float(np.mean(victim.predict(data.X_test) == data.y_test))
