"""The long-tailed vision experiment's large model: frozen-backbone features plus a head that
reads the small model's hint, its probabilities cached for every split and hint variant."""

from __future__ import annotations

from pathlib import Path

import torch

from kcm import large_outputs
from kcm.loop.core import loop_config, train_small
from kcm.tasks.vision import features as vision_features
from kcm.tasks.vision.task import VisionTask, hint_arrays, small_params


def head_outputs(data_dir: Path, features: Path, params: dict, C: float, folds: int, seed: int) -> dict:
    """The large head's probabilities on every split and hint variant. Its training hints are
    the small model's out-of-fold predictions, so it learns how far to trust a real hint."""
    torch.set_num_threads(1)
    cfg = loop_config(params)
    task = VisionTask(data_dir, {}, small_params(params), cfg.weights, params["loop"]["pca_dim"])
    hints = train_small(task, task.no_teachers(), cfg, seed).train.argmax(1)
    arrays = {
        split: hint_arrays(vision_features.load(features, split, frame["id"]), task.n_classes)
        for split, frame in task.frames.items()
    }
    return large_outputs.head_outputs(arrays, task.labels("train"), hints, C, folds, seed)


def build(data_dir: Path, features: Path, out: Path, params: dict, C: float, folds: int, seed: int) -> None:
    """`head_outputs` written as the large model's cached outputs (`kcm.large_outputs`)."""
    from kcm.tasks.vision.task import load_images

    probs = head_outputs(data_dir, features, params, C, folds, seed)
    frames, _ = load_images(data_dir)
    large_outputs.write_outputs(out, probs, {s: f["id"].tolist() for s, f in frames.items()})
