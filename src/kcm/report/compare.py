"""Agreement check between two results folders (`kcm compare A B`): does a rerun, on this
machine or another, agree with a reference run?

Reads artifacts only: every `metrics/*.json` and `tables/table_claims.csv` of each folder.
A metric is a key path down to a seed summary {"mean", "std", "values"}, or to a plain number
(a single value: the text baseline, a judge's size, an alpha chosen per seed). For each metric
both folders hold, the difference B − A gets a 95 % Welch t interval from the two runs' seed
values; the metric moved beyond its CI when that interval excludes 0 (a single value, or seed
values without spread on both sides, give a zero-width interval: any change is a move). Then
the claims' verdicts are compared row by row.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pandas as pd

from kcm.io import read_json
from kcm.report.common import to_markdown
from kcm.stats import welch_difference_ci

CLAIMS = Path("tables") / "table_claims.csv"
CONFIDENCE = 0.95


def flatten_metrics(obj: Any, prefix: str = "") -> Iterator[tuple[str, list[float]]]:
    """(key path, values) for every seed summary and plain number under obj. Lists (curves,
    per-round histories) and strings are not metrics; None seed values are left out, and a
    summary with none left is skipped."""
    if isinstance(obj, dict):
        if {"mean", "std", "values"} <= obj.keys():
            values = [float(v) for v in obj["values"] if v is not None]
            if values:
                yield prefix, values
            return
        for key, value in obj.items():
            if key == "comparisons" and not prefix.count("/"):
                continue  # differences of the metrics above, with their own CIs: the verdicts compare them
            yield from flatten_metrics(value, f"{prefix}/{key}" if prefix else str(key))
    elif isinstance(obj, (int, float)) and not isinstance(obj, bool):
        yield prefix, [float(obj)]


def read_metrics(folder: Path) -> dict[str, list[float]]:
    """{"<file>/<key path>": seed values} over every metrics JSON of a results folder, the
    robustness sweep's (metrics/robustness/<axis>/<value>.json) included; <file> is the path
    under metrics/ without .json."""
    if not folder.is_dir():
        raise SystemExit(f"kcm compare: {folder} is not a folder")
    root = folder / "metrics"
    files = sorted(root.rglob("*.json"))
    metrics = {key: values for path in files
               for key, values in flatten_metrics(read_json(path), path.relative_to(root).with_suffix("").as_posix())}
    if not metrics:
        raise SystemExit(f"kcm compare: {folder} has no metrics (expected metrics/*.json with numbers)")
    return metrics


def read_verdicts(folder: Path) -> dict[str, str] | None:
    """{"<paper>: <claim>": verdict} from the claims table, None where the folder has none."""
    path = folder / CLAIMS
    if not path.is_file():
        return None
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    if not {"claim", "verdict"} <= set(table.columns):
        raise SystemExit(f"kcm compare: {path} has no claim and verdict columns")
    papers = table["paper"] if "paper" in table.columns else pd.Series("", index=table.index)
    return {f"{paper}: {claim}" if paper else claim: verdict
            for paper, claim, verdict in zip(papers, table["claim"], table["verdict"])}


def compare_metric(values_a: list[float], values_b: list[float]) -> dict:
    """Means, B − A with its Welch interval, and whether the interval excludes 0."""
    ci = welch_difference_ci(values_b, values_a, CONFIDENCE)
    return {
        "mean_a": sum(values_a) / len(values_a),
        "mean_b": sum(values_b) / len(values_b),
        "difference": ci["difference"],
        "ci_low": ci["low"],
        "ci_high": ci["high"],
        "beyond_ci": not ci["low"] <= 0.0 <= ci["high"],
        "n_a": len(values_a),
        "n_b": len(values_b),
    }


def compare_verdicts(verdicts_a: dict[str, str] | None, verdicts_b: dict[str, str] | None) -> dict:
    if verdicts_a is None or verdicts_b is None:
        missing = [side for side, v in (("A", verdicts_a), ("B", verdicts_b)) if v is None]
        return {"verdicts_compared": 0, "verdicts_changed": 0, "verdict_changes": [],
                "claims_only_in_a": [], "claims_only_in_b": [], "claims_missing_in": missing}
    both = [claim for claim in verdicts_a if claim in verdicts_b]
    changes = [{"claim": claim, "a": verdicts_a[claim], "b": verdicts_b[claim]}
               for claim in both if verdicts_a[claim] != verdicts_b[claim]]
    return {"verdicts_compared": len(both), "verdicts_changed": len(changes), "verdict_changes": changes,
            "claims_only_in_a": sorted(set(verdicts_a) - set(verdicts_b)),
            "claims_only_in_b": sorted(set(verdicts_b) - set(verdicts_a)), "claims_missing_in": []}


def compare_folders(folder_a: Path, folder_b: Path) -> dict:
    """The whole report as one JSON-ready document; numbers sit at stable key paths
    (metrics/<metric>/difference, ...) so `dvc metrics diff` can follow them across runs."""
    metrics_a, metrics_b = read_metrics(folder_a), read_metrics(folder_b)
    shared = sorted(metrics_a.keys() & metrics_b.keys())
    rows = {key: compare_metric(metrics_a[key], metrics_b[key]) for key in shared}
    only_a, only_b = sorted(metrics_a.keys() - metrics_b.keys()), sorted(metrics_b.keys() - metrics_a.keys())
    return {
        "a": str(folder_a),
        "b": str(folder_b),
        "confidence": CONFIDENCE,
        "metrics_compared": len(rows),
        "seed_metrics_compared": sum(1 for row in rows.values() if max(row["n_a"], row["n_b"]) > 1),
        "beyond_ci": sum(row["beyond_ci"] for row in rows.values()),
        "beyond_ci_by_file": {stem: sum(row["beyond_ci"] for key, row in rows.items() if key.split("/")[0] == stem)
                              for stem in sorted({key.split("/")[0] for key in rows})},
        "unchanged": sum(row["difference"] == 0.0 for row in rows.values()),
        "only_in_a_count": len(only_a),
        "only_in_b_count": len(only_b),
        "only_in_a": only_a,
        "only_in_b": only_b,
        "metrics": rows,
        **compare_verdicts(read_verdicts(folder_a), read_verdicts(folder_b)),
    }


def moved(report: dict) -> list[tuple[str, dict]]:
    """The metrics beyond their CI, largest |B − A| first."""
    rows = [(key, row) for key, row in report["metrics"].items() if row["beyond_ci"]]
    return sorted(rows, key=lambda item: (-abs(item[1]["difference"]), item[0]))


def _number(value: float) -> str:
    return f"{value:.6g}"


def moved_frame(report: dict, limit: int | None = None) -> pd.DataFrame:
    return pd.DataFrame(
        [{"metric": key, "mean A": _number(row["mean_a"]), "mean B": _number(row["mean_b"]),
          "B − A": f"{row['difference']:+.4g}",
          f"{CONFIDENCE:.0%} CI": f"[{row['ci_low']:+.4g}, {row['ci_high']:+.4g}]",
          "seeds A/B": f"{row['n_a']}/{row['n_b']}"}
         for key, row in moved(report)[:limit]],
        columns=["metric", "mean A", "mean B", "B − A", f"{CONFIDENCE:.0%} CI", "seeds A/B"])


def summary_text(report: dict, top: int = 10) -> str:
    """The human summary `kcm compare` prints."""
    n, seeds = report["metrics_compared"], report["seed_metrics_compared"]
    lines = [
        f"kcm compare  A = {report['a']}  B = {report['b']}",
        f"metrics compared: {n} ({seeds} over seeds, {n - seeds} single values); "
        f"unchanged: {report['unchanged']}; only in A: {report['only_in_a_count']}; "
        f"only in B: {report['only_in_b_count']}",
        f"moved beyond their {report['confidence']:.0%} CI: {report['beyond_ci']} "
        f"({', '.join(f'{stem} {count}' for stem, count in report['beyond_ci_by_file'].items())})",
        "  (Welch t interval of B − A from the two runs' seed values; zero width where neither run spreads,",
        "  so any change there counts; by chance alone about 1 in "
        f"{round(1 / (1 - report['confidence']))} of the metrics that spread lands outside)",
    ]
    for side in ("a", "b"):
        if report[f"only_in_{side}"]:
            listed = report[f"only_in_{side}"]
            lines.append(f"only in {side.upper()}: " + ", ".join(listed[:top]) + (" …" if len(listed) > top else ""))
    if report["beyond_ci"]:
        frame = moved_frame(report, top)
        frame["metric"] = frame["metric"].str.ljust(frame["metric"].str.len().max())  # left-aligned names
        lines += ["", f"largest moves beyond the CI (of {report['beyond_ci']}):", "", frame.to_string(index=False)]
    lines.append("")
    if report["claims_missing_in"]:
        lines.append(f"verdicts not compared: no {CLAIMS} in {', '.join(report['claims_missing_in'])}")
    else:
        lines.append(f"verdicts compared: {report['verdicts_compared']}; changed: {report['verdicts_changed']}")
        lines += [f"  {c['claim']}: {c['a']} -> {c['b']}" for c in report["verdict_changes"]]
        for side in ("a", "b"):
            lines += [f"  claim only in {side.upper()}: {claim}" for claim in report[f"claims_only_in_{side}"]]
    return "\n".join(lines)


def markdown(report: dict) -> str:
    """A Markdown table of every metric that moved beyond its CI, and the verdict changes."""
    lines = [f"# Agreement: {report['b']} against {report['a']}", "",
             f"{report['beyond_ci']} of {report['metrics_compared']} metrics moved beyond their "
             f"{report['confidence']:.0%} CI; {report['verdicts_changed']} verdicts changed.", ""]
    if report["beyond_ci"]:
        lines += [to_markdown(moved_frame(report)), ""]
    if report["verdict_changes"]:
        changes = pd.DataFrame(report["verdict_changes"]).rename(columns={"a": "verdict A", "b": "verdict B"})
        lines += [to_markdown(changes), ""]
    return "\n".join(lines)
