"""The two large language models of the embedded default, on cached MiniLM features.

- Large A ("BERT" table): frozen all-MiniLM-L6-v2 + a logistic-regression head. It is trained
  on every training text twice: plain, and with the hint the small model would give it. Those
  hints are out-of-fold predictions (5-fold) of the small model on the training split, so the
  head learns how far to trust a hint of realistic quality, not a hint that is always right.
- Large B ("ChatGPT" stand-in): the same encoder used zero-shot through prompts, no training:
  logits = scale * cos(text, "A news headline about <label description>.").

Both give probabilities for every sample and prompt variant (plain, and hinted with each
class), cached once, so routing sweeps and distillation rounds never rerun them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from kcm.baselines.text_tfidf import TfidfParams, input_text, pipeline
from kcm.collab import hinted_rows

LABEL_DESCRIPTIONS = {
    "business": "business, companies, markets and the economy",
    "entertainment": "entertainment, film, music, television and celebrities",
    "politics": "politics, government, parties and elections",
    "sports": "sport, matches, teams and athletes",
    "tech": "technology, computers, the internet and gadgets",
}
PROMPT = "A news headline about {description}."


def out_of_fold_small_predictions(train: pd.DataFrame, params: TfidfParams, seed: int, folds: int = 5) -> np.ndarray:
    """The small model's prediction for each training text from a model that never saw it."""
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    return cross_val_predict(pipeline(params), input_text(train, params.fields), train["label"].to_numpy(), cv=cv)


def fit_head(train_arrays: dict[str, np.ndarray], labels: np.ndarray, hints: np.ndarray, C: float) -> LogisticRegression:
    x = np.concatenate([train_arrays["none"], hinted_rows(train_arrays, hints)])
    y = np.concatenate([labels, labels])
    return LogisticRegression(C=C, max_iter=5000).fit(x, y)


def head_probs(head: LogisticRegression, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {name: head.predict_proba(x) for name, x in arrays.items()}


def descriptions_for(classes: list[str]) -> dict[str, str] | None:
    """Label descriptions for an instruction LLM's prompt, when every class has one."""
    if all(c in LABEL_DESCRIPTIONS for c in classes):
        return {c: LABEL_DESCRIPTIONS[c] for c in classes}
    return None


def prompt_texts(classes: list[str]) -> list[str]:
    missing = [c for c in classes if c not in LABEL_DESCRIPTIONS]
    if missing:
        raise KeyError(f"no label description for classes {missing}")
    return [PROMPT.format(description=LABEL_DESCRIPTIONS[c]) for c in classes]


def zero_shot_probs(arrays: dict[str, np.ndarray], prompt_embeddings: np.ndarray, scale: float) -> dict[str, np.ndarray]:
    out = {}
    for name, x in arrays.items():
        logits = scale * (x @ prompt_embeddings.T)
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        out[name] = p / p.sum(axis=1, keepdims=True)
    return out


def to_frame(ids, split: str, probs: dict[str, np.ndarray]) -> pd.DataFrame:
    """Long table: one row per (sample, variant) with prob_0..prob_{K-1}."""
    frames = []
    for name, p in probs.items():
        frame = pd.DataFrame({"id": np.asarray(ids), "split": split, "variant": name})
        for k in range(p.shape[1]):
            frame[f"prob_{k}"] = p[:, k]
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def head_outputs(arrays: dict[str, dict[str, np.ndarray]], train_labels: np.ndarray, train_hints: np.ndarray,
                 C: float, folds: int, seed: int) -> dict[str, dict[str, np.ndarray]]:
    """Large A's probabilities on every split and variant. Train rows are out-of-fold (each
    predicted by a head that never saw it), because the loop distils them into F_s."""
    train = arrays["train"]
    n = len(train_labels)
    out = {"train": {name: np.zeros((n, int(train_labels.max()) + 1)) for name in train}}
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for fit_rows, held_out in cv.split(np.zeros(n), train_labels):
        head = fit_head({k: v[fit_rows] for k, v in train.items()}, train_labels[fit_rows], train_hints[fit_rows], C)
        for name, p in head_probs(head, {k: v[held_out] for k, v in train.items()}).items():
            out["train"][name][held_out] = p
    head = fit_head(train, train_labels, train_hints, C)
    out.update({split: head_probs(head, arrays[split]) for split in arrays if split != "train"})
    return out


def outputs_frame(ids: dict[str, pd.Series], probs: dict[str, dict[str, np.ndarray]]) -> pd.DataFrame:
    """Every split's long table, in split order: the cached large-model artifact."""
    return pd.concat([to_frame(ids[split], split, probs[split]) for split in probs], ignore_index=True)
