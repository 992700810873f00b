"""Choices the command line offers before it imports anything heavy.

``modelsteal --help``, ``--version``, ``datasets`` and ``keys`` must start in well under a
second, so the parser takes its choices from here rather than from the modules that
implement them (which import torch, scikit-learn or FastAPI); those modules import these
names, so each is written once. Parts (attacks, transforms, detectors, ownership methods)
are listed by :mod:`modelsteal.registry` instead.
"""

from __future__ import annotations

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
