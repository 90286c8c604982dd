"""The claims table: every row names profile, scale, a CI and a verdict of the taxonomy; no row
reads more than its CI allows; identical-by-construction comparisons are "degenerate"."""

import copy
import itertools
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from metrics_fakes import CLASSES, write_runs
from scipy.stats import false_discovery_control

from kcm import system_metrics
from kcm.io import read_json, write_json
from kcm.report import registry
from kcm.report.claims_verdicts import (
    CONTRARY,
    DEGENERATE,
    DEPENDENT,
    DIRECTION,
    INCONCLUSIVE,
    REPRODUCED,
    TAXONOMY,
    UNVERIFIED,
    Interval,
    decide,
    decide_points,
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
               "val_accuracy": 0.8 - s, "accuracy": 0.8 - s, "per_head": heads([0.8 - s, 0.825 - s, 0.77 - s], [0.8] * 3)}
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
    answers and confidences (both systems identical by construction at every operating point)."""
    root = tmp_path_factory.mktemp("claims")
    language, _ = system_metrics.systems("classification", write_runs(root / "l", "classification"), CARDS["language"])
    vision, _ = system_metrics.systems("classification", write_runs(root / "v", "classification", larges=("lite0",)),
                                       CARDS["vision"])
    runs = write_runs(root / "r", "retrieval")
    for run in runs:
        frame = pd.read_parquet(run / "outputs.parquet")
        mcm = frame["entry"] == "system:mcm"
        for column in ("rank", "confidence", "to_large"):
            frame.loc[frame["entry"] == "system:kcm", column] = frame.loc[mcm, column].to_numpy()
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


def test_the_scale_says_one_train_val_split_per_seed_when_the_run_redrew_them(metrics):
    m = copy.deepcopy(metrics)
    m["language"]["params"]["loop"]["split"] = "per_seed"  # vision keeps no key: a fixed split
    m["retrieval"]["params"]["loop"]["split"] = "fixed"
    scales = table(m).set_index("claim")["scale"]
    assert scales["Large+KCM above Large, language (large A)"] == (
        "bbc: n_train 120, n_test 60; 3 seeds × 3 train/val splits (one per seed; test fixed, data split seed 0)")
    assert scales["Large+KCM above Large, long-tailed vision Overall"].endswith("; 3 seeds × 1 split (fixed, data split seed 0)")
    assert scales["Large+KCM above Large, retrieval I2T R@1"].endswith("3 seeds × 1 split (fixed, data split seed 0)")


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


def comparisons_of(m: dict) -> list[dict]:
    """Every comparison a verdict may read: at ε (pairs) and at every operating point."""
    out = []
    for metric in m.values():
        out += [c for group in metric["comparisons"]["pairs"].values() for c in group.values()]
        out += [c for group in metric["comparisons"]["at_points"].values() for point in group.values()
                for c in point.values()]
    return out


def set_ci(c: dict, low: float, high: float, degenerate: bool = False, p: float | None = None) -> None:
    """A comparison with this CI, over seeds (what verdicts read) and from the bootstrap alike; its
    p-values agree with the CI unless given (small where the CI excludes 0)."""
    low, high = (0.0, 0.0) if degenerate else sorted((low, high))
    excludes = low > 0 or high < 0
    p = (1e-4 if excludes else 0.5) if p is None else p
    c.update(estimate=(low + high) / 2, low=low, high=high, degenerate=degenerate, excludes_zero=excludes)
    c["mcnemar"] = {**c["mcnemar"], "p": p}
    c["between_seeds"] = {**c["between_seeds"], "estimate": (low + high) / 2, "low": low, "high": high, "p": p}


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(bounds, bounds, st.booleans()), min_size=23, max_size=23),
       st.lists(st.floats(0.0, 0.6), min_size=3, max_size=3))
def test_no_row_reads_evidence_from_a_ci_that_includes_its_null(metrics, intervals, forgetting):
    """Property over fake comparisons of both signs, crossing zero or not, some degenerate, at ε
    and at the operating points."""
    m = copy.deepcopy(metrics)
    for c, (x, y, degenerate) in zip(comparisons_of(m), itertools.cycle(intervals)):
        set_ci(c, x, y, degenerate)
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
        if r["verdict"] == DEPENDENT and r["claim"] != "KCM above MCM on every metric":
            assert all(p in r["basis"] for p in ("ε = 0.98", "match_large", "budget_20", "budget_80")), r["basis"]
            assert "above [" in r["basis"] or "below [" in r["basis"], r["basis"]


points_strategy = st.lists(st.tuples(bounds, bounds, st.booleans(), st.floats(0.0, 1.0)), min_size=1, max_size=5)


@settings(max_examples=200, deadline=None)
@given(points_strategy, st.sampled_from([+1, -1]))
def test_decide_points_reads_evidence_only_where_every_point_agrees(cis, sign):
    """Across points: a CI including 0 is never more than inconclusive; evidence needs the
    paper's point and every other non-degenerate point on one side, each with its
    Benjamini–Hochberg adjusted p < 0.05; dependence needs one such point; all degenerate is
    degenerate."""
    intervals = {f"p{i}": Interval(0.0, *((0.0, 0.0) if d else sorted((x, y))), "t", degenerate=d, p=p)
                 for i, (x, y, d, p) in enumerate(cis)}
    verdict, basis = decide_points(intervals, sign, (), "vision.large")
    live = {label: ci for label, ci in intervals.items() if not ci.degenerate}
    adjusted = dict(zip(live, false_discovery_control([ci.p for ci in live.values()]))) if live else {}
    sided = [ci for label, ci in live.items() if (ci.low > 0 or ci.high < 0) and adjusted[label] < 0.05]
    if not live:
        assert verdict == DEGENERATE
    if word(verdict) in READS_EVIDENCE:
        first = intervals["p0"]
        assert not first.degenerate and (first.low > 0 or first.high < 0)
        assert all((ci.low > 0) == (first.low > 0) and (ci.low > 0 or ci.high < 0) for ci in live.values())
        assert all(p < 0.05 for p in adjusted.values())
    if verdict == DEPENDENT:
        assert sided and all(label in basis for label in intervals)
    if not sided:
        assert verdict in (INCONCLUSIVE, DEGENERATE)


def test_a_difference_without_spread_over_seeds_is_no_evidence():
    """Two seeds that happen to give the same difference (the tiny test config's T2I budget_50:
    +5.3 and +5.3 points) leave a zero-width interval with no error estimate: inconclusive, and
    not a side at any operating point; an exact count (a storage ratio) keeps its reading."""
    flat = Interval(5.3, 5.3, 5.3, "t", p=None)
    assert decide(flat, +1, (), "vision.large")[0] == INCONCLUSIVE
    cis = {"ε = 0.98": Interval(0.0, 0.0, 0.0, "t", degenerate=True), "budget_50": flat}
    assert decide_points(cis, +1, (), "vision.large")[0] == DEGENERATE
    exact = Interval(11.26, 11.26, 11.26, "count", unit="×", null=1.0, exact=True)
    assert word(decide(exact, +1, (13.9,), "vision.large")[0]) == DIRECTION


def test_one_point_of_five_at_p_0_047_is_not_evidence_after_the_adjustment():
    """Reading a comparison at five points is five tests: a lone CI excluding 0 at p = 0.047
    (the embedded retrieval I2T budget_80 reading) does not make a row operating-point dependent."""
    def at(low, high, p):
        return Interval((low + high) / 2, low, high, "t", p=p)

    cis = {"ε = 0.98": at(-0.5, 0.5, 0.9), "match_large": at(-0.8, 0.6, 0.87), "budget_20": at(-0.5, 0.9, 0.74),
           "budget_50": at(-0.9, 0.6, 0.88), "budget_80": at(-1.5, -0.1, 0.047)}
    verdict, basis = decide_points(cis, +1, (), "vision.large")
    assert verdict == INCONCLUSIVE and "budget_80: includes [-1.5, -0.1]" in basis and "adjusted p = 0.23" in basis
    cis["budget_80"] = at(-1.5, -0.1, 0.001)  # strong enough to survive the adjustment
    assert decide_points(cis, +1, (), "vision.large")[0] == DEPENDENT


def language_row(m: dict, claim: str) -> pd.Series:
    frame = build(m["language"], m["vision"], m["retrieval"], FORGETTING, sweep(), CARDS, {"run": "test"})
    return frame.set_index("claim").loc[claim]


def test_a_reading_that_changes_with_the_operating_point_is_operating_point_dependent(metrics):
    m = copy.deepcopy(metrics)
    language = m["language"]["comparisons"]
    points = language["at_points"]["a"]

    def set_all(eps: tuple, **at: tuple) -> pd.Series:
        set_ci(language["pairs"]["a"]["kcm_vs_mcm"], *eps)
        for point in points:
            set_ci(points[point]["kcm_vs_mcm"], *at.get(point, eps))
        return language_row(m, "KCM above MCM: language A accuracy")

    row = set_all((0.005, 0.015))  # above 0 everywhere: the paper's point decides
    assert word(row["verdict"]) in (REPRODUCED, DIRECTION) and "every operating point" in row["basis"]
    row = set_all((0.005, 0.015), match_large=(-0.005, 0.005))  # ε's reading not borne out at matched calls
    assert row["verdict"] == DEPENDENT and "match_large: includes" in row["basis"] and "ε = 0.98: above" in row["basis"]
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((0.5, 1.5))  # the row's CI stays the paper's point
    row = set_all((-0.005, 0.005), budget_20=(0.001, 0.01), budget_50=(-0.01, -0.001))  # signs disagree
    assert row["verdict"] == DEPENDENT and "budget_50: below" in row["basis"]
    row = set_all((-0.005, 0.005))  # includes 0 everywhere
    assert row["verdict"] == INCONCLUSIVE
    for metric in m.values():  # every KCM − MCM comparison above 0, at every point
        for groups in (metric["comparisons"]["pairs"], *metric["comparisons"]["at_points"].values()):
            for name in ("kcm_vs_mcm", "kcm_vs_mcm_few"):
                for c in [g[name] for g in groups.values() if name in g]:
                    set_ci(c, 0.005, 0.015)
    assert word(language_row(m, "KCM above MCM on every metric")["verdict"]) == REPRODUCED
    set_ci(points["match_large"]["kcm_vs_mcm"], -0.005, 0.005)
    every = language_row(m, "KCM above MCM on every metric")
    assert every["verdict"] == DEPENDENT and "language A accuracy" in every["basis"]


def test_the_calls_claim_reads_the_match_large_point(metrics):
    row = language_row(metrics, "67.85 % fewer large-model calls at near-identical accuracy (language)")
    at = metrics["language"]["comparisons"]["at_points"]["a"]["match_large"]["kcm_vs_large"]
    calls = at["calls"]["between_seeds"]
    assert row["verdict"] == UNVERIFIED and "match_large" in row["ours"] and "KAN router" in row["ours"]
    # calls saved per seed: the large model alone calls every input, so 1 − KCM's call fraction
    saved = [100 * (1 - f) for f in at["a_test_fraction"]["values"]]
    assert row["estimate"] == pytest.approx(np.mean(saved))
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((-100 * calls["high"], -100 * calls["low"]))
    assert "Student t over 3 per-seed call fractions" in row["ci"]


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
    assert "paper's ε = 0.98" in md and "chosen per seed and system on validation rows only" in md and "× 1 split" in md and "Deviation (share.task)" in md
    assert "95 % CI" in md and all(w in md for w in TAXONOMY)
    assert read_json(paths["metrics:language"][0])["comparisons"]["method"]["eps"] == 0.98
    assert np.isfinite(csv.loc[csv["verdict"] != "not testable here", "ci_low"]).all()
