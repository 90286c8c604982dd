"""The two large language models of the embedded default, on cached MiniLM features.

- Large A ("BERT" table): frozen all-MiniLM-L6-v2 + a logistic-regression head. It is trained
  on every training text twice: plain, and with the hint the small model would give it. Those
  hints are out-of-fold predictions (5-fold) of the small model on the training split, so the
  head learns how far to trust a hint of realistic quality, not a hint that is always right.
- Large B ("ChatGPT" stand-in): the same encoder used zero-shot through prompts, no training:
  logits = scale * cos(text, prompt), the prompt `language.large_b.prompt` ("A news headline about
  <class description>.") with the data card's class descriptions.

Both give probabilities for every sample and prompt variant (plain, and hinted with each
class), cached once (`kcm.large_outputs`), so routing sweeps and distillation rounds never
rerun them.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from kcm import large_outputs
from kcm.baselines.text_tfidf import TfidfParams, input_text, pipeline
from kcm.io import read_json
from kcm.tasks.language import features as language_features

log = logging.getLogger(__name__)

PROMPT = "A news headline about {description}."  # language.large_b.prompt's default


def out_of_fold_small_predictions(train: pd.DataFrame, params: TfidfParams, seed: int, folds: int = 5) -> np.ndarray:
    """The small model's prediction for each training text from a model that never saw it."""
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    return cross_val_predict(pipeline(params), input_text(train, params.fields), train["label"].to_numpy(), cv=cv)


def descriptions_for(card: dict) -> dict[str, str] | None:
    """The classes' descriptions from the data card (a class without one is described by its
    name), or None when the dataset gives none (the LLM then lists the class names only)."""
    given = card.get("descriptions") or {}
    return {c: given.get(c, c) for c in card["classes"]} if given else None


def prompt_texts(card: dict, template: str = PROMPT) -> list[str]:
    """One zero-shot prompt per class, in class order."""
    descriptions = descriptions_for(card) or {c: c for c in card["classes"]}
    return [template.format(description=descriptions[c]) for c in card["classes"]]


def zero_shot_probs(arrays: dict[str, np.ndarray], prompt_embeddings: np.ndarray, scale: float) -> dict[str, np.ndarray]:
    out = {}
    for name, x in arrays.items():
        logits = scale * (x @ prompt_embeddings.T)
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        out[name] = p / p.sum(axis=1, keepdims=True)
    return out


def build(kind: str, data_dir: Path, out: Path, *, tfidf: dict, features: Path | None = None, spec: dict | None = None,
          template: str = "", C: float = 10.0, folds: int = 5, seed: int = 0, scale: float = 50.0,
          prompt: str = PROMPT, offline: bool = False) -> None:
    """One large model's probabilities on every split and prompt variant (train rows out-of-fold
    for trained models), written as `kcm.large_outputs` tables. kind: large A = head | finetune,
    large B = zero-shot | llm | endpoint; `tfidf` is the small model's config section (its
    out-of-fold hints), `spec` the kind's config section."""
    card = read_json(data_dir / "card.json")
    frames = {s: pd.read_parquet(data_dir / f"{s}.parquet") for s in ("train", "val", "test")}
    text = dict(tfidf)
    params = TfidfParams(fields=tuple(text.pop("fields")), **text)
    spec = dict(spec or {})
    if kind in ("head", "finetune"):
        hints = out_of_fold_small_predictions(frames["train"], params, seed, folds)
    if kind == "head":
        inputs = {s: large_outputs.VariantInputs(language_features.load(features, s, f["id"])) for s, f in frames.items()}
        probs = large_outputs.head_outputs(inputs, frames["train"]["label"].to_numpy(), hints, C, folds, seed)
    elif kind == "finetune":
        from kcm.models import hf_classifier

        model_id = spec.pop("model_id")
        probs = hf_classifier.large_outputs(
            frames["train"], frames["val"], frames["test"], fields=params.fields, classes=card["classes"],
            template=template, small_oof_hints_train=hints, model_id=model_id, folds=folds,
            seed=seed, offline=offline, **spec,
        )
    elif kind == "llm":
        from kcm.models import instruct_llm

        probs = instruct_llm.prompted_outputs(
            frames, fields=params.fields, classes=card["classes"],
            descriptions=descriptions_for(card), model_id=spec["model_id"],
            offline=offline, batch_size=spec["batch_size"], max_length=spec["max_length"], dtype=spec["dtype"],
        )
    elif kind == "endpoint":
        from kcm.models import instruct_llm

        probs, report = instruct_llm.prompted_outputs_api(
            frames, fields=params.fields, classes=card["classes"],
            descriptions=descriptions_for(card), endpoint=instruct_llm.Endpoint(**spec),
        )
        log.info("endpoint report: %s", json.dumps(report, sort_keys=True))
    elif kind == "zero-shot":
        import torch

        from kcm.models.text_encoder import SentenceEncoder

        arrays = {s: language_features.load(features, s, f["id"]) for s, f in frames.items()}
        torch.set_num_threads(1)  # fixed thread count: identical bytes on every machine
        prompts = SentenceEncoder().encode(prompt_texts(card, prompt))
        probs = {s: zero_shot_probs(a, prompts, scale) for s, a in arrays.items()}
    else:
        raise ValueError(f"unknown large language model kind {kind!r}")
    large_outputs.write_outputs(out, probs, {s: f["id"].tolist() for s, f in frames.items()})
