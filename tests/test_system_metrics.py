"""System metrics over seeds: one entry point and one JSON shape for both metric families."""

import json

import numpy as np
import pandas as pd
import pytest
from metrics_fakes import (
    CLASSES,
    classification_outputs,
    on_test,
    retrieval_outputs,
    write_runs,
)

from kcm import stats, system_metrics
from kcm.stats import paired_difference


def test_metrics_over_seeds_are_mean_and_sample_std():
    two = on_test(pd.concat([classification_outputs(0), classification_outputs(1)], ignore_index=True))
    two.loc[two["seed"] == 1, "pred"] = two.loc[two["seed"] == 1, "label"]  # seed 1: every answer right
    result = system_metrics.aggregate("classification", two, CLASSES)
    assert (result["family"], result["seeds"], sorted(result["large"])) == ("classification", [0, 1], ["a", "b"])
    acc = result["large"]["a"]["system:kcm"]["accuracy"]
    rows = two[(two["seed"] == 0) & (two["large"] == "a") & (two["entry"] == "system:kcm")]
    first = float((rows["pred"] == rows["label"]).mean())
    assert acc["values"] == [first, 1.0]
    assert acc["mean"] == pytest.approx((first + 1) / 2)
    assert acc["std"] == pytest.approx(np.std([first, 1.0], ddof=1))
    assert set(result["large"]["a"]["system:kcm"]["class_accuracy"]) == set(CLASSES)
    assert len(paired_difference(acc, result["large"]["a"]["system:small"]["accuracy"])["values"]) == 2


def test_group_accuracy_is_the_accuracy_over_each_groups_samples():
    frame = on_test(classification_outputs(0))
    groups = {0: "many", 1: "medium", 2: "few"}
    got = system_metrics.aggregate("classification", frame, CLASSES, groups)["large"]["a"]["system:small"]
    rows = frame[(frame["entry"] == "system:small") & (frame["large"] == "a")]
    for cls, group in groups.items():
        mine = rows[rows["label"] == cls]
        assert got[f"{group}_accuracy"]["mean"] == pytest.approx((mine["pred"] == mine["label"]).mean())


@pytest.mark.parametrize("family", ["classification", "retrieval"])
def test_every_router_curve_stays_under_the_oracle(family):
    outputs = on_test(pd.concat([(classification_outputs if family == "classification" else retrieval_outputs)(s)
                                 for s in (0, 1)], ignore_index=True))
    curves = system_metrics.mean_curves(family, outputs)
    score, by = ("accuracy", "large") if family == "classification" else ("r1", "direction")
    for key, part in curves.groupby(by):
        oracle = part[part["router"] == "oracle"][score].to_numpy()
        for router, line in part.groupby("router"):
            assert (line[score].to_numpy() <= oracle + 1e-9).all(), (key, router)


def test_retrieval_recall_is_the_share_of_queries_ranked_under_k():
    outputs = on_test(retrieval_outputs(0))
    result = system_metrics.aggregate("retrieval", outputs)
    (large, entries), = result["large"].items()
    assert large == system_metrics.RETRIEVAL_LARGE
    rows = outputs[(outputs["entry"] == "system:kcm") & (outputs["direction"] == "t2i")]
    got = entries["system:kcm"]["t2i"]
    for k in (1, 5, 10):
        assert got[f"r{k}"]["mean"] == pytest.approx((rows["rank"] < k).mean())
    assert got["rsum"]["mean"] == pytest.approx(sum((rows["rank"] < k).mean() for k in (1, 5, 10)))
    assert got["n"] == len(rows)


def test_one_json_shape_for_both_families(tmp_path):
    card = {"classes": CLASSES, "groups": {"of_class": {"a": "many", "b": "medium", "c": "few"}}}
    cls, cls_curves = system_metrics.systems("classification", write_runs(tmp_path / "c", "classification",
                                                                              larges=("lite",)), card)
    ret, ret_curves = system_metrics.systems("retrieval", write_runs(tmp_path / "r", "retrieval"), None,
                                             {"model": "towers"})
    for result in (cls, ret):
        assert result["seeds"] == [0, 1, 2]
        assert {"family", "seeds", "large", "params", "judges", "rounds"} <= set(result)
        for entries in result["large"].values():
            assert "system:kcm" in entries and "router:oracle" in entries
    assert (cls["family"], ret["family"]) == ("classification", "retrieval")
    assert "few_accuracy" in cls["large"]["lite"]["system:kcm"]  # the card has groups
    assert set(ret["large"]["clip"]["system:kcm"]) == {"i2t", "t2i"}
    assert ret["large_model"] == {"model": "towers"} and ret["alpha"]["1"]["round0"]["i2t"] == 0.5
    assert {"large", "router", "accuracy"} <= set(cls_curves) and {"direction", "router", "r1"} <= set(ret_curves)


def test_language_cards_without_groups_get_no_group_accuracy(tmp_path):
    result, _ = system_metrics.systems("classification", write_runs(tmp_path, "classification"), {"classes": CLASSES})
    assert "few_accuracy" not in result["large"]["a"]["system:kcm"]


def test_an_unknown_family_is_refused():
    with pytest.raises(ValueError, match="unknown metric family"):
        system_metrics.aggregate("regression", classification_outputs(0), CLASSES)


def test_the_comparisons_block_is_the_paired_bootstrap_of_kcm_stats(tmp_path):
    """On a tiny outputs frame: KCM − MCM accuracy per sample, seeds and samples resampled (two
    levels), equals stats.paired_bootstrap_ci called directly, with McNemar on the pooled pairs;
    same bytes twice."""
    card = {"classes": CLASSES, "groups": {"of_class": {"a": "many", "b": "medium", "c": "few"}}}
    runs = write_runs(tmp_path / "c", "classification", larges=("lite",), n=12)
    result, _ = system_metrics.systems("classification", runs, card)
    again, _ = system_metrics.systems("classification", runs, card)
    assert json.dumps(result, sort_keys=True) == json.dumps(again, sort_keys=True)
    outputs = on_test(pd.concat([pd.read_parquet(r / "outputs.parquet") for r in runs]))
    kcm, mcm = (outputs[outputs["entry"] == e] for e in ("system:kcm", "system:mcm"))
    a, b = (f["pred"].to_numpy() == f["label"].to_numpy() for f in (kcm, mcm))
    direct = stats.paired_bootstrap_ci(a, b, np.mean, groups=kcm["seed"].to_numpy(), n_resamples=9999,
                                       confidence=0.95, seed=0, resample_groups=True)
    got = result["comparisons"]["pairs"]["lite"]["kcm_vs_mcm"]
    assert {k: got[k] for k in direct} == direct
    assert got["mcnemar"] == stats.mcnemar(a, b) and (got["n"], got["seeds"]) == (36, 3)
    # what verdicts read: the per-seed differences, their t interval and paired t-test
    seeds = kcm["seed"].to_numpy()
    per_seed = [a[seeds == s].mean() - b[seeds == s].mean() for s in (0, 1, 2)]
    t = stats.mean_ci(per_seed)
    assert got["between_seeds"]["values"] == pytest.approx(per_seed)
    assert (got["between_seeds"]["low"], got["between_seeds"]["high"]) == pytest.approx((t["low"], t["high"]))
    assert got["between_seeds"]["p"] == pytest.approx(stats.paired_t_test(per_seed)["p"])
    few = kcm["label"].to_numpy() == 2
    direct_few = stats.paired_bootstrap_ci(a[few], b[few], np.mean, groups=kcm["seed"].to_numpy()[few], seed=0,
                                           resample_groups=True)
    assert result["comparisons"]["pairs"]["lite"]["kcm_vs_mcm_few"]["low"] == direct_few["low"]
    assert set(result["comparisons"]["pairs"]["lite"]) == {"kcm_vs_mcm", "small_kcm_vs_mcm", "kcm_vs_large",
                                                           "kcm_vs_mcm_few", "small_kcm_vs_mcm_few"}


def test_identical_answers_are_flagged_degenerate(tmp_path):
    runs = write_runs(tmp_path / "r", "retrieval")
    for run in runs:
        frame = pd.read_parquet(run / "outputs.parquet")
        frame.loc[frame["entry"] == "system:kcm", "rank"] = frame.loc[frame["entry"] == "system:mcm", "rank"].to_numpy()
        frame.to_parquet(run / "outputs.parquet", index=False)
    result, _ = system_metrics.systems("retrieval", runs, None, {"model": "towers"})
    for direction in ("i2t", "t2i"):
        got = result["comparisons"]["pairs"][direction]
        assert got["kcm_vs_mcm"]["degenerate"] and got["kcm_vs_mcm"]["identical_answers"]
        assert (got["kcm_vs_mcm"]["low"], got["kcm_vs_mcm"]["high"]) == (0.0, 0.0)
        assert not got["kcm_vs_large"]["degenerate"]


@pytest.mark.parametrize("family", ["classification", "retrieval"])
def test_every_metric_reads_the_test_rows_only(tmp_path, family):
    """Other validation answers and confidences move the operating points, never a test metric,
    a curve or an ε comparison; another test answer does move them."""
    def run(folder, edit):
        runs = write_runs(tmp_path / folder, family)
        for r in runs:
            frame = pd.read_parquet(r / "outputs.parquet")
            edit(frame)
            frame.to_parquet(r / "outputs.parquet", index=False)
        return system_metrics.systems(family, runs, {"classes": CLASSES}, {})

    answer = "pred" if family == "classification" else "rank"
    base, base_curves = run("base", lambda f: None)

    def edit_val(frame):
        val = frame["split"] == "val"
        frame.loc[val, answer] = frame.loc[val, answer].to_numpy()[::-1]
        frame.loc[val, "confidence"] = 1.0 - frame.loc[val, "confidence"]

    moved, moved_curves = run("val", edit_val)
    for key in ("large", "comparisons"):
        kept = {k: v for k, v in moved[key].items() if k != "at_points"}
        assert kept == {k: v for k, v in base[key].items() if k != "at_points"}, key
    pd.testing.assert_frame_equal(moved_curves, base_curves)
    assert moved["operating_points"] != base["operating_points"]

    def edit_test(frame):
        test = (frame["split"] == "test") & (frame["entry"] == "system:kcm")
        frame.loc[test, answer] = frame.loc[test, answer].to_numpy()[::-1]

    assert run("test", edit_test)[0]["large"] != base["large"]


def test_outputs_without_a_split_column_are_refused():
    with pytest.raises(ValueError, match="no split column"):
        system_metrics.on_test(classification_outputs(0).drop(columns="split"))
