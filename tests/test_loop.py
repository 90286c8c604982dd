"""The closed loop (`kcm.loop`) over both adapters on tiny synthetic tasks: the ladder runs,
routing obeys eps, OOF is honest, the one oracle asks F_l exactly where it fixes F_s (for a
classification and a retrieval task), the oracle bounds every router, and a rerun gives the same
bytes; plus the writer's files."""

import copy
import json

import numpy as np
import pandas as pd
import pytest
import torch
from loop_fakes import CFG, RETRIEVAL_CFG, K, SyntheticTask, make_retrieval_task
from safetensors.torch import load_file
from sklearn.linear_model import LogisticRegression

from kcm import metrics
from kcm import retrieval_metrics as rm
from kcm.distill import DistillWeights
from kcm.loop import core, routers
from kcm.loop.writer import write_run
from kcm.models.softmax_regression import SoftmaxRegression, Teachers

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def frame_of(columns, split="test"):
    """The columns of one split (None: both) as the writer stacks them."""
    frame = pd.concat([pd.DataFrame({"seed": 0, **c}) for c in columns], ignore_index=True)
    return frame if split is None else frame[frame["split"] == split].reset_index(drop=True)


@pytest.fixture(scope="module")
def ladder_run(one_torch_thread):
    task = SyntheticTask()
    return task, *core.run_all(task, CFG, seed=0)


@pytest.fixture(scope="module")
def ladder(ladder_run):
    task, columns, history, judges, tests = ladder_run
    return task, frame_of(columns), history, judges, tests


@pytest.fixture(scope="module")
def retrieval(one_torch_thread):
    task = make_retrieval_task()
    columns, history, kept, tests = core.run_all(task, RETRIEVAL_CFG, seed=0)
    return task, {(c["entry"], c["direction"]): c for c in columns if c["split"] == "test"}, columns, history, kept, \
        tests


# --------------------------------------------------------------------------- the small model


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


def test_out_of_fold_rows_never_train_the_model_that_predicts_them():
    task = SyntheticTask()
    core.train_small(task, Teachers(), CFG, seed=3)
    n = len(task.labels("train"))
    folds, full = task.fit_rows[:-1], task.fit_rows[-1]
    assert len(folds) == CFG.folds and len(full) == n
    held_out = [np.setdiff1d(np.arange(n), rows) for rows in folds]
    assert np.array_equal(np.sort(np.concatenate(held_out)), np.arange(n))  # each row held out once


# --------------------------------------------------------------------------- classification ladder


def test_every_system_and_router_is_reported(ladder):
    task, frame, history, judges, tests = ladder
    expected = {f"system:{s}" for s in core.SYSTEMS} | {f"router:{r}" for r in routers.ROUTERS}
    expected |= {f"small:{s}" for s in core.LOOP_SYSTEMS}
    assert set(frame["entry"]) == expected
    assert set(judges) == {f"round0_{r}" for r in routers.JUDGE_ROUTERS} | {"L_mcm", "L_kcm"}
    assert [h["round"] for h in history["systems"]["L/kcm"]] == [1, 2]
    assert len(history["systems"]["L/kd"]) == 1
    assert history["judges"]["kan"]["n_params"] == pytest.approx(history["judges"]["mlp"]["n_params"], rel=0.1)
    # each kept judge's test inputs and targets: labels for class judges, "F_s right" for binary ones
    assert set(tests) == set(judges)
    small = frame[frame["entry"] == "system:small"]
    np.testing.assert_array_equal(tests["round0_kan"][1].numpy(), task.labels("test"))
    np.testing.assert_array_equal(tests["round0_kan_binary"][1].numpy(), small["small_pred"] == small["label"])
    assert tests["L_kcm"][0].shape == (len(small), judges["L_kcm"].n_in)
    np.testing.assert_array_equal(small["id"], task.ids["test"])  # one row per test input, in order


def test_every_entry_is_written_for_val_as_for_test(ladder_run):
    task, columns, _, _, _ = ladder_run
    both = frame_of(columns, split=None)
    val, test = (both[both["split"] == s] for s in ("val", "test"))
    assert set(val["entry"]) == set(test["entry"])
    for entry, rows in val.groupby("entry"):
        np.testing.assert_array_equal(rows["id"], task.ids["val"], err_msg=entry)
        np.testing.assert_array_equal(rows["label"], task.labels("val"), err_msg=entry)
    # routed by the same rule on val as on test, between F_s's answer and the hinted F_l's
    judged = val[val["entry"].isin(["router:kan", "system:kcm", "system:mcm"])]
    np.testing.assert_array_equal(judged["to_large"], judged["confidence"] <= CFG.eps)
    small = val[val["entry"] == "system:small"]
    np.testing.assert_array_equal(small["small_pred"], task.small_proba(small_model_of(task), "val").argmax(1))


def small_model_of(task):
    """The round-0 small model of seed 0 (no teachers), refitted."""
    return task.fit_classifier(np.arange(task.n_train), Teachers(), 0)


class SpyJudge(routers.Judge):
    """Records the training inputs each judge was fitted on and every input it scored."""

    log: list = []

    def fit(self, x_train, y_train, x_val, y_val):
        self.fitted = {row.tobytes() for row in x_train.numpy()}
        SpyJudge.log.append(self)
        self.scored = set()
        return super().fit(x_train, y_train, x_val, y_val)

    def proba(self, x):
        self.scored |= {row.tobytes() for row in x.numpy()}
        return super().proba(x)


def test_no_judge_scores_a_row_it_was_fitted_on(monkeypatch):
    """Out-of-fold routing: the judges that route training rows are cross-fitted, and no judge
    ever scores an input it was trained on (the loop used to route training rows with the judge
    fitted on them)."""
    monkeypatch.setattr(routers, "Judge", SpyJudge)
    SpyJudge.log = []
    task = SyntheticTask(n=(120, 60, 60))
    core.run_all(task, CFG, seed=0)
    assert SpyJudge.log
    for judge in SpyJudge.log:
        assert not judge.fitted & judge.scored
    # the cross-fitted ones did score training rows: every row once per (round, judge router)
    n_train_scored = sum(len(j.scored) for j in SpyJudge.log if len(j.fitted) < task.n_train)
    assert n_train_scored == task.n_train * 2 * CFG.rounds  # MCM's and KCM's judge, every round


def test_routing_obeys_eps_and_the_system_answers_accordingly(ladder):
    _, frame, _, _, _ = ladder
    routed = frame[frame["entry"].str.startswith("router:")]
    np.testing.assert_array_equal(routed["to_large"], routed["confidence"] <= CFG.eps)
    np.testing.assert_array_equal(frame["pred"], np.where(frame["to_large"], frame["large_pred"], frame["small_pred"]))
    small = frame[frame["entry"] == "system:small"]
    large = frame[frame["entry"] == "system:large"]
    assert not small["to_large"].any() and large["to_large"].all()


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
    columns, _, _, _ = core.run_all(SyntheticTask(), CFG, seed=0)
    pd.testing.assert_frame_equal(frame, frame_of(columns))  # the test split


# --------------------------------------------------------------------------- the one oracle, both adapters


def oracle_rows(ladder, retrieval):
    """(confidence, small right, hinted large right) of router:oracle per adapter and view."""
    _, frame, _, _, _ = ladder
    rows = frame[frame["entry"] == "router:oracle"]
    yield rows["confidence"].to_numpy(), (rows["small_pred"] == rows["label"]).to_numpy(), \
        (rows["large_pred"] == rows["label"]).to_numpy()
    _, by_key, _, _, _, _ = retrieval
    for d in ("i2t", "t2i"):
        c = by_key[("router:oracle", d)]
        yield c["confidence"], c["small_rank"] == 0, c["large_rank"] == 0


def test_the_oracle_asks_exactly_where_the_large_model_fixes_the_small_one(ladder, retrieval):
    seen = 0
    for confidence, small_ok, large_ok in oracle_rows(ladder, retrieval):
        fixes = ~small_ok & large_ok
        assert fixes.any() and (~fixes).any()
        np.testing.assert_array_equal(confidence == 0.0, fixes)
        np.testing.assert_array_equal(confidence[~fixes], 1.0)
        seen += 1
    assert seen == 3  # the classification task and both retrieval directions


# --------------------------------------------------------------------------- retrieval ladder


def retrieval_routers(task):
    return ("random", "max_softmax", *task.judge_routers, "oracle")


def test_retrieval_runs_only_binary_judges_and_no_d_kd_rows(retrieval):
    task, by_key, columns, history, kept, tests = retrieval
    entries = {"system:small", "system:large", "system:mcm", "system:kcm", "small:mcm", "small:kcm",
               *(f"router:{r}" for r in retrieval_routers(task))}
    assert len(columns) == 2 * len(by_key) == 2 * 2 * len(entries)  # val and test
    assert set(by_key) == {(e, d) for e in entries for d in task.views}
    assert set(kept) == {f"round0_{k}_{d}" for k in ("mlp", "kan") for d in task.views} | {
        f"{s}_{d}" for s in ("mcm", "kcm") for d in task.views}
    assert all(judge.n_classes == 2 for judge in kept.values())
    assert set(history["alpha"]) == {"round0", "mcm", "kcm"}
    assert all(a in task.params.alphas for v in history["alpha"].values() for a in v.values())
    assert [h["round"] for h in history["systems"]["kcm"]] == list(range(1, RETRIEVAL_CFG.rounds + 1))
    assert set(history["systems"]["kcm"][0]) == {"round", "alpha", "train_large_fraction_i2t",
                                                 "train_large_fraction_t2i", "small_val_r1_i2t", "small_val_r1_t2i",
                                                 "small_test_r1_i2t", "small_test_r1_t2i"}
    # every kept judge comes with its test inputs and targets (for compressing it later)
    assert set(tests) == set(kept)
    for name, (x, y) in tests.items():
        d = name.rsplit("_", 1)[1]
        assert x.shape == (len(by_key[("system:small", d)]["rank"]), kept[name].n_in)
        if name.startswith("round0_"):  # targets = the round-0 small model's top-1 being right
            np.testing.assert_array_equal(y.numpy(), by_key[("system:small", d)]["small_rank"] == 0)


def test_retrieval_columns_route_consistently(retrieval):
    task, by_key, columns, _, _, _ = retrieval
    test = task.splits["test"]
    for c in columns:
        d, data = c["direction"], task.splits[c["split"]]
        n = {"i2t": data.n_images, "t2i": len(data.caption_to_image)}
        assert all(len(c[k]) == n[d] for k in ("small_rank", "large_rank", "confidence", "to_large", "rank"))
        np.testing.assert_array_equal(c["id"], task.ids[c["split"]][d])
        np.testing.assert_array_equal(c["rank"], np.where(c["to_large"], c["large_rank"], c["small_rank"]))
        if c["entry"].startswith("router:") or c["entry"] in ("system:mcm", "system:kcm"):
            np.testing.assert_array_equal(c["to_large"], c["confidence"] <= RETRIEVAL_CFG.eps)
    for d in task.views:
        small, large = by_key[("system:small", d)], by_key[("system:large", d)]
        assert not small["to_large"].any() and large["to_large"].all()
        assert not by_key[("small:mcm", d)]["to_large"].any() and not by_key[("small:kcm", d)]["to_large"].any()
        sim = test.large_image @ test.large_text.T
        plain = rm.i2t_ranks(sim, test.caption_to_image) if d == "i2t" else rm.t2i_ranks(sim, test.caption_to_image)
        np.testing.assert_array_equal(large["rank"], plain)
        for r in retrieval_routers(task):  # every router routes between the same two answers
            np.testing.assert_array_equal(by_key[(f"router:{r}", d)]["small_rank"], small["small_rank"])
            np.testing.assert_array_equal(by_key[(f"router:{r}", d)]["large_rank"], small["large_rank"])
        assert 0 < by_key[("router:random", d)]["to_large"].mean() < 1


def test_retrieval_oracle_bounds_small_and_hinted_large(retrieval):
    task, by_key, _, _, _, _ = retrieval
    for d in task.views:
        oracle = by_key[("router:oracle", d)]
        r1 = (oracle["rank"] == 0).mean()
        assert r1 >= (oracle["small_rank"] == 0).mean() and r1 >= (oracle["large_rank"] == 0).mean()
        np.testing.assert_array_equal(oracle["rank"] == 0, (oracle["small_rank"] == 0) | (oracle["large_rank"] == 0))
        for r in retrieval_routers(task):
            assert (by_key[(f"router:{r}", d)]["rank"] == 0).mean() <= r1


def test_retrieval_run_is_deterministic(retrieval):
    task, by_key, _, history, _, _ = retrieval
    columns, history2, _, _ = core.run_all(task, RETRIEVAL_CFG, seed=0)
    assert history2 == history
    for c in (c for c in columns if c["split"] == "test"):
        ref = by_key[(c["entry"], c["direction"])]
        for k, v in c.items():
            if isinstance(v, np.ndarray):
                np.testing.assert_array_equal(v, ref[k], err_msg=f"{c['entry']} {c['direction']} {k}")


# --------------------------------------------------------------------------- writer


def test_the_writer_stacks_columns_and_writes_every_judge(ladder_run, ladder, tmp_path):
    _, columns, history, judges, tests = ladder_run
    frame = frame_of(columns, split=None)
    write_run(tmp_path, 0, {"loop": {"eps": CFG.eps}}, columns, copy.deepcopy(history), judges, tests)
    written = pd.read_parquet(tmp_path / "outputs.parquet")
    assert list(written.columns) == ["seed", "split", "large", "entry", "label", "id", "small_pred", "large_pred",
                                     "confidence", "to_large", "pred"]
    pd.testing.assert_frame_equal(written, frame, check_dtype=False)
    saved = json.loads((tmp_path / "history.json").read_text())
    assert saved["seed"] == 0 and saved["params"] == {"loop": {"eps": CFG.eps}} and "kind" in saved["judges"]["mlp"]
    assert {p.stem for p in (tmp_path / "judges").iterdir()} == set(judges) | {"test_inputs"}
    inputs = load_file(tmp_path / "judges" / "test_inputs.safetensors")
    assert set(inputs) == {f"{name}/{part}" for name in judges for part in ("x", "y")}
    assert inputs["round0_mlp/x"].dtype == torch.float32 and inputs["round0_mlp/y"].dtype == torch.int64

