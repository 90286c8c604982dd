"""KCM's closed loop and its baseline ladder, for any task that fits the `Task` protocol.

One round: train the small model F_s -> fit the judge F_j on F_s's out-of-fold outputs ->
route every training input (C_x <= eps asks the large model F_l, whose prompt carries F_s's
prediction) -> retrain F_s with

    L = CE + lambda_ls * KL(p_l || p_s)[asked, C_l > eps] + lambda_js * KL(p_j || p_s)[C_x > eps]

(`kcm.distill`; a task without a class set distils F_l's hinted similarities only). The large
model is frozen and its outputs come from the task's cache, so a round costs small-model and
judge fits only.

Systems (each row adds one thing; DESIGN.md):
    small   F_s alone, no calls
    large   F_l alone on every input, no hint
    d       one round, routed by F_s's max-softmax, hard pseudo-labels from F_l (CE on argmax)
    kd      one round, routed by F_s's max-softmax, soft labels from F_l (Hinton KD)
    mcm     `rounds` rounds, MLP judge, both distillation terms
    kcm     `rounds` rounds, KAN judge (same parameter count as the MLP), both terms
A task runs the rows it names (`Task.loop_systems`: retrieval has no d/kd). Routers are
compared on the round-0 small model (same F_s, same F_l, only the router differs):
`kcm.loop.routers`.

Out-of-fold outputs matter: a model's outputs on its own training rows are over-confident, so
judges learn from k-fold predictions of F_s (the task decides the folds and how a held-out fold
is scored), and training inputs are routed by cross-fitted judges: each row's C_x comes from a
judge fitted on the other folds (`routers.cross_fitted_probs`). The judge fitted on every
training row routes val and test only. Every entry is written for the val and the test split:
operating points are chosen on val and read on test (`kcm.operating_points`).

Names: a task answers in one or more views (classification: one, `None`; retrieval: "i2t" and
"t2i") and has one or more large models (`None`: its only one); a `None` leaves no trace in
judge names and history keys.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from kcm.distill import DistillWeights
from kcm.judges import Judge, JudgeConfig
from kcm.loop.routers import (
    confidence_of,
    cross_fitted_probs,
    fit_judges,
    is_binary,
    judge_test,
    loop_confidence,
    router_confidences,
)
from kcm.metrics import route_to_large

log = logging.getLogger(__name__)

SYSTEMS = ("small", "large", "d", "kd", "mcm", "kcm")
LOOP_SYSTEMS = {"d": "max_softmax", "kd": "max_softmax", "mcm": "mlp", "kcm": "kan"}  # system -> its router
JUDGE_FACTS = {"kind": lambda j: j.config.kind, "width": lambda j: j.width, "n_params": lambda j: j.n_params(),
               "flops": lambda j: j.flops()}


class Task(Protocol):
    """What the loop needs from a modality. Splits: "train", "val", "test". `outputs` are F_s's
    outputs on one split, in the task's own form (class probabilities, scored galleries)."""

    views: tuple[str | None, ...]
    larges: tuple[str | None, ...]
    judge_routers: tuple[str, ...]  # which of routers.JUDGE_ROUTERS it fits
    only_binary_judges: bool  # no class set: every judge predicts "F_s is right"
    loop_systems: tuple[str, ...]  # which of LOOP_SYSTEMS it runs
    hint_key: str | None  # history key of the hint weight fitted per small model (None: no weight)
    metric: str  # history name of F_s's rate of right answers ("accuracy", "r1")
    judge_facts: tuple[str, ...]  # which JUDGE_FACTS history records per round-0 judge
    n_train: int
    n_classes: int  # class judges only

    def labels(self, split: str) -> np.ndarray:
        """Class labels (class judges only)."""

    def folds(self, n_folds: int, seed: int) -> Iterable[tuple[np.ndarray, np.ndarray]]:
        """(fit rows, held-out rows) of the training split, one pair per fold."""

    def queries(self, view: str | None, rows: np.ndarray) -> np.ndarray:
        """The view's training queries of these training rows (a fold's rows -> the judge's rows)."""

    def fit_small(self, rows: np.ndarray, teachers: Any, seed: int) -> Any:
        """F_s trained on these training rows (teachers cover the whole training split)."""

    def empty_train_outputs(self) -> Any: ...

    def fill_held_out(self, outputs: Any, model: Any, held_out: np.ndarray, seed: int) -> None:
        """Write the held-out rows' outputs of a fold's model into `outputs`."""

    def small_outputs(self, model: Any, split: str) -> Any: ...

    def fit_hint(self, model: Any, val: Any) -> Any:
        """How far F_l trusts this F_s's hint, fitted on val (None: fixed by the cache)."""

    def answers(self, outputs: Any, view: str | None) -> np.ndarray:
        """Per query, the answer the outputs table records (a class, the rank of the match)."""

    def correct(self, split: str, view: str | None, answers: np.ndarray) -> np.ndarray: ...

    def max_softmax(self, outputs: Any, view: str | None) -> np.ndarray: ...

    def judge_inputs(self, split: str, outputs: Any, view: str | None) -> Any:
        """A fixed view of each input beside the shape of F_s's outputs (float32 tensor)."""

    def large_answers(self, large: str | None, state: SmallState, split: str, hinted: bool) -> dict:
        """F_l's answers on one split (val or test) per view, with this F_s's hint or plain."""

    def no_teachers(self) -> Any: ...

    def teachers(self, state: SmallState, large: str | None, asked: dict, judge_probs: dict | None,
                 hard_labels: bool) -> Any:
        """Who teaches F_s next round: F_l (with the hint) on the asked rows, the judge's probabilities."""

    def column(self, split: str, entry: str, large: str | None, view: str | None, small: np.ndarray,
               large_answer: np.ndarray, confidence: np.ndarray, to_large: np.ndarray) -> dict:
        """One entry's columns on one split (`kcm.loop.writer` stacks them into outputs.parquet)."""


@dataclass(frozen=True)
class LoopConfig:
    eps: float = 0.98
    rounds: int = 2
    folds: int = 5
    weights: DistillWeights = DistillWeights()
    judge: JudgeConfig = JudgeConfig()


def loop_config(params: dict) -> LoopConfig:
    """The loop/distill/judge config sections as a LoopConfig (every modality)."""
    loop = params["loop"]
    judge = {k: tuple(v) if isinstance(v, list) else v for k, v in params["judge"].items()}
    return LoopConfig(eps=loop["eps"], rounds=loop["rounds"], folds=loop["folds"],
                      weights=DistillWeights(eps=loop["eps"], **params["distill"]), judge=JudgeConfig(**judge))


@dataclass
class SmallState:
    """F_s after one training: out-of-fold outputs on train, plain ones on val/test."""

    model: Any
    train: Any
    val: Any
    test: Any
    hint: Any = None


@dataclass
class SystemResult:
    state: SmallState
    judges: dict[str | None, Judge] | None
    history: list[dict] = field(default_factory=list)


def _name(sep: str, *parts: str | None) -> str:
    return sep.join(p for p in parts if p is not None)


def _suffix(view: str | None) -> str:
    return "" if view is None else f"_{view}"


def train_small(task: Task, teachers: Any, cfg: LoopConfig, seed: int) -> SmallState:
    train = task.empty_train_outputs()
    for fit_rows, held_out in task.folds(cfg.folds, seed):
        task.fill_held_out(train, task.fit_small(fit_rows, teachers, seed), held_out, seed)
    model = task.fit_small(np.arange(task.n_train), teachers, seed)
    val = task.small_outputs(model, "val")
    return SmallState(model, train, val, task.small_outputs(model, "test"), task.fit_hint(model, val))


def routed_teachers(task: Task, state: SmallState, large: str | None, system: str,
                    probs: dict[str | None, np.ndarray] | None, cfg: LoopConfig) -> tuple[Any, dict]:
    """Route every training input (the judge's cross-fitted probabilities `probs`, or F_s's
    out-of-fold max-softmax where the system has no judge), ask F_l with the hint; the teachers
    and which inputs were asked, per view."""
    binary = is_binary(task, LOOP_SYSTEMS[system])
    asked = {}
    for view in task.views:
        confidence = task.max_softmax(state.train, view) if probs is None else confidence_of(probs[view], binary)
        asked[view] = route_to_large(confidence, cfg.eps)
    teachers = task.teachers(state, large, asked, probs, hard_labels=system == "d")
    return teachers, asked


def round_record(task: Task, r: int, hint: Any, asked: dict, state: SmallState) -> dict:
    """One round in history.json: calls on train, F_s's rate of right answers on val and test."""
    record: dict = {"round": r}
    if task.hint_key:
        record[task.hint_key] = hint
    record.update({f"train_large_fraction{_suffix(v)}": float(asked[v].mean()) for v in task.views})
    for split, outputs in (("val", state.val), ("test", state.test)):
        record.update({f"small_{split}_{task.metric}{_suffix(v)}":
                       float(task.correct(split, v, task.answers(outputs, v)).mean()) for v in task.views})
    return record


def run_system(task: Task, system: str, large: str | None, state0: SmallState,
               probs0: dict[str | None, np.ndarray] | None, cfg: LoopConfig, seed: int) -> SystemResult:
    """One row of the ladder (d, kd, mcm, kcm) from the shared round-0 small model; `probs0`: the
    round-0 judge's cross-fitted training probabilities (None: routed by F_s's max-softmax). Each
    later round cross-fits the judge anew on the new F_s; the final judge, fitted on every
    training row, routes val and test."""
    router = LOOP_SYSTEMS[system]
    judged = probs0 is not None
    state, probs = state0, probs0
    history = []
    for r in range(1, (cfg.rounds if judged else 1) + 1):
        if judged and r > 1:
            probs = cross_fitted_probs(task, state, router, cfg, seed)
        teachers, asked = routed_teachers(task, state, large, system, probs, cfg)
        hint, state = state.hint, train_small(task, teachers, cfg, seed)
        history.append(round_record(task, r, hint, asked, state))
    return SystemResult(state, fit_judges(task, state, router, cfg, seed) if judged else None, history)


def split_columns(task: Task, split: str, entry: str, large: str | None, view: str | None, small: np.ndarray,
                  large_answer: np.ndarray, confidence: np.ndarray, to_large: np.ndarray) -> dict:
    return {"split": split, **task.column(split, entry, large, view, small, large_answer, confidence, to_large)}


def run_all(task: Task, cfg: LoopConfig, seed: int) -> tuple[list[dict], dict, dict[str, Judge], dict]:
    """Every system and router for every large model at one seed.

    Returns per-entry columns of the val and the test split (one dict per (split, large model,
    entry, view); entries are "system:<name>", "small:<name>" (the distilled F_s alone, no calls)
    and "router:<name>"): the val rows are what operating points are chosen on; a history (per
    system: rounds, calls on train; judge sizes and fitted temperatures; fitted hint weights), the
    judges worth keeping (round-0 routers, final MCM/KCM judges) and each kept judge's test inputs
    and targets {name: (x, y)} (what compressing a judge is evaluated on).
    """
    log.info("judges and routers: cpu (by design: they are a few thousand parameters)")
    state0 = train_small(task, task.no_teachers(), cfg, seed)
    judges0 = {name: fit_judges(task, state0, name, cfg, seed) for name in task.judge_routers}
    kept, tests = {}, {}
    for name, per_view in judges0.items():
        for view, judge in per_view.items():
            kept[_name("_", "round0", name, view)] = judge
            tests[_name("_", "round0", name, view)] = judge_test(task, state0.test, view, name)
    history: dict = {"judges": {name: {fact: JUDGE_FACTS[fact](per_view[task.views[0]]) for fact in task.judge_facts}
                                for name, per_view in judges0.items()}}
    if task.hint_key:
        history[task.hint_key] = {"round0": state0.hint}
    history["systems"] = {}
    # the round-0 judges' cross-fitted training probabilities, shared by every large model
    probs0 = {LOOP_SYSTEMS[s]: cross_fitted_probs(task, state0, LOOP_SYSTEMS[s], cfg, seed)
              for s in task.loop_systems if LOOP_SYSTEMS[s] in task.judge_routers}
    columns = []
    for large in task.larges:
        rng = np.random.default_rng(seed)
        for split in ("val", "test"):
            outputs = getattr(state0, split)
            hinted0 = task.large_answers(large, state0, split, hinted=True)
            plain = task.large_answers(large, state0, split, hinted=False)
            for view in task.views:
                small = task.answers(outputs, view)
                n = len(small)
                columns.append(split_columns(task, split, "system:small", large, view, small, hinted0[view],
                                             task.max_softmax(outputs, view), np.zeros(n, bool)))
                columns.append(split_columns(task, split, "system:large", large, view, small, plain[view],
                                             np.zeros(n), np.ones(n, bool)))
                confidences = router_confidences(task, split, outputs, judges0, view,
                                                 task.correct(split, view, small),
                                                 task.correct(split, view, hinted0[view]), rng)
                for name, conf in confidences.items():
                    columns.append(split_columns(task, split, f"router:{name}", large, view, small, hinted0[view],
                                                 conf, route_to_large(conf, cfg.eps)))
        for system in task.loop_systems:
            router = LOOP_SYSTEMS[system]
            result = run_system(task, system, large, state0, probs0.get(router), cfg, seed)
            state = result.state
            for split in ("val", "test"):
                outputs = getattr(state, split)
                hinted = task.large_answers(large, state, split, hinted=True)
                for view in task.views:
                    small = task.answers(outputs, view)
                    judge = None if result.judges is None else result.judges[view]
                    conf = loop_confidence(task, split, outputs, judge, router, view)
                    columns.append(split_columns(task, split, f"system:{system}", large, view, small, hinted[view],
                                                 conf, route_to_large(conf, cfg.eps)))
                    # the distilled small model on its own: what distillation did to F_s
                    columns.append(split_columns(task, split, f"small:{system}", large, view, small, hinted[view],
                                                 task.max_softmax(outputs, view), np.zeros(len(small), bool)))
            for view in task.views:
                if result.judges is not None:
                    kept[_name("_", large, system, view)] = result.judges[view]
                    tests[_name("_", large, system, view)] = judge_test(task, state.test, view, router)
            history["systems"][_name("/", large, system)] = result.history
            if task.hint_key:
                history[task.hint_key][_name("/", large, system)] = state.hint
    history["temperatures"] = {name: float(judge.temperature) for name, judge in sorted(kept.items())}
    return columns, history, kept, tests
