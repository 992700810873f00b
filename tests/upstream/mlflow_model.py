"""Save a scikit-learn model (a skops file our test wrote) as an MLflow model that answers
``predict_proba``; run with the upstream venv's Python: ``mlflow_model.py MODEL.skops OUT``."""

from __future__ import annotations

import sys

import mlflow.sklearn
import skops.io as sio

if __name__ == "__main__":
    path, out = sys.argv[1], sys.argv[2]
    estimator = sio.load(path, trusted=sio.get_untrusted_types(file=path))
    mlflow.sklearn.save_model(estimator, out, pyfunc_predict_fn="predict_proba")
