"""Tiny synthetic tasks for the closed loop: a classification task and a retrieval task."""

import numpy as np
import torch
from retrieval_fakes import unit
from scipy import sparse

from kcm.distill import DistillWeights
from kcm.judges import JudgeConfig
from kcm.loop.core import LoopConfig
from kcm.models.small_retrieval import SmallRetrievalParams
from kcm.models.softmax_regression import SoftmaxRegression
from kcm.tasks.classification import ClassificationTask
from kcm.tasks.retrieval.task import RetrievalParams, RetrievalTask, SplitData

K = 3
WEIGHTS = DistillWeights(eps=0.9)
CFG = LoopConfig(eps=0.9, rounds=2, folds=3, weights=WEIGHTS, judge=JudgeConfig(hidden=(4,), max_epochs=40, patience=5))


class SyntheticTask(ClassificationTask):
    """Gaussian classes the small model sees through noise; the large model is better, and its
    hinted variant leans toward the hinted class."""

    n_classes = K
    weights = WEIGHTS  # the distillation settings a ClassificationTask carries (its teacher among them)

    def __init__(self, n=(240, 90, 150), seed=0):
        rng = np.random.default_rng(seed)
        self.y, self.x, self.features = {}, {}, {}
        centres = rng.normal(0, 1.0, (K, 6))
        self.large = {"L": {}}
        for split, size in zip(("train", "val", "test"), n):
            y = rng.integers(0, K, size)
            clean = centres[y] + rng.normal(0, 0.6, (size, 6))
            self.y[split] = y
            self.x[split] = torch.as_tensor(clean + rng.normal(0, 1.2, clean.shape))
            self.features[split] = clean[:, :2].astype(np.float32)
            logits = 4.0 * np.eye(K)[y] + rng.normal(0, 1.5, (size, K))
            variants = {"none": logits}
            for k in range(K):
                variants[f"hint_{k}"] = logits + 1.0 * np.eye(K)[k]
            self.large["L"][split] = {v: np.exp(z) / np.exp(z).sum(1, keepdims=True) for v, z in variants.items()}
        self.ids = {s: np.array([f"{s}{i}" for i in range(size)], dtype=object) for s, size in zip(("val", "test"), n[1:])}
        self.fit_rows = []

    def labels(self, split):
        return self.y[split]

    def fit_classifier(self, rows, teachers, seed):
        self.fit_rows.append(np.asarray(rows))
        return SoftmaxRegression(C=1.0).fit(self.x["train"][rows], self.y["train"][rows], K, teachers, WEIGHTS)

    def small_proba(self, model, split, rows=None):
        x = self.x[split] if rows is None else self.x[split][rows]
        return model.proba(x)

    def judge_features(self, split):
        return self.features[split]


RETRIEVAL_CFG = LoopConfig(eps=0.7, rounds=1, folds=2, weights=DistillWeights(lambda_ls=1.0, temperature=1.0),
                           judge=JudgeConfig(hidden=(4,), max_epochs=10, patience=3))
RETRIEVAL_PARAMS = RetrievalParams(shortlist=5, alphas=(0.0, 0.5), top_m=4,
                                   small=SmallRetrievalParams(dim=8, steps=40, batch_size=16))


def make_split(rng, n, maps, latent=6):
    """One split: a latent code per image; F_s sees noisy linear views of it, F_l cleaner ones.
    Query feature 0 is the query's own index (lets a test tell which rows were scored)."""
    A, B, C = maps
    z = rng.normal(size=(n, latent))
    c2i = np.repeat(np.arange(n), rng.integers(1, 3, n)).astype(np.int64)
    zc = z[c2i] + 0.3 * rng.normal(size=(len(c2i), latent))
    image_x = (z @ A + rng.normal(size=(n, A.shape[1]))).astype(np.float32)
    text = (zc @ B + rng.normal(size=(len(c2i), B.shape[1]))).astype(np.float32)
    large_image = unit(z @ C + 0.3 * rng.normal(size=(n, C.shape[1]))).astype(np.float32)
    large_text = unit(zc @ C + 0.3 * rng.normal(size=(len(c2i), C.shape[1]))).astype(np.float32)
    qf = {"i2t": np.c_[np.arange(n), image_x[:, :2]].astype(np.float32),
          "t2i": np.c_[np.arange(len(c2i)), text[:, :2]].astype(np.float32)}
    return SplitData(image_x, sparse.csr_matrix(text), c2i, large_image, large_text, qf)


def make_retrieval_task(sizes=(60, 20, 20), seed=0, params=RETRIEVAL_PARAMS):
    rng = np.random.default_rng(seed)
    maps = rng.normal(size=(6, 10)), rng.normal(size=(6, 12)), rng.normal(size=(6, 16))
    splits = {s: make_split(rng, n, maps) for s, n in zip(("train", "val", "test"), sizes)}
    ids = {s: {"i2t": np.array([f"{s}-i{i}" for i in range(splits[s].n_images)], dtype=object),
               "t2i": np.array([f"{s}-c{i}" for i in range(len(splits[s].caption_to_image))], dtype=object)}
           for s in ("val", "test")}
    return RetrievalTask(splits, 20.0, params, RETRIEVAL_CFG.weights, ids)
