"""A bespoke single-image API like the mission's example, for our tests only.

``POST /classify`` with ``{"image_base64": "<PNG>"}`` answers ``{"class": "7", "confidence": 0.99}``.
The PNG is read as grey, black = the feature space's lower bound, white = its upper bound.
Run: ``bespoke_server.py MODEL_DIR PORT`` (127.0.0.1 only).
"""

from __future__ import annotations

import base64
import io
import sys

import numpy as np
import uvicorn
from fastapi import FastAPI, HTTPException
from PIL import Image

from modelsteal.victims import load_model_dir


def build(model_dir: str) -> FastAPI:
    md = load_model_dir(model_dir)
    space, victim, names = md.feature_space, md.victim, list(md.card["classes"])
    lo, hi = float(space.lower.min()), float(space.upper.max())
    app = FastAPI()

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/classify")
    def classify(body: dict) -> dict:  # type: ignore[type-arg]
        try:
            raw = base64.b64decode(body["image_base64"], validate=True)
            pixels = np.asarray(Image.open(io.BytesIO(raw)).convert("L"), dtype=np.float64)
        except Exception:
            raise HTTPException(status_code=400, detail="image_base64 must hold a PNG") from None
        x = lo + pixels.reshape(1, -1) / 255.0 * (hi - lo)
        proba = victim.predict_proba(x)[0]
        top = int(np.argmax(proba))
        return {"class": names[top], "confidence": float(proba[top])}

    return app


if __name__ == "__main__":
    import torch

    torch.set_num_threads(1)
    uvicorn.run(build(sys.argv[1]), host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
