"""Large model A of the paper profile: a pretrained encoder (BERT-base) fine-tuned for the task.

Like the embedded default's MiniLM head (kcm.tasks.language.large), it is trained on every
training text twice: plain, and hinted with the small model's out-of-fold prediction, so it
learns how far to trust a hint of realistic quality. It then gives probabilities for every
sample and prompt variant ("none", "hint_<k>"). Training-split outputs are out-of-fold (each
row predicted by a model fine-tuned without it), because the workflow distils them into the
small model; val/test outputs come from one model fine-tuned on the whole training split.

Deterministic on CPU: the model's head initialisation, dropout and batch order all draw from a
seeded RNG inside `torch.random.fork_rng`, so the caller's global RNG state is left untouched.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from sklearn.model_selection import StratifiedKFold

from kcm import device as kcm_device
from kcm.baselines.text_tfidf import input_text
from kcm.text_hints import variants


@dataclass(frozen=True)
class FineTuneParams:
    epochs: int = 3
    lr: float = 2e-5
    batch_size: int = 16
    eval_batch_size: int = 64
    max_length: int = 128
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    max_grad_norm: float = 1.0
    device: str | None = None  # None: CUDA if available, else CPU


def load_tokenizer(model_id: str, offline: bool):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(model_id, local_files_only=offline)


def hinted_texts(texts: list[str], hints: np.ndarray, classes: list[str], template: str) -> list[str]:
    """Each text with its own hint written in (the hint template of the embedded default)."""
    per_class = variants(texts, classes, template)
    return [per_class[f"hint_{int(k)}"][i] for i, k in enumerate(hints)]


def _optimizer(model, params: FineTuneParams):
    # The usual BERT recipe: no weight decay on biases and LayerNorm weights.
    decay, no_decay = [], []
    for p in model.parameters():
        (no_decay if p.ndim < 2 else decay).append(p)
    groups = [{"params": decay, "weight_decay": params.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=params.lr)


def fine_tune(texts: list[str], labels: np.ndarray, *, model_id: str, n_classes: int, tokenizer, seed: int,
              offline: bool, params: FineTuneParams):
    """A fresh copy of the pretrained model, fine-tuned on (texts, labels); returned in eval mode."""
    from tqdm import tqdm
    from transformers import (
        AutoModelForSequenceClassification,
        get_linear_schedule_with_warmup,
    )

    device = kcm_device.pick(params.device)
    forked = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=forked):
        torch.manual_seed(seed)  # the new head's initialisation and dropout
        # A checkpoint that already has a head for another label count gets a fresh head.
        model = AutoModelForSequenceClassification.from_pretrained(
            model_id, num_labels=n_classes, local_files_only=offline, ignore_mismatched_sizes=True
        ).to(device)
        model.train()
        generator = torch.Generator().manual_seed(seed)  # batch order
        steps_per_epoch = -(-len(texts) // params.batch_size)
        total = params.epochs * steps_per_epoch
        optimizer = _optimizer(model, params)
        schedule = get_linear_schedule_with_warmup(optimizer, int(params.warmup_ratio * total), total)
        y = torch.tensor(np.asarray(labels), dtype=torch.long)
        for _ in tqdm(range(params.epochs), desc="fine-tune", unit="epoch"):
            order = torch.randperm(len(texts), generator=generator).tolist()
            for start in range(0, len(order), params.batch_size):
                rows = order[start : start + params.batch_size]
                batch = tokenizer([texts[i] for i in rows], padding=True, truncation=True,
                                  max_length=params.max_length, return_tensors="pt").to(device)
                loss = torch.nn.functional.cross_entropy(model(**batch).logits.float(), y[rows].to(device))
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), params.max_grad_norm)
                optimizer.step()
                schedule.step()
                optimizer.zero_grad(set_to_none=True)
    return model.eval()


@torch.inference_mode()
def predict_probs(model, tokenizer, texts: list[str], params: FineTuneParams) -> np.ndarray:
    """(len(texts), K) float64 probabilities, softmax in float64 so rows sum to 1."""
    device = next(model.parameters()).device
    logits = []
    for start in range(0, len(texts), params.eval_batch_size):
        batch = tokenizer(texts[start : start + params.eval_batch_size], padding=True, truncation=True,
                          max_length=params.max_length, return_tensors="pt").to(device)
        logits.append(model(**batch).logits.double().cpu())
    n_classes = int(model.config.num_labels)
    if not logits:
        return np.zeros((0, n_classes))
    probs = torch.cat(logits).softmax(-1).numpy()
    if not np.isfinite(probs).all():
        raise FloatingPointError("non-finite probabilities from the fine-tuned model (lower the learning rate)")
    return probs


def variant_probs(model, tokenizer, texts: list[str], classes: list[str], template: str,
                  params: FineTuneParams) -> dict[str, np.ndarray]:
    return {name: predict_probs(model, tokenizer, v, params) for name, v in variants(texts, classes, template).items()}


def fold_plan(labels: np.ndarray, folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(rows to fine-tune on, rows to predict) per fold; folds=0: one in-sample model for all rows."""
    if folds == 0:
        every = np.arange(len(labels))
        return [(every, every)]
    if folds < 2:
        raise ValueError(f"folds must be 0 (in-sample) or at least 2, got {folds}")
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    return list(cv.split(np.zeros(len(labels)), labels))


def large_outputs(
    train: pd.DataFrame,
    val: pd.DataFrame,
    test: pd.DataFrame,
    *,
    fields: tuple[str, ...],
    classes: list[str],
    template: str,
    small_oof_hints_train: np.ndarray,
    model_id: str,
    folds: int,
    seed: int,
    offline: bool,
    **train_params,
) -> dict[str, dict[str, np.ndarray]]:
    """split -> variant -> (N, K) probabilities; train rows out-of-fold (in-sample if folds=0)."""
    params = FineTuneParams(**train_params)
    hints = np.asarray(small_oof_hints_train)
    if hints.shape != (len(train),):
        raise ValueError(f"need one small-model hint per training row: {hints.shape} vs {len(train)} rows")
    if hints.size and (hints.min() < 0 or hints.max() >= len(classes)):
        raise ValueError(f"hints must be class indices in [0, {len(classes)})")
    tokenizer = load_tokenizer(model_id, offline)
    texts = input_text(train, fields).tolist()
    labels = train["label"].to_numpy()
    hinted = hinted_texts(texts, hints, classes, template)

    def fit(rows: np.ndarray, fold_seed: int):
        # Every training text twice: plain, and with its realistic (out-of-fold) hint.
        x = [texts[i] for i in rows] + [hinted[i] for i in rows]
        y = np.concatenate([labels[rows], labels[rows]])
        return fine_tune(x, y, model_id=model_id, n_classes=len(classes), tokenizer=tokenizer, seed=fold_seed,
                         offline=offline, params=params)

    names = ["none", *(f"hint_{k}" for k in range(len(classes)))]
    out_train = {name: np.zeros((len(train), len(classes))) for name in names}
    for fold, (fit_rows, predict_rows) in enumerate(fold_plan(labels, folds, seed)):
        model = fit(fit_rows, seed + 1 + fold if folds else seed)
        for name, p in variant_probs(model, tokenizer, [texts[i] for i in predict_rows], classes, template, params).items():
            out_train[name][predict_rows] = p
    if folds:
        del model
        full = fit(np.arange(len(train)), seed)
    else:  # the one in-sample model already saw every training row: reuse it for val/test
        full = model
    outputs = {"train": out_train}
    for split, frame in (("val", val), ("test", test)):
        outputs[split] = variant_probs(full, tokenizer, input_text(frame, fields).tolist(), classes, template, params)
    return outputs
