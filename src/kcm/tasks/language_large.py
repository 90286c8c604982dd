"""The two large language models of the embedded default, on cached MiniLM features.

- Large A ("BERT" table): frozen all-MiniLM-L6-v2 + a logistic-regression head. It is trained
  on every training text twice: plain, and with the hint the small model would give it. Those
  hints are out-of-fold predictions (5-fold) of the small model on the training split, so the
  head learns how far to trust a hint of realistic quality, not a hint that is always right.
- Large B ("ChatGPT" stand-in): the same encoder used zero-shot through prompts, no training:
  logits = scale * cos(text, "A news headline about <label description>.").

Both give probabilities for every sample and prompt variant (plain, and hinted with each
class), cached once (`kcm.large_outputs`), so routing sweeps and distillation rounds never
rerun them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from kcm.baselines.text_tfidf import TfidfParams, input_text, pipeline

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
