"""The language experiment as a classification task of the loop (`kcm.tasks.classification`): BBC headlines (or any dataset folder in the
same format), a TF-IDF softmax-regression small model, and cached large-model outputs.

The judge reads a fixed 16-d summary of the small model's input (truncated SVD of the TF-IDF
rows, fitted on train) beside the small model's probabilities: the "small model's features
and probabilities" of DESIGN.md, small enough for a KAN.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer

from kcm.baselines.text_tfidf import TfidfParams, input_text
from kcm.data import resplit
from kcm.data.split import SPLITS
from kcm.distill import DistillWeights
from kcm.io import read_json
from kcm.large_outputs import read_large
from kcm.models.softmax_regression import SoftmaxRegression, Teachers, csr_tensor
from kcm.tasks.classification import ClassificationTask


class LanguageTask(ClassificationTask):
    def __init__(self, data_dir: Path, large_paths: dict[str, Path], tfidf: TfidfParams,
                 weights: DistillWeights, svd_dim: int = 16, seed: int = 0, split_seed: int | None = None):
        """split_seed: None keeps the data folder's train/val; k re-draws them (`kcm.data.resplit`)."""
        data_dir = Path(data_dir)
        card = read_json(data_dir / "card.json")
        self.classes = card["classes"]
        self.n_classes = len(self.classes)
        self.frames = {s: pd.read_parquet(data_dir / f"{s}.parquet") for s in SPLITS}
        # the cache matches rows by split name, so it is read against the data folder's split
        self.large = {name: read_large(path, self.frames, self.n_classes) for name, path in large_paths.items()}
        if split_seed is not None:
            rows = resplit.partition(self.frames["train"]["label"], self.frames["val"]["label"], split_seed)
            self.frames = resplit.apply(self.frames, rows)
            self.large = {name: resplit.apply(large, rows) for name, large in self.large.items()}
        self.tfidf, self.weights = tfidf, weights
        texts = {s: input_text(f, tfidf.fields) for s, f in self.frames.items()}
        vectorizer = TfidfVectorizer(
            ngram_range=(1, tfidf.ngram_max), max_features=tfidf.max_features,
            min_df=tfidf.min_df, sublinear_tf=tfidf.sublinear_tf,
        ).fit(texts["train"])
        matrices = {s: vectorizer.transform(t) for s, t in texts.items()}
        self.x = matrices  # scipy CSR; rows are taken there, then handed to torch
        if svd_dim:
            svd = TruncatedSVD(n_components=svd_dim, random_state=seed).fit(matrices["train"])
            self._judge_features = {s: svd.transform(m).astype(np.float32) for s, m in matrices.items()}
        else:  # the judge reads F_s's probabilities only
            self._judge_features = {s: np.zeros((m.shape[0], 0), np.float32) for s, m in matrices.items()}
        self._labels = {s: f["label"].to_numpy().copy() for s, f in self.frames.items()}
        self.ids = {s: self.frames[s]["id"].to_numpy() for s in ("val", "test")}

    def labels(self, split: str) -> np.ndarray:
        return self._labels[split]

    def fit_classifier(self, rows: np.ndarray, teachers: Teachers, seed: int) -> SoftmaxRegression:
        # full-batch L-BFGS: no randomness, so no seed to use
        x = csr_tensor(self.x["train"][rows])
        return SoftmaxRegression(C=self.tfidf.C).fit(x, self._labels["train"][rows], self.n_classes,
                                                     teachers, self.weights)

    def small_proba(self, model: SoftmaxRegression, split: str, rows: np.ndarray | None = None) -> np.ndarray:
        x = self.x[split] if rows is None else self.x[split][rows]
        return model.proba(csr_tensor(x))

    def judge_features(self, split: str) -> np.ndarray:
        return self._judge_features[split]
