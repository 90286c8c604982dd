"""Classification as a task of the closed loop (`kcm.loop.core.Task`), shared by language and vision.

An answer is a class. The large model's answer for any hint is a lookup in its cached outputs
(`kcm.large_outputs`: variant "hint_<k>" when F_s predicted k, "none" for F_l alone), so every
system and router reads the same cache. Every judge router and the whole ladder apply; the judge
reads a fixed summary of each input beside F_s's probabilities. Out-of-fold folds are
stratified by class.

A modality subclasses `ClassificationTask`: it sets `n_classes`, `large` (model -> split ->
variant -> (N, K)) and `ids` (split -> sample ids), and defines labels, fit_classifier, small_proba and
judge_features.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np
import torch
from sklearn.model_selection import StratifiedKFold

from kcm.large_outputs import hinted_rows
from kcm.loop.core import LOOP_SYSTEMS, SmallState
from kcm.loop.routers import JUDGE_ROUTERS
from kcm.models.softmax_regression import Teachers


class ClassificationTask(ABC):
    views = (None,)
    judge_routers = JUDGE_ROUTERS
    only_binary_judges = False
    loop_systems = tuple(LOOP_SYSTEMS)
    hint_key = None
    metric = "accuracy"
    judge_facts = ("kind", "width", "n_params", "flops")

    n_classes: int
    large: dict[str, dict[str, dict[str, np.ndarray]]]
    ids: dict[str, np.ndarray]  # split -> sample ids (val, test)

    @abstractmethod
    def labels(self, split: str) -> np.ndarray: ...

    @abstractmethod
    def fit_classifier(self, rows: np.ndarray, teachers: Teachers, seed: int) -> Any:
        """F_s trained on the given training rows (teachers aligned with those rows)."""

    @abstractmethod
    def small_proba(self, model: Any, split: str, rows: np.ndarray | None = None) -> np.ndarray: ...

    @abstractmethod
    def judge_features(self, split: str) -> np.ndarray:
        """A fixed representation of each input that the judge reads beside F_s's probabilities."""

    @property
    def larges(self) -> tuple[str, ...]:
        return tuple(self.large)

    @property
    def n_train(self) -> int:
        return len(self.labels("train"))

    def folds(self, n_folds: int, seed: int):
        labels = self.labels("train")
        return StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed).split(np.arange(len(labels)), labels)

    def queries(self, view: None, rows: np.ndarray) -> np.ndarray:
        return rows  # one query per training row

    def fit_small(self, rows: np.ndarray, teachers: Teachers, seed: int) -> Any:
        return self.fit_classifier(rows, teachers.rows(rows), seed)

    def empty_train_outputs(self) -> np.ndarray:
        return np.zeros((self.n_train, self.n_classes))

    def fill_held_out(self, outputs: np.ndarray, model: Any, held_out: np.ndarray, seed: int) -> None:
        outputs[held_out] = self.small_proba(model, "train", held_out)

    def small_outputs(self, model: Any, split: str) -> np.ndarray:
        return self.small_proba(model, split)

    def fit_hint(self, model: Any, val: np.ndarray) -> None:
        return None  # the cache holds F_l's answer for every hint

    def answers(self, outputs: np.ndarray, view: None) -> np.ndarray:
        return outputs.argmax(1)

    def correct(self, split: str, view: None, answers: np.ndarray) -> np.ndarray:
        return answers == self.labels(split)

    def max_softmax(self, outputs: np.ndarray, view: None) -> np.ndarray:
        return outputs.max(1)

    def judge_inputs(self, split: str, outputs: np.ndarray, view: None) -> torch.Tensor:
        x = np.concatenate([self.judge_features(split), outputs], axis=1)
        return torch.as_tensor(x, dtype=torch.float32)

    def large_answers(self, large: str, state: SmallState, split: str, hinted: bool) -> dict[None, np.ndarray]:
        variants = self.large[large][split]
        probs = hinted_rows(variants, getattr(state, split).argmax(1)) if hinted else variants["none"]
        return {None: probs.argmax(1)}

    def no_teachers(self) -> Teachers:
        return Teachers()

    def teachers(self, state: SmallState, large: str, asked: dict, judge_probs: dict | None,
                 hard_labels: bool) -> Teachers:
        train = self.large[large]["train"]
        plain = self.weights.teacher == "plain"  # the robustness sweep's other reading of the teacher
        large_probs = train["none"] if plain else hinted_rows(train, state.train.argmax(1))
        return Teachers(large_probs, asked[None], None if judge_probs is None else judge_probs[None],
                        hard_large=hard_labels)

    def column(self, split: str, entry: str, large: str, view: None, small: np.ndarray, large_answer: np.ndarray,
               confidence: np.ndarray, to_large: np.ndarray) -> dict:
        return {
            "large": large, "entry": entry, "label": self.labels(split), "id": self.ids[split],
            "small_pred": small, "large_pred": large_answer, "confidence": confidence, "to_large": to_large,
            "pred": np.where(to_large, large_answer, small),
        }
