"""Names the command line offers before it imports anything heavy.

``modelsteal --help``, ``--version``, ``datasets`` and ``keys`` must start in well under a
second, so the parser takes its choices from here rather than from the modules that
implement them (which import torch, scikit-learn or FastAPI). Each implementing module
builds its own table from these names, and ``tests/test_catalog.py`` holds the two equal,
so a name added in one place and not the other fails the suite.
"""

from __future__ import annotations

#: every attack the registry builds, in the order ``modelsteal attacks`` lists them: whether
#: it needs probability answers, and the first line of its docstring
ATTACK_SUMMARIES: dict[str, tuple[bool, str]] = {
    "equation-solving": (True, "Tramèr et al. 2016's equation solving for the family the API publishes."),
    "eq-logistic": (
        True,
        "Binary logistic regression from d+1 probability answers (Tramèr et al. 2016, §4.1.1).",
    ),
    "eq-softmax": (
        True,
        "Multinomial logistic regression from d+1 probability answers (after Tramèr et al. 2016, §4.1.2).",
    ),
    "eq-ovr": (
        True,
        "One-vs-rest logistic regression by non-linear least squares (Tramèr et al. 2016, §4.1.2).",
    ),
    "eq-mlp": (
        True,
        "Steal a one-hidden-layer MLP from probability answers; the activation picks the method.",
    ),
    "eq-binned": (
        True,
        "A logistic model behind quantile binning: line searches for the bins, then equations (§5).",
    ),
    "lowd-meek": (
        False,
        "Binary linear classifiers from labels: one line search per feature (Lowd and Meek 2005).",
    ),
    "retrain-uniform": (False, "Retraining on uniformly drawn points (Tramèr et al. 2016, §6.2)."),
    "retrain-linesearch": (
        False,
        "Retraining on uniform points plus points placed on the boundary by bisection (§6.2).",
    ),
    "retrain-adaptive": (
        False,
        "Rounds of the least certain candidates plus uniform points, retraining each round (§6.2).",
    ),
    "path-finding": (
        False,
        "Steal a decision tree by finding the path to every leaf (Tramèr et al. 2016, Alg. 1).",
    ),
    "knockoff": (False, "Knockoff Nets (Orekondy, Schiele and Fritz, CVPR 2019)."),
    "copycat": (
        False,
        "Copycat CNN (Correia-Silva et al., IJCNN 2018): label random data with the API's top-1.",
    ),
    "jacobian": (False, "Jacobian-based dataset augmentation (Papernot et al., AsiaCCS 2017)."),
    "active": (False, "Active learning after ActiveThief (Pal et al., AAAI 2020)."),
    "semi-supervised": (False, "Semi-supervised extraction after Jagielski et al. (USENIX Security 2020)."),
}
ATTACK_NAMES: tuple[str, ...] = tuple(ATTACK_SUMMARIES)

#: the learning-based attacks (they take a thief's pool)
LEARNING_ATTACKS: tuple[str, ...] = ("knockoff", "copycat", "jacobian", "active", "semi-supervised")

#: strategies by attack, for ``--strategy``
STRATEGIES: dict[str, tuple[str, ...]] = {
    "knockoff": ("random", "adaptive"),
    "active": ("uncertainty", "kcenter", "mix"),
}

MODEL_FAMILIES: dict[str, str] = {
    "logreg": "binary logistic regression",
    "softmax": "multinomial (softmax) logistic regression",
    "ovr": "one-vs-rest logistic regression",
    "mlp": "one-hidden-layer perceptron (20 ReLU units by default)",
    "tree": "decision tree (at most 100 leaves by default)",
    "svm-rbf": "support vector machine with an RBF kernel",
    "cnn": "convolutional network (image data sets only)",
    "cnn-semi": "convolutional network trained on 10% of the labels plus its own pseudo-labels (images)",
}

ACTIVATIONS: tuple[str, ...] = ("relu", "tanh", "logistic")
#: watermarks ``train --watermark`` embeds in a CNN (victims/training.py)
WATERMARKS: tuple[str, ...] = ("trigger", "margin", "ewe")
#: where a trigger or margin watermark takes its triggers (``TrainOptions.watermark_triggers``)
WATERMARK_TRIGGERS: tuple[str, ...] = ("uniform", "natural")

POOL_KINDS: tuple[str, ...] = ("in-distribution", "resized", "patches", "uniform")

OUTPUT_KINDS: tuple[str, ...] = ("probabilities", "top_k", "label", "confidence")
#: wire protocols the attacker's HTTP transport speaks (``modelsteal`` is ours)
PROTOCOLS: tuple[str, ...] = ("modelsteal", "tfserving", "oip", "mlflow", "template")

#: bundled data sets and what each holds
DATASET_SUMMARIES: dict[str, str] = {
    "iris": "150 rows, 4 features, 3 classes",
    "wine": "178 rows, 13 features, 3 classes",
    "breast_cancer": "569 rows, 30 features, 2 classes",
    "digits": "1,797 images 8x8, 10 classes",
    "mnist5k": "5,000 MNIST images 28x28, 10 classes",
    "mnist1d": "5,000 MNIST-1D signals, 40 points, 10 classes (generated)",
    "moons": "1,000 rows, 2 features, 2 classes (generated)",
    "circles": "1,000 rows, 2 features, 2 classes (generated)",
    "blobs": "1,500 rows, 6 features, 4 classes (generated)",
    "classification5": "2,000 rows, 20 features, 5 classes (generated)",
}
