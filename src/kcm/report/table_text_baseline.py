"""table_text_baseline: the small text model alone, per-class accuracy in the APD tables' shape."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from kcm.io import read_json
from kcm.report.common import markdown_table, pct, write_table

DEVIATIONS = ["language.dataset", "language.dedup", "language.small_model", "language.input"]


def build(metrics: dict, card: dict) -> pd.DataFrame:
    """One row per evaluated split; class columns, their Average (as the paper), accuracy, F1."""
    rows = []
    for split in ("val", "test"):
        if split not in metrics:
            continue
        m = metrics[split]
        row = {"split": split, "n": m["n"]}
        row.update({cls: m["class_accuracy"][cls] for cls in card["classes"]})
        row.update(
            {"Average": m["mean_class_accuracy"], "Accuracy": m["accuracy"], "Macro-F1": m["macro_f1"]}
        )
        rows.append(row)
    return pd.DataFrame(rows)


def render(inputs: dict[str, list[Path]], setup: dict, outputs: dict[str, Path]) -> None:
    """`setup`: the small text model's parameters (config baseline.text), for the footer."""
    metrics, card = read_json(inputs["metrics:text_baseline"][0]), read_json(inputs["card:language"][0])
    frame = build(metrics["splits"], card)
    shown = frame.copy()
    for col in shown.columns[2:]:
        shown[col] = shown[col].map(pct)
    notes = [
        "Accuracy in %. Average = mean of the per-class accuracies (the paper's 'Average').",
        "",
        f"- Data: {card['source']['name']}, {card['n_samples']} articles, split seed {card['seed']} "
        f"(fingerprint {card['source_fingerprint'][:12]}).",
        f"- Model: {metrics['model']}; parameters {setup}.",
    ]
    write_table(outputs, frame, markdown_table("Small text model alone (TF-IDF + LR)", shown, notes, DEVIATIONS))
