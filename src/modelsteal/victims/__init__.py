"""Victim models: adapters, training, and model directories in safe formats."""

from modelsteal.victims.base import SklearnVictim, TorchVictim, Victim
from modelsteal.victims.model_dir import ModelDir, load_model_dir, read_card, save_model_dir
from modelsteal.victims.training import MODEL_FAMILIES, TrainOptions, train_victim

__all__ = [
    "MODEL_FAMILIES",
    "ModelDir",
    "SklearnVictim",
    "TorchVictim",
    "TrainOptions",
    "Victim",
    "load_model_dir",
    "read_card",
    "save_model_dir",
    "train_victim",
]
