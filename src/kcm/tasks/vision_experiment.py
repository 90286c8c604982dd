"""The long-tailed vision experiment's steps: the large model's cached outputs (frozen
backbone features + a head that reads the small model's hint) and one seed of every system
and router (artifacts as `kcm.experiment` writes them)."""

from __future__ import annotations

from pathlib import Path

import torch

from kcm import large_outputs, rounds
from kcm.experiment import loop_config, run_and_write
from kcm.models.softmax_regression import Teachers
from kcm.tasks import vision_features
from kcm.tasks.vision import SmallImageParams, VisionTask, hint_arrays


def small_params(params: dict) -> SmallImageParams:
    return SmallImageParams(**params["small"])


def head_outputs(data_dir: Path, features: Path, params: dict, C: float, folds: int, seed: int) -> dict:
    """The large head's probabilities on every split and hint variant. Its training hints are
    the small model's out-of-fold predictions, so it learns how far to trust a real hint."""
    torch.set_num_threads(1)
    cfg = loop_config(params)
    task = VisionTask(data_dir, {}, small_params(params), cfg.weights, seed, params["loop"]["pca_dim"])
    hints = rounds.train_small(task, Teachers(), cfg, seed).train.argmax(1)
    arrays = {
        split: hint_arrays(vision_features.load(features, split, frame["id"]), task.n_classes)
        for split, frame in task.frames.items()
    }
    return large_outputs.head_outputs(arrays, task.labels("train"), hints, C, folds, seed)


def run(data_dir: Path, large_paths: dict[str, Path], seed: int, params: dict, out_dir: Path) -> None:
    torch.set_num_threads(1)  # one thread: same bytes on every machine; Snakemake runs seeds in parallel
    cfg = loop_config(params)
    task = VisionTask(data_dir, large_paths, small_params(params), cfg.weights, seed, params["loop"]["pca_dim"])
    run_and_write(task, task.frames["test"]["id"], cfg, seed, params, out_dir)


def features(data_dir: Path, out: Path, batch_size: int) -> None:
    from kcm.models.lite0 import Lite0Features
    from kcm.tasks.vision import load_images

    torch.set_num_threads(1)  # fixed (float sums depend on it); 1 thread beat 2 on these small convolutions
    frames, images = load_images(data_dir)
    vision_features.build(images, {s: f["id"] for s, f in frames.items()}, out,
                          Lite0Features(batch_size=batch_size), "timm tf_efficientnet_lite0 (ImageNet)")

