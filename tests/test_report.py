"""The report registry and what every target writes: Markdown/CSV/LaTeX tables, PNG/PDF figures
with stable bytes, and LaTeX macro files of headline numbers."""

import argparse
import ast
import importlib
import inspect
import io
import re

import numpy as np
import pandas as pd
import pytest
from metrics_fakes import CLASSES, write_runs

from kcm import metrics, system_metrics
from kcm.io import read_json, write_json
from kcm.report import registry
from kcm.report.cli import register
from kcm.report.table_calls import ROUTER_NAMES, routers

FORBIDDEN = ("kcm.rounds", "kcm.retrieval_loop", "kcm.loop", "kcm.collab", "kcm.experiment", "kcm.tasks",
             "kcm.models", "kcm.system_metrics")
MACRO = re.compile(r"\\newcommand\{\\([^}]*)\}\{(.*?)\}  % (.*)")


def test_registry_covers_every_caption_and_every_module_renders(repo):
    captions = {p.name for p in (repo / "workflow/report").glob("*.rst")} - {"workflow.rst"}
    targets = registry.TARGETS.values()
    assert {t.caption for t in targets if t.kind != "macros"} == captions
    assert {t.name for t in targets if t.kind == "macros"} == {"macros_language", "macros_vision", "macros_retrieval",
                                                                 "macros_share"}
    for t in targets:
        assert t.caption == ("" if t.kind == "macros" else f"{t.name}.rst")
        render = importlib.import_module(t.module).render
        assert list(inspect.signature(render).parameters) == ["inputs", "setup", "outputs"], t.name
        assert t.group in {"Language", "Vision", "Retrieval", "SHARe-KAN", "Claims"} and t.message


def test_outputs_follow_the_kind():
    assert registry.TARGETS["table_calls"].outputs("results/x") == {
        "md": "results/x/tables/table_calls.md", "csv": "results/x/tables/table_calls.csv",
        "tex": "results/x/tables/table_calls.tex"}
    assert set(registry.TARGETS["fig_compression"].outputs("r")) == {"png", "pdf"}
    assert registry.TARGETS["macros_share"].outputs("r") == {"tex": "r/macros/macros_share.tex"}


def test_report_modules_read_artifacts_only(repo):
    """No renderer imports the loop, a task or a model; statistics come from kcm.stats. (cli.py's
    metrics verbs compute the metrics artifacts, so it alone may call kcm.system_metrics.)"""
    for path in sorted((repo / "src/kcm/report").glob("*.py")):
        if path.name == "cli.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] + [f"{node.module}.{a.name}" for a in node.names]
                if isinstance(node, ast.ImportFrom) else [])
            bad = [n for n in names if any(n == f or n.startswith(f + ".") for f in FORBIDDEN)]
            assert not bad, f"{path.name} imports {bad}"


@pytest.fixture
def text_baseline(tmp_path):
    """A small text model's predictions, its metrics JSON and the dataset card."""
    rng = np.random.default_rng(0)
    n = 90
    label = rng.integers(0, len(CLASSES), n)
    preds = pd.DataFrame({"split": np.repeat(["val", "test", "train"], n // 3), "label": label,
                          "pred": np.where(rng.random(n) < 0.7, label, (label + 1) % len(CLASSES))})
    preds.to_parquet(tmp_path / "predictions.parquet", index=False)
    write_json(tmp_path / "metrics.json", {"model": "tfidf-logreg", "splits": metrics.by_split(preds, CLASSES)})
    write_json(tmp_path / "card.json", {"classes": CLASSES, "source": {"name": "synthetic"}, "n_samples": n, "seed": 0,
                                        "source_fingerprint": "0" * 64})
    return {"predictions:text_baseline": [tmp_path / "predictions.parquet"],
            "metrics:text_baseline": [tmp_path / "metrics.json"], "card:language": [tmp_path / "card.json"]}


def inputs_of(name: str, available: dict) -> dict:
    return {k: available[k] for k in registry.TARGETS[name].inputs}


def latex_rows(tex: str) -> tuple[list[str], list[list[str]]]:
    """Header and body cells of a booktabs tabular, LaTeX escapes undone."""
    lines = tex.splitlines()
    assert lines[1] == r"\toprule" and r"\midrule" in lines and lines[-2] == r"\bottomrule"
    mid = lines.index(r"\midrule")

    def cells(line):
        return [c.strip().replace(r"\_", "_").replace(r"\%", "%").replace(r"\&", "&")
                for c in line.removesuffix(r" \\").split(" & ")]

    return cells(lines[mid - 1]), [cells(line) for line in lines[mid + 1:-2]]


def test_latex_table_has_the_csv_rows_and_values(tmp_path, text_baseline):
    outputs = {k: tmp_path / v.split("/")[-1] for k, v in registry.TARGETS["table_text_baseline"].outputs("o").items()}
    registry.render("table_text_baseline", inputs_of("table_text_baseline", text_baseline), {"C": 1.0}, outputs)
    csv = pd.read_csv(outputs["csv"], dtype=str, keep_default_na=False)
    header, rows = latex_rows(outputs["tex"].read_text())
    assert header == list(csv.columns)
    assert rows == csv.values.tolist()
    assert [float(v) for v in rows[1][2:]] == pytest.approx(pd.read_csv(outputs["csv"]).iloc[1, 2:].tolist())
    assert "booktabs" not in outputs["tex"].read_text()  # a tabular to \input, the paper loads booktabs
    assert "parameters {'C': 1.0}" in outputs["md"].read_text()


def test_figure_bytes_are_the_same_on_every_render(tmp_path, text_baseline):
    inputs = inputs_of("fig_text_baseline_confusion", text_baseline)
    first, second = ({kind: tmp_path / run / f"fig.{kind}" for kind in ("png", "pdf")} for run in ("one", "two"))
    registry.render("fig_text_baseline_confusion", inputs, None, first)
    registry.render("fig_text_baseline_confusion", inputs, None, second)
    assert first["pdf"].read_bytes()[:5] == b"%PDF-"
    assert first["pdf"].read_bytes() == second["pdf"].read_bytes()
    assert first["png"].read_bytes() == second["png"].read_bytes()
    assert b"CreationDate" not in first["pdf"].read_bytes()


def read_macros(path) -> dict[str, tuple[str, str]]:
    found = {}
    for line in path.read_text().splitlines():
        if line.startswith("%"):
            continue
        name, value, source = MACRO.fullmatch(line).groups()
        assert re.fullmatch(r"kcm[A-Z][A-Za-z]*", name), name  # a TeX control word: letters only
        assert name not in found, f"{name} defined twice"
        found[name] = (value, source)
    return found


def test_language_macros_name_the_metric_values(tmp_path):
    result, _ = system_metrics.systems("classification", write_runs(tmp_path / "runs", "classification"),
                                       {"classes": CLASSES})
    write_json(tmp_path / "language.json", result)
    registry.render("macros_language", {"metrics:language": [tmp_path / "language.json"]}, None,
                    {"tex": tmp_path / "macros.tex"})
    macros = read_macros(tmp_path / "macros.tex")
    kcm = result["large"]["a"]["system:kcm"]["accuracy"]
    assert macros["kcmLanguageAKcmAccuracy"][0] == f"{100 * kcm['mean']:.1f}"
    assert macros["kcmLanguageAKcmAccuracyStd"][0] == f"{100 * kcm['std']:.1f}"
    assert "large.a.system:kcm.accuracy.mean" in macros["kcmLanguageAKcmAccuracy"][1]
    calls = result["large"]["b"]["system:small"]["large_fraction"]["mean"]
    assert macros["kcmLanguageBSmallLargeCalls"][0] == f"{100 * calls:.1f}"
    assert macros["kcmLanguageSeeds"][0] == "3" and macros["kcmLanguageEps"][0] == "0.98"
    assert "kcmLanguageAKcmMinusMcmAccuracyP" in macros


def test_retrieval_macros_read_both_directions(tmp_path):
    result, _ = system_metrics.systems("retrieval", write_runs(tmp_path / "runs", "retrieval"), None, {})
    write_json(tmp_path / "retrieval.json", result)
    registry.render("macros_retrieval", {"metrics:retrieval": [tmp_path / "retrieval.json"]}, None,
                    {"tex": tmp_path / "macros.tex"})
    macros = read_macros(tmp_path / "macros.tex")
    r1 = result["large"]["clip"]["system:kcm"]["t2i"]["r1"]["mean"]
    assert macros["kcmRetrievalTextToImageKcmRecallOne"][0] == f"{100 * r1:.1f}"
    assert "kcmRetrievalImageToTextSmallRecallTen" in macros


def test_render_checks_inputs_and_outputs_against_the_registry(tmp_path, text_baseline):
    with pytest.raises(ValueError, match="missing"):
        registry.render("table_text_baseline", {"card:language": text_baseline["card:language"]}, {}, {})
    with pytest.raises(ValueError, match="writes"):
        registry.render("fig_text_baseline_confusion", inputs_of("fig_text_baseline_confusion", text_baseline), None,
                        {"png": tmp_path / "f.png"})


def test_cli_renders_by_name_and_computes_system_metrics(tmp_path, text_baseline):
    parser = argparse.ArgumentParser()
    verbs = parser.add_subparsers(dest="verb", required=True)
    groups = {"metrics": verbs.add_parser("metrics").add_subparsers(dest="kind", required=True)}
    register(verbs, groups)
    args = parser.parse_args(["render", "table_text_baseline", *[f"--input={k}={v[0]}" for k, v in text_baseline.items()
                                                                 if k != "predictions:text_baseline"],
                              "--setup", '{"C": 2.0}', "--output", f"md={tmp_path}/t.md",
                              "--output", f"csv={tmp_path}/t.csv", "--output", f"tex={tmp_path}/t.tex"])
    args.func(args)
    assert "parameters {'C': 2.0}" in (tmp_path / "t.md").read_text()
    runs = write_runs(tmp_path / "runs", "classification")
    write_json(tmp_path / "card.json", {"classes": CLASSES})
    args = parser.parse_args(["metrics", "systems", "--family", "classification", "--runs", *map(str, runs),
                              "--card", str(tmp_path / "card.json"), "--out", str(tmp_path / "m.json"),
                              "--curves", str(tmp_path / "c.csv")])
    args.func(args)
    assert read_json(tmp_path / "m.json")["family"] == "classification"
    assert set(pd.read_csv(io.StringIO((tmp_path / "c.csv").read_text()))["large"]) == {"a", "b"}


def test_calls_table_lists_the_routers_the_metrics_hold_in_display_order():
    entries = {f"router:{r}": {} for r in ("oracle", "kan", "new_router", "random")} | {"system:kcm": {}}
    assert routers(entries) == ["random", "kan", "oracle", "new_router"]
    assert list(ROUTER_NAMES)[:2] == ["random", "max_softmax"]


def test_share_macros_pick_the_largest_ratio_within_the_accuracy_cost(tmp_path):
    # chosen on validation: K = 4 is best on test within 2 points but 20 points down on validation
    rows = [{"method": "dense", "precision": "fp32", "bytes": 2e6, "ratio": 1.0, "val_accuracy": 0.80, "accuracy": 0.80},
            {"method": "share", "precision": "fp32", "k": 16, "bytes": 5e5, "ratio": 4.0, "val_accuracy": 0.795, "accuracy": 0.795},
            {"method": "share", "precision": "int8", "k": 16, "bytes": 2e5, "ratio": 10.0, "val_accuracy": 0.785, "accuracy": 0.77},
            {"method": "share", "precision": "int8", "k": 4, "bytes": 1e5, "ratio": 20.0, "val_accuracy": 0.60, "accuracy": 0.79}]
    scaling = [{"heads": n, "precision": p, "ratio": r} for p, r in (("fp32", 1.5), ("int8", 9.5)) for n in (1, 50)]
    sweep = {"head": {"dense_accuracy": 0.80, "dense_val_accuracy": 0.80, "n_params": 12000, "mlp": {"n_params": 400}},
             "rows": rows, "multi_head": {"scaling": scaling, "chosen": {"precision": "int8"}}}
    write_json(tmp_path / "compression.json", sweep)
    registry.render("macros_share", {"share:sweep": [tmp_path / "compression.json"]}, None,
                    {"tex": tmp_path / "macros.tex"})
    macros = {name: value for name, (value, _) in read_macros(tmp_path / "macros.tex").items()}
    assert macros["kcmShareBestWithinOnePointRatio"] == "4.00" and macros["kcmShareBestWithinOnePointCost"] == "0.5"
    assert macros["kcmShareBestWithinTwoPointsRatio"] == "10.00" and macros["kcmShareBestWithinTwoPointsCost"] == "3.0"
    assert (macros["kcmShareSharedHeads"], macros["kcmShareSharedHeadsRatio"]) == ("50", "9.50")
    assert (macros["kcmShareSharedHeadsRatioFloat"], macros["kcmShareSharedHeadsRatioIntEight"]) == ("1.50", "9.50")
    assert macros["kcmShareDenseParams"] == "12{,}000" and macros["kcmShareInflationOverMlp"] == "30.0"


def test_operating_points_table_renders_every_modality_group_and_point(tmp_path):
    card = {"classes": CLASSES, "groups": {"of_class": {"a": "many", "b": "medium", "c": "few"}}}
    made = {"language": system_metrics.systems("classification", write_runs(tmp_path / "l", "classification"), card),
            "vision": system_metrics.systems("classification", write_runs(tmp_path / "v", "classification",
                                                                          larges=("lite0",)), card),
            "retrieval": system_metrics.systems("retrieval", write_runs(tmp_path / "r", "retrieval"), None, {})}
    inputs = {}
    for modality, (result, _) in made.items():
        write_json(tmp_path / f"{modality}.json", result)
        inputs[f"metrics:{modality}"] = [tmp_path / f"{modality}.json"]
    out = {k: tmp_path / f"t.{k}" for k in ("md", "csv", "tex")}
    registry.render("table_operating_points", inputs, None, out)
    csv = pd.read_csv(out["csv"])
    points = ["eps", "match_large", "budget_20", "budget_50", "budget_80"]
    assert len(csv) == (2 + 1 + 2) * len(points) and csv["point"].tolist()[:5] == points
    assert list(csv.drop_duplicates("modality")["modality"]) == ["language", "vision", "retrieval"]
    row = csv[(csv["modality"] == "retrieval") & (csv["group"] == "t2i") & (csv["point"] == "budget_50")].iloc[0]
    block = made["retrieval"][0]["operating_points"]["groups"]["t2i"]
    assert row["KCM calls"] == pytest.approx(block["system:kcm"]["budget_50"]["test_fraction"]["mean"], abs=1e-6)
    assert row["MLP score"] == pytest.approx(block["router:mlp"]["budget_50"]["test_r1"]["mean"], abs=1e-6)
    c = made["retrieval"][0]["comparisons"]["at_points"]["t2i"]["budget_50"]["kan_vs_mlp"]
    seeds = c["between_seeds"]  # the t interval over seeds the verdicts read; the bootstrap beside it
    assert (row["KAN − MLP"], row["KAN − MLP low"], row["KAN − MLP p"]) == pytest.approx(
        (seeds["estimate"], seeds["low"], seeds["p"]), abs=1e-6)  # the CSV keeps 6 decimals
    assert (row["KAN − MLP bootstrap low"], row["KAN − MLP mcnemar p"]) == pytest.approx(
        (c["low"], c["mcnemar"]["p"]), abs=1e-6)
    md = out["md"].read_text()
    assert "VALIDATION rows only" in md and "match large reached on validation (retrieval; seeds)" in md
    assert "KCM − MCM [95 % CI]" in md and "ε = 0.98 (paper)" in md and "budget 80 %" in md
    header, rows = latex_rows(out["tex"].read_text())
    assert header == list(pd.read_csv(out["csv"], dtype=str, keep_default_na=False).columns) and len(rows) == len(csv)
