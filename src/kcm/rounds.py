"""KCM's closed loop and its baseline ladder, for any task that fits the `Task` protocol.

One round: train the small model F_s -> fit the judge F_j on F_s's out-of-fold outputs ->
route every training input (C_x <= eps asks the large model F_l, whose prompt carries F_s's
prediction) -> retrain F_s with

    L = CE + lambda_ls * KL(p_l || p_s)[asked, C_l > eps] + lambda_js * KL(p_j || p_s)[C_x > eps]

(`kcm.distill`). The large model is frozen and its outputs come from the task's cache, so a
round costs small-model and judge fits only.

Systems (each row adds one thing; DESIGN.md):
    small   F_s alone, no calls
    large   F_l alone on every input, no hint
    d       one round, routed by F_s's max-softmax, hard pseudo-labels from F_l (CE on argmax)
    kd      one round, routed by F_s's max-softmax, soft labels from F_l (Hinton KD)
    mcm     `rounds` rounds, MLP judge, both distillation terms
    kcm     `rounds` rounds, KAN judge (same parameter count as the MLP), both terms
Routers compared on the round-0 small model (same F_s, same F_l, only the router differs):
    random, max_softmax, mlp, kan, mlp_binary, kan_binary (judges trained on "is F_s right"),
    oracle.

Out-of-fold outputs matter: a model's outputs on its own training rows are over-confident, so
judges learn from, and routing of training inputs uses, k-fold predictions.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import numpy as np
import torch
from sklearn.model_selection import StratifiedKFold

from kcm.collab import hinted_rows
from kcm.distill import DistillWeights
from kcm.judges import Judge, JudgeConfig
from kcm.models.softmax_regression import Teachers

SYSTEMS = ("small", "large", "d", "kd", "mcm", "kcm")
LOOP_SYSTEMS = {"d": "max_softmax", "kd": "max_softmax", "mcm": "mlp", "kcm": "kan"}
JUDGE_ROUTERS = ("mlp", "kan", "mlp_binary", "kan_binary")
ROUTERS = ("random", "max_softmax", *JUDGE_ROUTERS, "oracle")


class Task(Protocol):
    """What the loop needs from a modality. Splits: "train", "val", "test"."""

    n_classes: int
    large: dict[str, dict[str, dict[str, np.ndarray]]]  # model -> split -> variant -> (N, K)

    def labels(self, split: str) -> np.ndarray: ...

    def fit_small(self, rows: np.ndarray, teachers: Teachers) -> Any:
        """F_s trained on the given training rows (teachers aligned with those rows)."""

    def small_proba(self, model: Any, split: str, rows: np.ndarray | None = None) -> np.ndarray: ...

    def judge_features(self, split: str) -> np.ndarray:
        """A fixed representation of each input that the judge reads beside F_s's probabilities."""


@dataclass(frozen=True)
class LoopConfig:
    eps: float = 0.98
    rounds: int = 2
    folds: int = 5
    weights: DistillWeights = DistillWeights()
    judge: JudgeConfig = JudgeConfig()


@dataclass
class SmallState:
    """F_s after one training: out-of-fold probabilities on train, plain ones on val/test."""

    model: Any
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray


@dataclass
class SystemResult:
    small_test: np.ndarray  # (N_test, K) F_s's probabilities
    confidence: np.ndarray  # (N_test,) C_x; <= eps calls the large model
    judge: Judge | None = None
    history: list[dict] = field(default_factory=list)


def train_small(task: Task, teachers: Teachers, cfg: LoopConfig, seed: int) -> SmallState:
    labels = task.labels("train")
    everything = np.arange(len(labels))
    oof = np.zeros((len(labels), task.n_classes))
    folds = StratifiedKFold(n_splits=cfg.folds, shuffle=True, random_state=seed)
    for fit_rows, held_out in folds.split(everything, labels):
        model = task.fit_small(fit_rows, teachers.rows(fit_rows))
        oof[held_out] = task.small_proba(model, "train", held_out)
    model = task.fit_small(everything, teachers)
    return SmallState(model, oof, task.small_proba(model, "val"), task.small_proba(model, "test"))


def judge_inputs(task: Task, split: str, small_probs: np.ndarray) -> torch.Tensor:
    x = np.concatenate([task.judge_features(split), small_probs], axis=1)
    return torch.as_tensor(x, dtype=torch.float32)


def judge_targets(task: Task, split: str, small_probs: np.ndarray, router: str) -> torch.Tensor:
    """A class judge's targets (labels) or, for `*_binary`, "is F_s right" (1/0)."""
    y = task.labels(split)
    return torch.as_tensor((small_probs.argmax(1) == y).astype(int) if router.endswith("_binary") else y,
                           dtype=torch.long)


def fit_judge(task: Task, state: SmallState, router: str, cfg: LoopConfig, seed: int) -> Judge:
    """A class judge (targets: labels) or, for `*_binary`, a judge of "is F_s right"."""
    kind, binary = router.removesuffix("_binary"), router.endswith("_binary")
    x_train, x_val = judge_inputs(task, "train", state.train), judge_inputs(task, "val", state.val)
    judge = Judge(x_train.shape[1], 2 if binary else task.n_classes, replace(cfg.judge, kind=kind, seed=seed))
    judge.fit(x_train, judge_targets(task, "train", state.train, router), x_val,
              judge_targets(task, "val", state.val, router))
    return judge


def judge_confidence(judge: Judge, x: torch.Tensor, binary: bool) -> np.ndarray:
    """C_x: max softmax of a class judge; P(F_s is right) of a binary one."""
    probs = judge.proba(x).double().numpy()
    return probs[:, 1] if binary else probs.max(1)


def router_confidences(task: Task, state: SmallState, judges: dict[str, Judge], large_test: np.ndarray,
                       seed: int) -> dict[str, np.ndarray]:
    """C_x on the test split for every router, around one small model."""
    small_pred, labels = state.test.argmax(1), task.labels("test")
    out = {
        "random": np.random.default_rng(seed).random(len(labels)),
        "max_softmax": state.test.max(1),
    }
    x_test = judge_inputs(task, "test", state.test)
    for name, judge in judges.items():
        out[name] = judge_confidence(judge, x_test, name.endswith("_binary"))
    # The oracle asks F_l exactly where it fixes F_s: the best point at any 0 < eps < 1.
    fixes = (small_pred != labels) & (large_test.argmax(1) == labels)
    out["oracle"] = np.where(fixes, 0.0, 1.0)
    return out


def routed_teachers(task: Task, state: SmallState, system: str, judge: Judge | None, large: str,
                    cfg: LoopConfig) -> Teachers:
    """Who teaches F_s in the next round: route every training input, ask F_l with the hint."""
    if system in ("d", "kd"):
        confidence, judge_probs = state.train.max(1), None
    else:
        x = judge_inputs(task, "train", state.train)
        judge_probs = judge.proba(x).double().numpy()
        confidence = judge_probs.max(1)
    large_probs = hinted_rows(task.large[large]["train"], state.train.argmax(1))
    return Teachers(large_probs, confidence <= cfg.eps, judge_probs, hard_large=system == "d")


def run_system(task: Task, system: str, large: str, state0: SmallState, judge0: Judge | None,
               cfg: LoopConfig, seed: int) -> SystemResult:
    """One row of the ladder (d, kd, mcm, kcm) from the shared round-0 small model and judge."""
    state, judge = state0, judge0
    rounds = cfg.rounds if system in ("mcm", "kcm") else 1
    history = []
    for r in range(1, rounds + 1):
        teachers = routed_teachers(task, state, system, judge, large, cfg)
        state = train_small(task, teachers, cfg, seed)
        if judge is not None:
            judge = fit_judge(task, state, LOOP_SYSTEMS[system], cfg, seed)
        history.append({
            "round": r,
            "train_large_fraction": float(teachers.large_asked.mean()),
            "small_val_accuracy": float((state.val.argmax(1) == task.labels("val")).mean()),
            "small_test_accuracy": float((state.test.argmax(1) == task.labels("test")).mean()),
        })
    if judge is None:
        confidence = state.test.max(1)
    else:
        confidence = judge_confidence(judge, judge_inputs(task, "test", state.test), binary=False)
    return SystemResult(state.test, confidence, judge, history)


def _rows(entry: str, large: str, labels, small_pred, large_pred, confidence, to_large) -> dict:
    return {
        "large": large, "entry": entry, "row": np.arange(len(labels)), "label": labels,
        "small_pred": small_pred, "large_pred": large_pred, "confidence": confidence,
        "to_large": to_large, "pred": np.where(to_large, large_pred, small_pred),
    }


def run_all(task: Task, cfg: LoopConfig, seed: int) -> tuple[list[dict], dict, dict[str, Judge], dict]:
    """Every system and router for every large model at one seed.

    Returns per-entry test columns (one dict of arrays per (large model, entry); entries are
    "system:<name>", "small:<name>" (the distilled F_s alone, no calls) and "router:<name>"),
    a history (per system: rounds, calls on train, judge sizes), the judges worth keeping
    (round-0 routers, final MCM/KCM judges) and each kept judge's test inputs and targets
    {name: (x, y)} (what compressing a judge is evaluated on).
    """
    from kcm.metrics import route_to_large

    labels = task.labels("test")
    state0 = train_small(task, Teachers(), cfg, seed)
    judges0 = {name: fit_judge(task, state0, name, cfg, seed) for name in JUDGE_ROUTERS}
    kept = {f"round0_{name}": judge for name, judge in judges0.items()}
    tests = {f"round0_{name}": (judge_inputs(task, "test", state0.test), judge_targets(task, "test", state0.test, name))
             for name in judges0}
    history: dict = {
        "judges": {name: {"kind": j.config.kind, "width": j.width, "n_params": j.n_params(), "flops": j.flops()}
                   for name, j in judges0.items()},
        "systems": {},
    }
    columns = []
    for large, outputs in task.large.items():
        plain = outputs["test"]["none"].argmax(1)
        small_pred0 = state0.test.argmax(1)
        hinted0 = hinted_rows(outputs["test"], small_pred0).argmax(1)
        never, always = np.zeros(len(labels), bool), np.ones(len(labels), bool)
        columns.append(_rows("system:small", large, labels, small_pred0, hinted0, state0.test.max(1), never))
        columns.append(_rows("system:large", large, labels, small_pred0, plain, np.zeros(len(labels)), always))
        confidences = router_confidences(task, state0, judges0, hinted_rows(outputs["test"], small_pred0), seed)
        for name, conf in confidences.items():
            columns.append(_rows(f"router:{name}", large, labels, small_pred0, hinted0, conf,
                                 route_to_large(conf, cfg.eps)))
        for system, router in LOOP_SYSTEMS.items():
            result = run_system(task, system, large, state0, judges0.get(router), cfg, seed)
            small_pred = result.small_test.argmax(1)
            hinted = hinted_rows(outputs["test"], small_pred).argmax(1)
            columns.append(_rows(f"system:{system}", large, labels, small_pred, hinted, result.confidence,
                                 route_to_large(result.confidence, cfg.eps)))
            # the distilled small model on its own: what distillation did to F_s
            columns.append(_rows(f"small:{system}", large, labels, small_pred, hinted, result.small_test.max(1), never))
            history["systems"][f"{large}/{system}"] = result.history
            if result.judge is not None:
                kept[f"{large}_{system}"] = result.judge
                tests[f"{large}_{system}"] = (judge_inputs(task, "test", result.small_test),
                                              judge_targets(task, "test", result.small_test, LOOP_SYSTEMS[system]))
    return columns, history, kept, tests
