"""A bare FastAPI endpoint calling a model directory's victim: no keys, limits, prices or log.

The baseline of ``bench/gateway.py``. Run: ``python bench/bare_server.py MODEL_DIR PORT``.
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import torch
import uvicorn
from fastapi import FastAPI, Request

from modelsteal.victims import load_model_dir


def main() -> None:
    torch.set_num_threads(1)
    model = load_model_dir(sys.argv[1]).victim
    app = FastAPI()

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/predict")
    async def predict(request: Request) -> dict[str, object]:
        body = await request.json()
        proba = model.predict_proba(np.asarray(body["instances"], dtype=np.float64))
        return {"predictions": [{"label_index": int(p.argmax()), "probabilities": p.tolist()} for p in proba]}

    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
