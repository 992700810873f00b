"""A real KServe model server (the ``kserve`` package's ModelServer) for a scikit-learn model.

Run with the upstream venv's Python: ``kserve_server.py MODEL.skops NAME PORT``. It answers
TensorFlow-Serving-style v1 (``/v1/models/NAME:predict``) and Open Inference Protocol v2
(``/v2/models/NAME/infer``) requests with ``predict_proba``, as KServe's own sklearn server
does with its ``predict_proba`` option. Only our tests start it, on 127.0.0.1.
"""

from __future__ import annotations

import sys

import numpy as np
import skops.io as sio
from kserve import InferOutput, InferRequest, InferResponse, Model, ModelServer


class SkopsModel(Model):
    def __init__(self, name: str, path: str) -> None:
        super().__init__(name)
        self.path = path
        self.estimator = None

    def load(self) -> bool:
        # a file our own test wrote: every type it holds is trusted
        self.estimator = sio.load(self.path, trusted=sio.get_untrusted_types(file=self.path))
        self.ready = True
        return True

    def predict(self, payload, headers=None, response_headers=None):  # type: ignore[no-untyped-def]
        if isinstance(payload, InferRequest):
            X = payload.inputs[0].as_numpy().astype(np.float64)
            X = X.reshape(X.shape[0], -1)
            proba = self.estimator.predict_proba(X)
            out = InferOutput(name="probabilities", shape=list(proba.shape), datatype="FP64")
            out.set_data_from_numpy(proba, binary_data=False)
            return InferResponse(model_name=self.name, infer_outputs=[out], response_id=payload.id or "0")
        X = np.asarray(payload["instances"], dtype=np.float64)
        proba = self.estimator.predict_proba(X.reshape(X.shape[0], -1))
        return {"predictions": proba.tolist()}


if __name__ == "__main__":
    path, name, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    model = SkopsModel(name, path)
    model.load()
    ModelServer(http_port=port, enable_grpc=False, workers=1, enable_latency_logging=False).start([model])
