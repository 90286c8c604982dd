"""kcm bench paper-scale: the hinted head's memory measured in fresh processes, its linear
extrapolation, and the report (small sizes; the numbers of record are in results/bench/)."""

import json
import subprocess
import sys

import pytest

from kcm.bench import paper_scale


@pytest.fixture(scope="module")
def heads():
    """Both inputs at 500 train rows, each in a fresh process as the benchmark runs them."""
    out = []
    for kind in ("one-hot", "materialised"):
        proc = subprocess.run([sys.executable, "-m", "kcm.bench.paper_scale", "--child", kind, "500"],
                              capture_output=True, text=True, check=True, timeout=600)
        out.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    return out


def test_the_one_hot_head_needs_far_less_memory_than_the_copies(heads):
    """101 copies of every split (100 classes) are what the one-hot head avoids: at 500 train
    rows the materialised version already holds several hundred MB more."""
    one_hot, copies = (next(r for r in heads if r["kind"] == k) for k in ("one-hot", "materialised"))
    assert copies["peak_mb"] - copies["start_mb"] > 2 * (one_hot["peak_mb"] - one_hot["start_mb"])
    assert copies["peak_mb"] > one_hot["peak_mb"] + 300


def test_the_extrapolation_is_a_least_squares_line_read_at_the_paper_size():
    rows = [{"kind": "k", "n_train": n, "peak_mb": 100 + 0.2 * n} for n in (1000, 2000, 4000)]
    at, per_thousand = paper_scale.extrapolate(rows, "k", 10847)
    assert at == pytest.approx(100 + 0.2 * 10847) and per_thousand == pytest.approx(200)


def test_report_states_both_measurements_and_their_ratios(heads):
    rows = heads + [dict(r, n_train=1000, peak_mb=r["peak_mb"] * 1.5) for r in heads]
    text = paper_scale.report(rows, {"sparse": 400.0, "dense": 1800.0}, quick=True)
    assert "| one-hot | 500 |" in text and "| materialised | 1000 |" in text
    assert "Dense / sparse: 4.5x per step" in text and "| sparse | 400.0 | 20.0 min |" in text
