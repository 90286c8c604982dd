"""A cheap text classifier: TF-IDF n-grams + multinomial logistic regression (scikit-learn).

This is the language experiment's small model F_s; lbfgs is deterministic, so the same split
and parameters give the same probabilities on every run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from kcm.io import read_json, write_parquet


@dataclass(frozen=True)
class TfidfParams:
    fields: tuple[str, ...] = ("title",)
    C: float = 10.0
    max_features: int | None = 50000
    ngram_max: int = 2
    min_df: int = 1
    sublinear_tf: bool = True


def input_text(frame: pd.DataFrame, fields: tuple[str, ...]) -> pd.Series:
    missing = [f for f in fields if f not in frame.columns]
    if missing:
        raise KeyError(f"text fields {missing} not in data columns {list(frame.columns)}")
    return frame[list(fields)].astype(str).agg(" ".join, axis=1)


def pipeline(params: TfidfParams):
    """The unfitted scikit-learn pipeline (for cross-validation)."""
    return make_pipeline(
        TfidfVectorizer(
            ngram_range=(1, params.ngram_max),
            max_features=params.max_features,
            min_df=params.min_df,
            sublinear_tf=params.sublinear_tf,
        ),
        LogisticRegression(C=params.C, max_iter=5000),
    )


def fit(train: pd.DataFrame, params: TfidfParams):
    return pipeline(params).fit(input_text(train, params.fields), train["label"].to_numpy())


def predict(model, frame: pd.DataFrame, params: TfidfParams, split: str, n_classes: int) -> pd.DataFrame:
    """Per-sample predictions: id, split, label, pred, confidence and one prob_<k> per class."""
    proba = np.zeros((len(frame), n_classes))
    proba[:, model.classes_] = model.predict_proba(input_text(frame, params.fields))
    out = pd.DataFrame(
        {
            "id": frame["id"].to_numpy(),
            "split": split,
            "label": frame["label"].to_numpy(),
            "pred": proba.argmax(axis=1),
            "confidence": proba.max(axis=1),
        }
    )
    for k in range(n_classes):
        out[f"prob_{k}"] = proba[:, k]
    return out


def fit_and_predict(data_dir: Path, out: Path, params: TfidfParams, eval_splits: list[str]) -> None:
    """Fit on the dataset folder's train split; write predictions on `eval_splits` (.parquet)."""
    card = read_json(data_dir / "card.json")
    model = fit(pd.read_parquet(data_dir / "train.parquet"), params)
    frames = [
        predict(model, pd.read_parquet(data_dir / f"{split}.parquet"), params, split, len(card["classes"]))
        for split in eval_splits
    ]
    write_parquet(out, pd.concat(frames, ignore_index=True))
