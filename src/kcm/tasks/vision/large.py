"""The long-tailed vision experiment's large model: frozen-backbone features plus a head that
reads the small model's hint, its probabilities cached for every split and hint variant."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from kcm import large_outputs
from kcm.data.split import SPLITS
from kcm.loop.core import loop_config, train_small
from kcm.tasks.vision import features as vision_features
from kcm.tasks.vision.task import VisionTask, small_params


def small_task(data_dir: Path, params: dict) -> VisionTask:
    """The data folder as the small model's task (its images, labels and split), no large model."""
    return VisionTask(data_dir, {}, small_params(params), loop_config(params).weights, params["loop"]["pca_dim"])


def out_of_fold_hints(task: VisionTask, params: dict, seed: int) -> np.ndarray:
    """The small model's out-of-fold predictions on train: the hints a large head learns from."""
    return train_small(task, task.no_teachers(), loop_config(params), seed).train.argmax(1)


def head_outputs(data_dir: Path, features: Path, params: dict, C: float, folds: int, seed: int) -> dict:
    """The large head's probabilities on every split and hint variant. Its training hints are
    the small model's out-of-fold predictions, so it learns how far to trust a real hint. The
    hint is a one-hot beside the features (`large_outputs.OneHotHintInputs`)."""
    torch.set_num_threads(1)
    task = small_task(data_dir, params)
    labels, n_classes, hints = task.labels("train"), task.n_classes, out_of_fold_hints(task, params, seed)
    del task  # its images: the head reads the features
    inputs = {
        split: large_outputs.OneHotHintInputs(vision_features.load(features, split, ids), n_classes)
        for split, ids in split_ids(data_dir).items()
    }
    return large_outputs.head_outputs(inputs, labels, hints, C, folds, seed)


def split_ids(data_dir: Path) -> dict[str, list]:
    """Each split's sample ids, in the split file's order (the images are not read)."""
    return {split: pd.read_parquet(Path(data_dir) / f"{split}.parquet", columns=["id"])["id"].tolist()
            for split in SPLITS}


def build(data_dir: Path, features: Path, out: Path, params: dict, C: float, folds: int, seed: int) -> None:
    """`head_outputs` written as the large model's cached outputs (`kcm.large_outputs`)."""
    probs = head_outputs(data_dir, features, params, C, folds, seed)
    large_outputs.write_outputs(out, probs, split_ids(data_dir))
