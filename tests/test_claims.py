"""The claims table: every row names profile, scale, a CI and a verdict of the taxonomy; no row
reads more than its CI allows; identical-by-construction comparisons are "degenerate"."""

import copy
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from metrics_fakes import CLASSES, write_runs

from kcm import system_metrics
from kcm.io import read_json, write_json
from kcm.report import registry
from kcm.report.claims_verdicts import (
    CONTRARY,
    DEGENERATE,
    DIRECTION,
    INCONCLUSIVE,
    REPRODUCED,
    TAXONOMY,
    UNVERIFIED,
    Interval,
    decide,
    word,
)
from kcm.report.table_claims import build
from kcm.stats import mean_ci

READS_EVIDENCE = (REPRODUCED, DIRECTION, CONTRARY)


def card(dataset: str, n_train: int, n_test: int, **extra) -> dict:
    return {"dataset": dataset, "seed": 0, "classes": CLASSES, "source": {"name": dataset},
            "files": {"train": {"rows": n_train}, "val": {"rows": 10}, "test": {"rows": n_test}}, **extra}


CARDS = {"language": card("bbc", 120, 60),
         "vision": card("mnist_lt", 90, 60, groups={"of_class": {"a": "many", "b": "medium", "c": "few"}}),
         "retrieval": card("twemoji_pairs", 80, 40, captions={"test": {"captions": 40}})}


def sweep() -> dict:
    """A SHARe-KAN sweep in the branch's shape: per-head scores, validation accuracy, multi-head."""
    def heads(test, val):
        return [{"seed": i, "bytes": 1, "test": t, "val": v} for i, (t, v) in enumerate(zip(test, val))]

    rows = [{"method": "dense", "k": None, "precision": "fp32", "bytes": 2e6, "ratio": 1.0, "val_accuracy": 0.80,
             "accuracy": 0.80, "per_head": heads([0.80, 0.82, 0.78], [0.80, 0.81, 0.79])},
            {"method": "share", "k": 64, "precision": "int8+base", "bytes": 2e5, "ratio": 10.0, "val_accuracy": 0.79,
             "accuracy": 0.785, "per_head": heads([0.79, 0.80, 0.765], [0.79, 0.80, 0.78])},
            {"method": "share", "k": 16, "precision": "int8", "bytes": 1e5, "ratio": 20.0, "val_accuracy": 0.60,
             "accuracy": 0.60, "per_head": heads([0.6, 0.6, 0.6], [0.6, 0.6, 0.6])},
            *({"method": "prune", "k": None, "precision": "fp32", "sparsity": s, "bytes": 2e6, "ratio": 1.0,
               "val_accuracy": 0.8 - s, "accuracy": 0.8 - s, "per_head": heads([0.8 - s, 0.82 - s, 0.78 - s], [0.8] * 3)}
              for s in (0.1, 0.5))]
    scaling = [{"heads": n, "precision": p, "ratio": r * (1 + n / 100), "dense_bytes": n * 2e6,
                "shared_bytes": n * 2e6 / (r * (1 + n / 100))} for p, r in (("fp32", 3.0), ("int8+base", 9.0))
               for n in (1, 50)]
    per_head = [{"seed": i, "precision": "int8+base", "dense": 0.8, "shared": 0.78 + 0.01 * i} for i in range(3)]
    return {"head": {"dense_accuracy": 0.80, "dense_val_accuracy": 0.80, "n_params": 12000, "heads": 3,
                     "mlp": {"n_params": 400}, "linear": {"n_params": 40}},
            "rows": rows, "multi_head": {"k": 64, "scaling": scaling, "per_head": per_head,
                                         "chosen": {"precision": "int8+base", "k": 64}}}


FORGETTING = [{"results": {"kan": {"average_forgetting": f, "learning_accuracy": 0.7},
                           "mlp": {"average_forgetting": 0.3, "learning_accuracy": 0.72}}} for f in (0.10, 0.14, 0.12)]


@pytest.fixture(scope="module")
def metrics(tmp_path_factory):
    """Metrics JSONs computed by kcm.system_metrics from fake outputs; retrieval's KCM gives MCM's
    answers (both systems identical by construction)."""
    root = tmp_path_factory.mktemp("claims")
    language, _ = system_metrics.systems("classification", write_runs(root / "l", "classification"), CARDS["language"])
    vision, _ = system_metrics.systems("classification", write_runs(root / "v", "classification", larges=("lite0",)),
                                       CARDS["vision"])
    runs = write_runs(root / "r", "retrieval")
    for run in runs:
        frame = pd.read_parquet(run / "outputs.parquet")
        mcm = frame["entry"] == "system:mcm"
        frame.loc[frame["entry"] == "system:kcm", "rank"] = frame.loc[mcm, "rank"].to_numpy()
        frame.to_parquet(run / "outputs.parquet", index=False)
    retrieval, _ = system_metrics.systems("retrieval", runs, None, {"model": "towers"})
    return {"language": language, "vision": vision, "retrieval": retrieval}


def table(m: dict) -> pd.DataFrame:
    return build(m["language"], m["vision"], m["retrieval"], FORGETTING, sweep(), CARDS, {"run": "test"})


def test_a_degenerate_comparison_yields_degenerate(metrics):
    assert metrics["retrieval"]["comparisons"]["pairs"]["i2t"]["kcm_vs_mcm"]["degenerate"]
    frame = table(metrics).set_index("claim")
    for d in ("I2T", "T2I"):
        assert frame.loc[f"KCM above MCM: retrieval {d} R@1", "verdict"] == DEGENERATE
    every = frame.loc["KCM above MCM on every metric"]
    assert "2 degenerate left out" in every["scale"] and "retrieval" not in every["ours"]


def test_every_row_has_profile_scale_ci_and_a_taxonomy_verdict(metrics):
    frame = table(metrics)
    assert {"KCM", "SHARe-KAN"} == set(frame["paper"])
    for _, r in frame.iterrows():
        assert word(r["verdict"]) in TAXONOMY and r["basis"], r["claim"]
        assert r["profile"] == "test" and r["ci"], r["claim"]
        assert "× 1 split" in r["scale"] or "comparisons counted" in r["scale"], r["claim"]
        if word(r["verdict"]) == CONTRARY:
            assert "(deviation " in r["verdict"]
    scales = frame.set_index("claim")["scale"]
    assert scales["Large+KCM above Large, language (large A)"].startswith("bbc: n_train 120, n_test 60; 3 seeds × 1 split")
    assert "n_test 40 images / 40 captions" in scales["Large+KCM above Large, retrieval I2T R@1"]
    assert "3 heads × 1 split" in scales["13.9× at 50 heads (2.9 GB → 211 MB)"]


def test_secondary_summary_numbers_say_source_unverified(metrics):
    frame = table(metrics).set_index("claim")
    for claim in ("67.85 % fewer large-model calls at near-identical accuracy (language)",
                  "+6.04 % accuracy on long-tailed image classification", "≈ 6 % average ablation gain of KCM over MCM"):
        assert frame.loc[claim, "verdict"] == UNVERIFIED and "summary" in frame.loc[claim, "basis"]


def test_the_forgetting_row_has_a_seed_level_ci():
    ci = mean_ci([f["results"]["kan"]["average_forgetting"] - 0.3 for f in FORGETTING])
    rows = build_rows_forgetting()
    assert rows["ci_low"] == pytest.approx(100 * ci["low"]) and rows["ci_high"] == pytest.approx(100 * ci["high"])
    assert rows["verdict"] == REPRODUCED and "Student t over 3 per-seed" in rows["ci"]


def build_rows_forgetting() -> dict:
    from kcm.report.claims_kcm import forgetting_row

    return forgetting_row(FORGETTING, {"profile": "test", "forgetting": "s"})


def test_share_storage_reads_the_validation_choice_and_its_exact_ratio():
    from kcm.report.claims_share import share_rows

    rows = {r["claim"]: r for r in share_rows(sweep(), {"profile": "test", "share": "s"})}
    storage = rows["9.3× smaller head storage at −2.0 points (Int8)"]
    assert storage["verdict"] == REPRODUCED and storage["ci_low"] == storage["ci_high"] == 10.0  # K = 16 fails on val
    assert rows["13.9× at 50 heads (2.9 GB → 211 MB)"]["verdict"] == DIRECTION  # 13.5× < 13.9×
    assert word(rows["zero-shot magnitude pruning collapses accuracy"]["verdict"]) == DIRECTION  # −10 points, not −40


def test_decide_needs_the_ci_to_exclude_zero_and_to_reach_the_paper():
    def ci(low, high):
        return Interval((low + high) / 2, low, high, "t")

    assert decide(ci(-0.5, 1.0), +1, (2.0,), "vision.large")[0] == INCONCLUSIVE
    assert decide(ci(0.5, 1.0), +1, (2.0,), "vision.large")[0] == DIRECTION
    assert decide(ci(0.5, 2.5), +1, (2.0,), "vision.large")[0] == REPRODUCED
    assert decide(ci(0.5, 1.5), +1, (5.5, 1.2), "vision.large")[0] == REPRODUCED  # reaches one of the paper's
    assert decide(ci(-2.0, -0.5), +1, (2.0,), "vision.large")[0] == "contrary (deviation vision.large)"
    assert decide(ci(-2.0, -0.5), -1, (), "vision.large")[0] == REPRODUCED  # a claim that it goes down
    assert decide(Interval(0, 0, 0, "b", degenerate=True), +1, (), "vision.large")[0] == DEGENERATE
    with pytest.raises(KeyError):
        decide(ci(0.5, 1.0), +1, (), "no.such.deviation")


bounds = st.floats(-0.2, 0.2, allow_nan=False)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(bounds, bounds, st.booleans()), min_size=16, max_size=16),
       st.lists(st.floats(0.0, 0.6), min_size=3, max_size=3))
def test_no_row_reads_evidence_from_a_ci_that_includes_its_null(metrics, intervals, forgetting):
    """Property over fake comparisons of both signs, crossing zero or not, some degenerate."""
    m = copy.deepcopy(metrics)
    slots = [c for metric in m.values() for group in metric["comparisons"]["pairs"].values() for c in group.values()]
    for c, (x, y, degenerate) in zip(slots, intervals * 2):
        low, high = (0.0, 0.0) if degenerate else sorted((x, y))
        c.update(estimate=(low + high) / 2, low=low, high=high, degenerate=degenerate, excludes_zero=low > 0 or high < 0)
    runs = [{"results": {"kan": {"average_forgetting": f, "learning_accuracy": 0.7},
                         "mlp": {"average_forgetting": 0.3, "learning_accuracy": 0.7}}} for f in forgetting]
    frame = build(m["language"], m["vision"], m["retrieval"], runs, sweep(), CARDS, {"run": "test"})
    for _, r in frame.iterrows():
        if word(r["verdict"]) in READS_EVIDENCE:
            low, high, null = r["ci_low"], r["ci_high"], r["null"]
            assert not any(math.isnan(v) for v in (low, high, null)), r["claim"]
            assert not low <= null <= high, (r["claim"], r["verdict"], low, high)
            if null == 0.0:
                assert low > 0 or high < 0, (r["claim"], r["verdict"], low, high)


def test_render_writes_the_table_with_its_ci_columns(tmp_path, metrics):
    paths = {}
    for name, value in (("metrics:language", metrics["language"]), ("metrics:vision", metrics["vision"]),
                        ("metrics:retrieval", metrics["retrieval"]), ("share:sweep", sweep()),
                        *((f"card:{k}", v) for k, v in CARDS.items())):
        write_json(tmp_path / f"{name.replace(':', '_')}.json", value)
        paths[name] = [tmp_path / f"{name.replace(':', '_')}.json"]
    for i, run in enumerate(FORGETTING):
        write_json(tmp_path / f"forgetting{i}.json", run)
    paths["runs:forgetting"] = [tmp_path / f"forgetting{i}.json" for i in range(len(FORGETTING))]
    out = {k: tmp_path / f"claims.{k}" for k in ("md", "csv", "tex")}
    registry.render("table_claims", paths, {"run": "test"}, out)
    csv = pd.read_csv(out["csv"])
    assert {"profile", "scale", "ci", "ci_low", "ci_high", "null", "verdict", "basis"} <= set(csv.columns)
    md = out["md"].read_text()
    assert "single operating point ε = 0.98" in md and "× 1 split" in md and "Deviation (share.task)" in md
    assert "95 % CI" in md and all(w in md for w in TAXONOMY)
    assert read_json(paths["metrics:language"][0])["comparisons"]["method"]["eps"] == 0.98
    assert np.isfinite(csv.loc[csv["verdict"] != "not testable here", "ci_low"]).all()
