"""The closed loop on a synthetic task: the ladder runs, routing obeys eps, OOF is honest,
the oracle bounds every router, and a rerun gives the same bytes."""

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.linear_model import LogisticRegression

from kcm import metrics, rounds, system_metrics
from kcm.distill import DistillWeights
from kcm.judges import JudgeConfig
from kcm.models.softmax_regression import SoftmaxRegression, Teachers

K = 3


class SyntheticTask:
    """Gaussian classes the small model sees through noise; the large model is better, and its
    hinted variant leans toward the hinted class."""

    n_classes = K

    def __init__(self, n=(240, 90, 150), seed=0):
        rng = np.random.default_rng(seed)
        self.y, self.x, self.features = {}, {}, {}
        centres = rng.normal(0, 1.0, (K, 6))
        self.large = {"L": {}}
        for split, size in zip(("train", "val", "test"), n):
            y = rng.integers(0, K, size)
            clean = centres[y] + rng.normal(0, 0.6, (size, 6))
            self.y[split] = y
            self.x[split] = torch.as_tensor(clean + rng.normal(0, 1.2, clean.shape))
            self.features[split] = clean[:, :2].astype(np.float32)
            logits = 4.0 * np.eye(K)[y] + rng.normal(0, 1.5, (size, K))
            variants = {"none": logits}
            for k in range(K):
                variants[f"hint_{k}"] = logits + 1.0 * np.eye(K)[k]
            self.large["L"][split] = {v: np.exp(z) / np.exp(z).sum(1, keepdims=True) for v, z in variants.items()}
        self.fit_rows = []

    def labels(self, split):
        return self.y[split]

    def fit_small(self, rows, teachers):
        self.fit_rows.append(np.asarray(rows))
        return SoftmaxRegression(C=1.0).fit(self.x["train"][rows], self.y["train"][rows], K, teachers, WEIGHTS)

    def small_proba(self, model, split, rows=None):
        x = self.x[split] if rows is None else self.x[split][rows]
        return model.proba(x)

    def judge_features(self, split):
        return self.features[split]


WEIGHTS = DistillWeights(eps=0.9)
CFG = rounds.LoopConfig(eps=0.9, rounds=2, folds=3, weights=WEIGHTS,
                        judge=JudgeConfig(hidden=(4,), max_epochs=40, patience=5))


@pytest.fixture(scope="module")
def ladder():
    task = SyntheticTask()
    columns, history, judges, tests = rounds.run_all(task, CFG, seed=0)
    frame = pd.concat([pd.DataFrame({"seed": 0, **c}) for c in columns], ignore_index=True)
    return task, frame, history, judges, tests


def test_softmax_regression_reaches_the_logistic_regression_optimum():
    task = SyntheticTask()
    x, y = task.x["train"], task.y["train"]
    ours = SoftmaxRegression(C=0.5).fit(x, y, K)
    sk = LogisticRegression(C=0.5, tol=1e-10, max_iter=10000).fit(x.numpy(), y)
    np.testing.assert_allclose(ours.proba(task.x["test"]), sk.predict_proba(task.x["test"].numpy()), atol=1e-5)
    again = SoftmaxRegression(C=0.5).fit(x, y, K)
    assert torch.equal(ours.weight, again.weight)  # no randomness in a full-batch L-BFGS fit


def test_a_sure_teacher_pulls_the_small_model_where_it_was_asked():
    task = SyntheticTask()
    x, y = task.x["train"], task.y["train"]
    wrong = np.eye(K)[(y + 1) % K] * 0.999 + 0.001 / K  # confidently wrong everywhere
    asked = np.zeros(len(y), bool)
    asked[: len(y) // 2] = True
    weights = DistillWeights(lambda_ls=20.0, temperature=1.0, eps=0.5)
    plain = SoftmaxRegression(C=1.0).fit(x, y, K)
    taught = SoftmaxRegression(C=1.0).fit(x, y, K, Teachers(wrong, asked), weights)
    agree = lambda m: (m.proba(x).argmax(1) == (y + 1) % K)[asked].mean()  # noqa: E731
    assert agree(taught) > agree(plain) + 0.2
    never = SoftmaxRegression(C=1.0).fit(x, y, K, Teachers(wrong, np.zeros(len(y), bool)), weights)
    assert torch.equal(never.weight, plain.weight)  # a teacher nobody asked teaches nothing


def test_every_system_and_router_is_reported(ladder):
    task, frame, history, judges, tests = ladder
    expected = {f"system:{s}" for s in rounds.SYSTEMS} | {f"router:{r}" for r in rounds.ROUTERS}
    expected |= {f"small:{s}" for s in rounds.LOOP_SYSTEMS}
    assert set(frame["entry"]) == expected
    assert set(judges) == {f"round0_{r}" for r in rounds.JUDGE_ROUTERS} | {"L_mcm", "L_kcm"}
    assert [h["round"] for h in history["systems"]["L/kcm"]] == [1, 2]
    assert len(history["systems"]["L/kd"]) == 1
    assert history["judges"]["kan"]["n_params"] == pytest.approx(history["judges"]["mlp"]["n_params"], rel=0.1)
    # each kept judge's test inputs and targets: labels for class judges, "F_s right" for binary ones
    assert set(tests) == set(judges)
    small = frame[frame["entry"] == "system:small"]
    np.testing.assert_array_equal(tests["round0_kan"][1].numpy(), task.labels("test"))
    np.testing.assert_array_equal(tests["round0_kan_binary"][1].numpy(), small["small_pred"] == small["label"])
    assert tests["L_kcm"][0].shape == (len(small), judges["L_kcm"].n_in)


def test_routing_obeys_eps_and_the_system_answers_accordingly(ladder):
    _, frame, _, _, _ = ladder
    routers = frame[frame["entry"].str.startswith("router:")]
    np.testing.assert_array_equal(routers["to_large"], routers["confidence"] <= CFG.eps)
    np.testing.assert_array_equal(frame["pred"], np.where(frame["to_large"], frame["large_pred"], frame["small_pred"]))
    small = frame[frame["entry"] == "system:small"]
    large = frame[frame["entry"] == "system:large"]
    assert not small["to_large"].any() and large["to_large"].all()


def test_out_of_fold_rows_never_train_the_model_that_predicts_them():
    task = SyntheticTask()
    rounds.train_small(task, Teachers(), CFG, seed=3)
    n = len(task.labels("train"))
    folds, full = task.fit_rows[:-1], task.fit_rows[-1]
    assert len(folds) == CFG.folds and len(full) == n
    held_out = [np.setdiff1d(np.arange(n), rows) for rows in folds]
    assert np.array_equal(np.sort(np.concatenate(held_out)), np.arange(n))  # each row held out once


def test_the_oracle_bounds_every_routers_curve(ladder):
    _, frame, _, _, _ = ladder
    for entry, rows in frame[frame["entry"].str.startswith("router:")].groupby("entry"):
        small_ok = (rows["small_pred"] == rows["label"]).to_numpy()
        large_ok = (rows["large_pred"] == rows["label"]).to_numpy()
        curve = metrics.routing_curve(small_ok, large_ok, rows["confidence"].to_numpy())
        best = metrics.oracle_curve(small_ok, large_ok)
        best_at = np.interp(curve["large_fraction"], best["large_fraction"], best["accuracy"])
        assert (curve["accuracy"] <= best_at + 1e-12).all(), entry


def test_distillation_changes_the_small_model_and_the_rerun_is_identical(ladder):
    _, frame, _, _, _ = ladder
    small0 = frame.loc[frame["entry"] == "system:small", "small_pred"].to_numpy()
    kd = frame.loc[frame["entry"] == "system:kd", "small_pred"].to_numpy()
    assert (small0 != kd).any()
    task = SyntheticTask()
    columns, _, _, _ = rounds.run_all(task, CFG, seed=0)
    again = pd.concat([pd.DataFrame({"seed": 0, **c}) for c in columns], ignore_index=True)
    pd.testing.assert_frame_equal(frame, again)


def test_metrics_over_seeds_are_mean_and_sample_std(ladder):
    _, frame, _, _, _ = ladder
    two = pd.concat([frame, frame.assign(seed=1, pred=frame["label"])], ignore_index=True)
    summary = system_metrics.aggregate(two, ["a", "b", "c"])
    acc = summary["large"]["L"]["system:kcm"]["accuracy"]
    first = float((frame.loc[frame["entry"] == "system:kcm", "pred"] == frame.loc[frame["entry"] == "system:kcm", "label"]).mean())
    assert acc["values"] == [first, 1.0]
    assert acc["mean"] == pytest.approx((first + 1) / 2)
    assert acc["std"] == pytest.approx(np.std([first, 1.0], ddof=1))
    diff = system_metrics.paired_difference(acc, summary["large"]["L"]["system:small"]["accuracy"])
    assert len(diff["values"]) == 2
    curves = system_metrics.mean_curves(two)
    oracle = curves[curves["router"] == "oracle"]
    for router, line in curves.groupby("router"):
        assert (line["accuracy"].to_numpy() <= oracle["accuracy"].to_numpy() + 1e-9).all(), router


def test_group_accuracy_is_the_accuracy_over_each_groups_samples(ladder):
    _, frame, _, _, _ = ladder
    groups = {0: "many", 1: "medium", 2: "few"}
    summary = system_metrics.aggregate(frame, ["a", "b", "c"], groups)["large"]["L"]["system:small"]
    rows = frame[frame["entry"] == "system:small"]
    for cls, group in groups.items():
        mine = rows[rows["label"] == cls]
        assert summary[f"{group}_accuracy"]["mean"] == pytest.approx((mine["pred"] == mine["label"]).mean())
