"""A campaign's victims made ready before any cell runs: trained on the fly, or found.

A trained victim lands in ``OUT/victims/NAME`` and is reused while its spec does not
change (the store keeps the spec it was trained from), so a resumed campaign never
retrains. What training cost is recorded: the report sets the cost of stealing against it.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from modelsteal.campaigns.spec import Campaign, VictimSpec
from modelsteal.campaigns.store import CampaignStore
from modelsteal.errors import InvalidInput


def prepare_victims(
    campaign: Campaign, store: CampaignStore, *, on_victim: Callable[[str, str], None] | None = None
) -> dict[str, dict[str, Any]]:
    """Every victim's info (``dir`` for a model directory, ``url`` for a remote one)."""
    known = store.victims()
    out: dict[str, dict[str, Any]] = {}
    for spec in campaign.victims:
        held = known.get(spec.name)
        if held is not None and held["content"] == spec.content() and _still_there(held):
            out[spec.name] = held
            if on_victim:
                on_victim(spec.name, "ready")
            continue
        if on_victim:
            on_victim(spec.name, "training" if spec.source == "train" else "checking")
        info = _prepare(spec, store.folder / "victims" / spec.name)
        store.record_victim(spec.name, spec.content(), info)
        out[spec.name] = {"content": spec.content(), **info}
    if campaign.ownership:
        for spec in campaign.victims:
            if spec.source == "url":
                if on_victim:
                    on_victim(spec.name, "remote: no independent models")
                continue
            info = out[spec.name]
            wanted = {"size": campaign.ownership["zoo"], "families": campaign.ownership["families"]}
            if info.get("zoo_spec") == wanted and Path(info.get("zoo", "")).is_dir():
                if on_victim:
                    on_victim(spec.name, "independent models ready")
                continue
            if on_victim:
                on_victim(spec.name, f"training {wanted['size']} independent models (the ownership null)")
            info.update(_zoo(info["dir"], store.folder / "zoos" / spec.name, wanted))
            store.record_victim(spec.name, spec.content(), {k: v for k, v in info.items() if k != "content"})
    return out


def _zoo(owner_dir: str, folder: Path, wanted: dict[str, Any]) -> dict[str, Any]:
    """Independent models on the owner's held-out rows (``ownership/zoo.py``), for the cells' null."""
    from modelsteal.ownership import build_zoo

    if folder.exists():
        shutil.rmtree(folder)
    started = time.process_time()
    build_zoo(
        owner_dir, size=int(wanted["size"]), families=wanted["families"] or None, out=folder, random_state=0
    )
    return {
        "zoo": str(folder),
        "zoo_spec": wanted,
        "zoo_cpu_seconds": round(time.process_time() - started, 3),
    }


def _still_there(info: dict[str, Any]) -> bool:
    return "dir" not in info or (Path(info["dir"]) / "card.json").is_file()


def _prepare(spec: VictimSpec, folder: Path) -> dict[str, Any]:
    from modelsteal.victims.model_dir import load_model_dir

    if spec.source == "url":
        return {"url": spec.params["url"], "dir": spec.params["eval"], "family": None}
    if spec.source == "path":
        md = load_model_dir(spec.params["path"])
        return {
            "dir": str(md.path),
            "model": str(md.card.get("name", md.path.name)),
            "family": md.card.get("family"),
            "accuracy": _accuracy(md),
            "train_seconds": None,
        }
    return train_campaign_victim(spec, folder)


def _accuracy(md: Any) -> float | None:
    if md.y_eval is None or md.X_eval.shape[0] == 0:
        return None
    return float(np.mean(md.victim.predict_proba(md.X_eval).argmax(axis=1) == md.y_eval))


def train_campaign_victim(spec: VictimSpec, folder: Path) -> dict[str, Any]:
    """Train a victim the way ``modelsteal train`` would, into ``folder``.

    ``victim_rows`` keeps that many training rows for the owner and the rest as the
    thieves' in-distribution pool; ``labelled_rows`` trains on a class-stratified subset of
    the owner's rows only (to match the accuracy of a model trained with fewer labels),
    while the pool stays the same.
    """
    import torch

    from modelsteal.datasets import load_dataset
    from modelsteal.datasets.thief import split_for_theft
    from modelsteal.victims import TrainOptions, save_model_dir, train_victim
    from modelsteal.victims.model_dir import load_model_dir

    torch.set_num_threads(1)
    params = spec.params
    seed = int(params.get("seed", 0))
    data = load_dataset(str(params["dataset"]))
    owner, pool = data, None
    if "victim_rows" in params:
        owner, pool = split_for_theft(data, victim_rows=int(params["victim_rows"]), random_state=seed)
    taught = owner
    if "labelled_rows" in params:
        taught = _stratified(owner, int(params["labelled_rows"]), seed)
    started = time.process_time()
    wall = time.perf_counter()
    victim = train_victim(taught, str(params["family"]), seed=seed, options=TrainOptions(**params["options"]))
    cpu = time.process_time() - started
    wall = time.perf_counter() - wall
    if pool is not None:
        victim.details["victim_rows"] = int(owner.X_train.shape[0])
    if "labelled_rows" in params:
        victim.details["labelled_rows"] = int(taught.X_train.shape[0])
    if folder.exists():
        shutil.rmtree(folder)
    save_model_dir(
        victim,
        owner,
        folder,
        seed=seed,
        name=spec.name,
        pool=None if pool is None else (pool.X, pool.y, pool.description),
    )
    md = load_model_dir(folder)
    return {
        "dir": str(folder),
        "model": spec.name,
        "family": params["family"],
        "accuracy": _accuracy(md),
        "train_seconds": round(wall, 3),
        "train_cpu_seconds": round(cpu, 3),
        "train_rows": int(taught.X_train.shape[0]),
    }


def _stratified(data: Any, n: int, seed: int) -> Any:
    from dataclasses import replace

    if not data.n_classes <= n <= data.X_train.shape[0]:
        raise InvalidInput(
            f"labelled_rows must lie in [{data.n_classes}, {data.X_train.shape[0]}] for {data.name}"
        )
    rng = np.random.default_rng(seed)
    order = rng.permutation(data.X_train.shape[0])
    per_class = {c: order[data.y_train[order] == c] for c in range(data.n_classes)}
    picked: list[int] = []
    rank = 0
    while len(picked) < n:  # one of each class in turn, so every class is as present as it can be
        for c in range(data.n_classes):
            if rank < per_class[c].size and len(picked) < n:
                picked.append(int(per_class[c][rank]))
        rank += 1
    keep = np.sort(np.asarray(picked))
    return replace(data, X_train=data.X_train[keep], y_train=data.y_train[keep])
