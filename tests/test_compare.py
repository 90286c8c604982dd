"""`kcm compare`: two tiny results folders, one metric moved beyond its CI, one within, one only
on one side, one verdict changed."""

import json

import pytest

from kcm.cli import main
from kcm.report.compare import compare_folders, flatten_metrics


def seeds(*values):
    return {"mean": sum(v for v in values if v is not None) / len(values), "std": 0.01, "values": list(values)}


def write_run(folder, metrics: dict, verdicts: dict | None):
    (folder / "metrics").mkdir(parents=True)
    for stem, obj in metrics.items():
        (folder / "metrics" / f"{stem}.json").write_text(json.dumps(obj))
    if verdicts is not None:
        (folder / "tables").mkdir()
        rows = ["paper,claim,ours,verdict,source"] + [f"KCM,{claim},x,{verdict},metrics/language.json"
                                                      for claim, verdict in verdicts.items()]
        (folder / "tables" / "table_claims.csv").write_text("\n".join(rows) + "\n")


@pytest.fixture
def runs(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    write_run(a, {
        "language": {"large": {"accuracy": seeds(0.80, 0.81, 0.82)},
                     "small": {"accuracy": seeds(0.60, 0.62, 0.64)},
                     "old_shape": {"r1": seeds(0.2, 0.3, 0.25)},
                     "judge": {"n_params": 2080, "kind": "kan", "width": [4, 8, 2]}},
        "text_baseline": {"splits": {"test": {"accuracy": 0.95}}},
    }, {"fewer calls": "contradicted", "above MCM": "inconclusive"})
    write_run(b, {
        "language": {"large": {"accuracy": seeds(0.90, 0.91, 0.92)},
                     "small": {"accuracy": seeds(0.61, 0.63, 0.62)},
                     "new_shape": {"r1": seeds(0.2, None, 0.25)},
                     "judge": {"n_params": 2080, "kind": "kan", "width": [4, 8, 2]}},
        "text_baseline": {"splits": {"test": {"accuracy": 0.94}}},
    }, {"fewer calls": "inconclusive", "above MCM": "inconclusive"})
    return a, b


def test_moves_beyond_the_ci_are_flagged_and_noise_is_not(runs):
    report = compare_folders(*runs)
    rows = report["metrics"]
    assert rows["language/large/accuracy"]["beyond_ci"] is True
    assert rows["language/large/accuracy"]["difference"] == pytest.approx(0.10)
    assert rows["language/small/accuracy"]["beyond_ci"] is False
    low, high = rows["language/small/accuracy"]["ci_low"], rows["language/small/accuracy"]["ci_high"]
    assert low < rows["language/small/accuracy"]["difference"] < high
    # A single value has no spread: any change is a move, no change is none.
    assert rows["text_baseline/splits/test/accuracy"]["beyond_ci"] is True
    assert rows["language/judge/n_params"]["beyond_ci"] is False
    assert report["metrics_compared"] == 4 and report["beyond_ci"] == 2
    assert report["beyond_ci_by_file"] == {"language": 1, "text_baseline": 1}


def test_metrics_on_one_side_only_are_listed(runs):
    report = compare_folders(*runs)
    assert report["only_in_a"] == ["language/old_shape/r1"]
    assert report["only_in_b"] == ["language/new_shape/r1"]
    assert report["only_in_a_count"] == report["only_in_b_count"] == 1


def test_a_changed_verdict_is_reported(runs):
    report = compare_folders(*runs)
    assert report["verdicts_compared"] == 2 and report["verdicts_changed"] == 1
    assert report["verdict_changes"] == [{"claim": "KCM: fewer calls", "a": "contradicted", "b": "inconclusive"}]


def test_flatten_skips_text_lists_flags_and_empty_summaries():
    obj = {"s": seeds(None, None), "t": seeds(0.1, None), "name": "x", "curve": [1, 2], "ok": True, "n": 3}
    assert dict(flatten_metrics(obj, "m")) == {"m/t": [0.1], "m/n": [3.0]}


def test_cli_prints_a_summary_and_writes_json_and_markdown(runs, tmp_path, capsys):
    a, b = runs
    out, md = tmp_path / "compare.json", tmp_path / "compare.md"
    assert main(["compare", str(a), str(b), "--out", str(out), "--md", str(md)]) == 0
    printed = capsys.readouterr().out
    assert "metrics compared: 4" in printed and "beyond their 95% CI: 2" in printed
    assert "language/large/accuracy" in printed and "only in A: language/old_shape/r1" in printed
    assert "verdicts compared: 2; changed: 1" in printed and "contradicted -> inconclusive" in printed
    document = json.loads(out.read_text())
    assert document["beyond_ci"] == 2 and document["verdicts_changed"] == 1
    assert document["metrics"]["language/large/accuracy"]["difference"] == pytest.approx(0.10)
    table = md.read_text()
    assert "| language/large/accuracy" in table and "language/small/accuracy" not in table


def test_cli_fails_clearly_on_a_missing_or_empty_folder(runs, tmp_path):
    a, _ = runs
    with pytest.raises(SystemExit, match="is not a folder"):
        main(["compare", str(a), str(tmp_path / "missing")])
    (tmp_path / "empty" / "metrics").mkdir(parents=True)
    with pytest.raises(SystemExit, match="has no metrics"):
        main(["compare", str(tmp_path / "empty"), str(a)])


def test_verdicts_are_skipped_not_failed_without_a_claims_table(runs, tmp_path):
    a, _ = runs
    bare = tmp_path / "bare"
    write_run(bare, {"language": {"large": {"accuracy": seeds(0.80, 0.81, 0.82)}}}, None)
    report = compare_folders(a, bare)
    assert report["claims_missing_in"] == ["B"] and report["verdicts_changed"] == 0
