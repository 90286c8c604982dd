"""The long-tailed vision experiment as a classification task of the loop
(`kcm.tasks.classification`): MNIST-LT (or CIFAR-100-LT), a
CIFAR ResNet small model trained from scratch, and a large model's cached outputs.

Prompt modification for vision (DESIGN.md): the small model's prediction is fused into the
large model's head input (a one-hot hint beside the frozen backbone's features), so, as for
text, the large model's answer for any hint is a cached lookup. The judge reads a fixed
16-d PCA of the image (fitted on train) beside the small model's probabilities.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.decomposition import PCA

from kcm.data import resplit
from kcm.data.image_folder import read_image_split
from kcm.data.split import SPLITS
from kcm.distill import DistillWeights
from kcm.io import read_json
from kcm.large_outputs import read_large
from kcm.models.image_trainer import fit_image_classifier, predict_proba
from kcm.models.resnet_cifar import ResNetCifar
from kcm.models.softmax_regression import Teachers
from kcm.tasks.classification import ClassificationTask


@dataclass(frozen=True)
class SmallImageParams:
    depth: int = 8
    width: int = 16
    epochs: int = 10
    batch_size: int = 32
    lr: float = 0.01
    weight_decay: float = 0.05
    augment: bool = True
    optimizer: str = "adamw"


def small_params(params: dict) -> SmallImageParams:
    """The config's vision.small section."""
    return SmallImageParams(**params["small"])


def load_images(data_dir: Path) -> tuple[dict, dict]:
    """(frames, images) per split from a dataset folder written by kcm.data.image_folder."""
    card = read_json(Path(data_dir) / "card.json")
    shape = tuple(card["image_shape"])
    frames, images = {}, {}
    for split in SPLITS:
        frames[split], images[split] = read_image_split(Path(data_dir) / f"{split}.parquet", shape)
    return frames, images


class VisionTask(ClassificationTask):
    def __init__(self, data_dir: Path, large_paths: dict[str, Path], small: SmallImageParams,
                 weights: DistillWeights, pca_dim: int = 16, split_seed: int | None = None):
        """split_seed: None keeps the data folder's train/val; k re-draws them (`kcm.data.resplit`)."""
        card = read_json(Path(data_dir) / "card.json")
        self.classes = card["classes"]
        self.n_classes = len(self.classes)
        self.frames, self.images = load_images(data_dir)
        # the cache matches rows by split name, so it is read against the data folder's split
        self.large = {name: read_large(path, self.frames, self.n_classes) for name, path in large_paths.items()}
        if split_seed is not None:
            rows = resplit.partition(self.frames["train"]["label"], self.frames["val"]["label"], split_seed)
            self.frames, self.images = resplit.apply(self.frames, rows), resplit.apply(self.images, rows)
            self.large = {name: resplit.apply(large, rows) for name, large in self.large.items()}
        self.small, self.weights = small, weights
        self._labels = {s: f["label"].to_numpy().copy() for s, f in self.frames.items()}
        flat = {s: x.reshape(len(x), -1).astype(np.float32) / 255.0 for s, x in self.images.items()}
        if pca_dim:
            pca = PCA(n_components=pca_dim, random_state=0).fit(flat["train"])
            self._judge_features = {s: pca.transform(x).astype(np.float32) for s, x in flat.items()}
        else:  # the judge reads F_s's probabilities only
            self._judge_features = {s: np.zeros((len(x), 0), np.float32) for s, x in flat.items()}
        self.ids = {s: self.frames[s]["id"].to_numpy() for s in ("val", "test")}

    def labels(self, split: str) -> np.ndarray:
        return self._labels[split]

    def fit_classifier(self, rows: np.ndarray, teachers: Teachers, seed: int):
        p = self.small
        model = ResNetCifar(depth=p.depth, n_classes=self.n_classes,
                            in_channels=self.images["train"].shape[-1], width=p.width)
        return fit_image_classifier(
            model, self.images["train"][rows], self._labels["train"][rows], teachers=teachers,
            weights=self.weights, epochs=p.epochs, batch_size=p.batch_size, lr=p.lr,
            weight_decay=p.weight_decay, seed=seed, augment=p.augment, optimizer=p.optimizer,
        )

    def small_proba(self, model, split: str, rows: np.ndarray | None = None) -> np.ndarray:
        images = self.images[split] if rows is None else self.images[split][rows]
        return predict_proba(model, images)

    def judge_features(self, split: str) -> np.ndarray:
        return self._judge_features[split]
