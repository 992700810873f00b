"""Bundled data sets (each with its feature space and a fixed, seeded split) and CSV import."""

from modelsteal.datasets.base import Dataset
from modelsteal.datasets.bundled import DATASETS, dataset_names, load_dataset
from modelsteal.datasets.csv_import import load_csv

__all__ = ["DATASETS", "Dataset", "dataset_names", "load_csv", "load_dataset"]
