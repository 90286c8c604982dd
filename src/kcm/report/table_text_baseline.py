"""table_text_baseline: the small text model alone, per-class accuracy in the APD tables' shape."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from kcm.io import read_json, write_text
from kcm.report.common import markdown_table, pct

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


def render(metrics_path: Path, card_path: Path, params: dict, out_md: Path, out_csv: Path) -> None:
    metrics, card = read_json(metrics_path), read_json(card_path)
    frame = build(metrics["splits"], card)
    write_text(out_csv, frame.round(6).to_csv(index=False))
    shown = frame.copy()
    for col in shown.columns[2:]:
        shown[col] = shown[col].map(pct)
    notes = [
        "Accuracy in %. Average = mean of the per-class accuracies (the paper's 'Average').",
        "",
        f"- Data: {card['source']['name']}, {card['n_samples']} articles, split seed {card['seed']} "
        f"(fingerprint {card['source_fingerprint'][:12]}).",
        f"- Model: {metrics['model']}; parameters {params}.",
    ]
    write_text(out_md, markdown_table("Small text model alone (TF-IDF + LR)", shown, notes, DEVIATIONS))
