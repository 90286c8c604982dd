"""kcm bench rule-scaling: the fit and extrapolation, the work ratios, and the Slurm profile's
limits against the committed measurement (results/bench/rule_scaling.csv, issue 18)."""

import pandas as pd
import pytest
from slurm_run import requested
from workflow_runner import REPO, snakemake

from kcm.bench import rule_scaling as rs

MEASURED = REPO / "results" / "bench" / "rule_scaling.csv"


def paper_config() -> dict:
    return rs.paper_profile(REPO)


def jobs(rule: str, a: float, b: float, rss0: float, rss_per_row: float, modality: str) -> pd.DataFrame:
    """A rule measured at the bench's three sizes, exactly linear in its modality's rows."""
    n = [rs.rows(s)[modality] for s in (1, 2, 4)]
    return pd.DataFrame({"rule": rule, "rows": n, "wall_s": [a + b * x for x in n],
                         "max_rss_mb": [rss0 + rss_per_row * x for x in n]})


def test_a_linear_rule_is_read_at_the_paper_rows_times_its_work_ratio():
    table = rs.extrapolate(pd.concat([jobs("large_vision", 30, 2.0, 900, 0.5, "vision"),
                                      jobs("experiment_language", 10, 0.1, 400, 1.0, "language")]),
                           {"large_vision": (500.0, "epochs x folds")}, step_s=0.4, paper=paper_config())
    vision, language = (table.set_index("rule").loc[r] for r in ("large_vision", "experiment_language"))
    n = rs.PAPER_ROWS["vision"]
    assert vision["cpu_h"] * 3600 == pytest.approx(30 + 2.0 * n * 500)
    # a GPU rule: the per-row part is sped up, the start-up (intercept) is not
    assert vision["expected_h"] * 3600 == pytest.approx(30 + 2.0 * n * 500 / rs.SPEEDUP)
    assert vision["rss_gb"] * 1024 == pytest.approx(900 + 0.5 * n)  # memory does not scale with epochs
    assert vision["runtime_min"] == 720  # capped at 12 h: the retry (2x) fits 24 h
    assert language["expected_h"] == language["cpu_h"]  # a CPU rule
    assert language["runtime_min"] == 15 * -(-2 * language["expected_h"] * 60 // 15)
    assert language["mem_mb"] == max(2000, 1000 * -(-1.5 * (400 + rs.PAPER_ROWS["language"]) // 1000))


def test_memory_is_extrapolated_only_where_its_growth_is_resolved():
    """+-100 MB of allocator noise at a few hundred rows is not a slope to multiply by 40,000."""
    noisy = pd.DataFrame({"rule": "metrics_retrieval", "rows": [32, 64, 128], "wall_s": [2.0, 2.0, 2.0],
                          "max_rss_mb": [244.0, 206.0, 304.0]})
    row = rs.extrapolate(noisy, {}, step_s=0.4, paper=paper_config()).iloc[0]
    assert not row["rss_resolved"] and row["rss_gb"] * 1024 == 304.0
    linear = rs.extrapolate(jobs("metrics_retrieval", 2, 0.0, 200, 0.5, "retrieval"), {}, 0.4, paper_config()).iloc[0]
    assert linear["rss_resolved"] and linear["rss_gb"] * 1024 == pytest.approx(200 + 0.5 * rs.PAPER_ROWS["retrieval"])


def test_experiment_retrieval_adds_the_paper_fits_times_steps_at_the_measured_step_time():
    paper = paper_config()
    table = rs.extrapolate(jobs("experiment_retrieval", 20, 0.0, 500, 0.0, "retrieval"), {}, step_s=0.4, paper=paper)
    fits = (1 + 2 * paper["retrieval"]["loop"]["rounds"]) * (paper["retrieval"]["loop"]["folds"] + 1)
    assert fits == 30
    assert table.iloc[0]["cpu_h"] * 3600 == pytest.approx(20 + fits * paper["retrieval"]["small"]["steps"] * 0.4)


def test_work_ratios_are_the_paper_over_the_bench_loop_counts():
    ratios = {rule: r for rule, (r, _) in rs.work_ratios(paper_config()).items()}
    assert ratios["large_language_a"] == pytest.approx(3 * 5 / 2)
    assert ratios["large_vision"] == pytest.approx(200 * 5 / 2)
    assert ratios["experiment_vision"] == pytest.approx(200 * (5 * 6) / (5 * 3))
    assert ratios["experiment_language"] == pytest.approx(6 / 3)


def test_every_rule_of_the_paper_dag_has_a_modality_or_none_by_design(tmp_path):
    """A new data-dependent rule must be mapped to the rows it scales with."""
    rules = set(snakemake(tmp_path, "--list-rules").stdout.split())
    unmapped = {r for r in rules if rs.modality(r) is None}
    assert all(r.startswith(("table_", "fig_", "macros_", "robust", "config_", "share_edge", "share_judges", "all", "data_bbc",
                             "data_mnist", "data_twemoji", "metrics_text")) for r in unmapped), unmapped


def test_the_slurm_profile_covers_every_measured_rule():
    """The profile's first-attempt limits are at or above what the measurement proposes
    (the retry doubles them); lower a limit only with a new measurement."""
    measured = pd.read_csv(MEASURED)
    short = []
    for row in measured.itertuples():
        got = requested(row.rule)
        if got["runtime"] < row.runtime_min or got["mem_mb"] < row.mem_mb:
            short.append((row.rule, got, row.runtime_min, row.mem_mb))
    assert not short
    assert {"large_language_b", "experiment_vision", "experiment_retrieval", "large_vision_bbn"} <= set(measured["rule"])
