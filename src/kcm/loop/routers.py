"""Who asks the large model: every router's confidence C_x (C_x <= eps calls F_l), the judges
that learn it, and the oracle.

    random        a uniform draw per input (the floor any router should beat)
    max_softmax   F_s's own max-softmax
    mlp, kan      a judge F_j predicting the class; C_x = its max-softmax
    mlp_binary, kan_binary   a judge of "is F_s right"; C_x = P(F_s right)
    oracle        asks F_l exactly where F_l fixes F_s

A task fits the judges it names (`Task.judge_routers`); one without a class set (retrieval)
has only judges of "is F_s right" (`Task.only_binary_judges`), under the names mlp and kan.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from kcm.judges import Judge

if TYPE_CHECKING:
    from kcm.loop.core import LoopConfig, SmallState, Task

JUDGE_ROUTERS = ("mlp", "kan", "mlp_binary", "kan_binary")
ROUTERS = ("random", "max_softmax", *JUDGE_ROUTERS, "oracle")


def is_binary(task: Task, router: str) -> bool:
    """Whether this judge predicts "F_s is right" rather than the class."""
    return task.only_binary_judges or router.endswith("_binary")


def oracle_confidence(small_right: np.ndarray, large_right: np.ndarray) -> np.ndarray:
    """Ask F_l exactly where it fixes F_s (C_x = 0 there, 1 elsewhere): at any 0 < eps < 1 the
    best point any router can reach; its best curve over all call budgets is metrics.oracle_curve."""
    return np.where(~small_right & large_right, 0.0, 1.0)


def judge_targets(task: Task, split: str, outputs: Any, view: str | None, binary: bool) -> torch.Tensor:
    """A class judge's targets (labels) or a binary judge's: "is F_s right" (1/0)."""
    if binary:
        y = task.correct(split, view, task.answers(outputs, view)).astype(int)
    else:
        y = task.labels(split)
    return torch.as_tensor(y, dtype=torch.long)


def judge_test(task: Task, outputs: Any, view: str | None, router: str) -> tuple[torch.Tensor, torch.Tensor]:
    """A judge's test inputs and targets: what compressing it is evaluated on (`kcm.compress`)."""
    return task.judge_inputs("test", outputs, view), judge_targets(task, "test", outputs, view, is_binary(task, router))


def _fit_judge(task: Task, state: SmallState, router: str, view: str | None, cfg: LoopConfig, seed: int,
               rows: np.ndarray | None = None) -> tuple[Judge, torch.Tensor]:
    """The judge of this router on F_s's out-of-fold train outputs (these query rows; None: all),
    early-stopped and temperature-calibrated on val; also the train inputs it was given rows of."""
    kind, binary = router.removesuffix("_binary"), is_binary(task, router)
    x_train, x_val = task.judge_inputs("train", state.train, view), task.judge_inputs("val", state.val, view)
    y_train = judge_targets(task, "train", state.train, view, binary)
    fit = slice(None) if rows is None else torch.as_tensor(rows)
    judge = Judge(x_train.shape[1], 2 if binary else task.n_classes, replace(cfg.judge, kind=kind, seed=seed))
    judge.fit(x_train[fit], y_train[fit], x_val, judge_targets(task, "val", state.val, view, binary))
    return judge, x_train


def fit_judges(task: Task, state: SmallState, router: str, cfg: LoopConfig, seed: int) -> dict[str | None, Judge]:
    """Per view, the judge of this router, trained on every training row: what routes val and test."""
    return {view: _fit_judge(task, state, router, view, cfg, seed)[0] for view in task.views}


def cross_fitted_probs(task: Task, state: SmallState, router: str, cfg: LoopConfig,
                       seed: int) -> dict[str | None, np.ndarray]:
    """Per view, each training query's judge probabilities from a judge fitted on the other folds.

    Routing training rows with a judge fitted on them would read its in-sample over-confidence
    (and an MLP and a KAN over-fit by different amounts, so the two systems would be asked about
    different shares of their training rows); the folds are the small model's (`Task.folds`)."""
    out = {}
    for view in task.views:
        probs = None
        for fit_units, held_units in task.folds(cfg.folds, seed):
            held = task.queries(view, held_units)
            judge, x_train = _fit_judge(task, state, router, view, cfg, seed, task.queries(view, fit_units))
            p = finite(judge.proba(x_train[torch.as_tensor(held)]).double().numpy(), router)
            if probs is None:
                probs = np.zeros((len(x_train), p.shape[1]))
            probs[held] = p
        out[view] = probs
    return out


def finite(probs: np.ndarray, router: str) -> np.ndarray:
    """A judge's probabilities, refused when any is NaN or inf (a diverged judge would otherwise
    route every such row to F_s and surface later as a non-finite distillation loss)."""
    bad = ~np.isfinite(probs).all(1)
    if bad.any():
        raise FloatingPointError(f"the {router} judge gave non-finite probabilities on {int(bad.sum())} of "
                                 f"{len(probs)} rows (inputs far outside its training range?)")
    return probs


def judge_probs(task: Task, split: str, outputs: Any, judge: Judge, view: str | None) -> np.ndarray:
    return finite(judge.proba(task.judge_inputs(split, outputs, view)).double().numpy(), judge.config.kind)


def confidence_of(probs: np.ndarray, binary: bool) -> np.ndarray:
    """C_x from a judge's probabilities: P(F_s right) of a binary judge, max softmax of a class one."""
    return probs[:, 1] if binary else probs.max(1)


def loop_confidence(task: Task, split: str, outputs: Any, judge: Judge | None, router: str,
                    view: str | None) -> np.ndarray:
    """C_x of a loop system's router: its judge's, or F_s's max-softmax where it has none."""
    if judge is None:
        return task.max_softmax(outputs, view)
    return confidence_of(judge_probs(task, split, outputs, judge, view), is_binary(task, router))


def router_confidences(task: Task, split: str, outputs: Any, judges: dict[str, dict], view: str | None,
                       small_right: np.ndarray, large_right: np.ndarray,
                       rng: np.random.Generator) -> dict[str, np.ndarray]:
    """C_x on one split (val or test) for every router, around one small model (same F_s, same F_l)."""
    out = {"random": rng.random(len(small_right)), "max_softmax": task.max_softmax(outputs, view)}
    for name, per_view in judges.items():
        out[name] = loop_confidence(task, split, outputs, per_view[view], name, view)
    out["oracle"] = oracle_confidence(small_right, large_right)
    return out
