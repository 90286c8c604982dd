"""table_language: the baseline ladder with large A in the shape of the paper's APD tables
(per-class accuracy and their Average), mean ± std; `ladder` serves table_language_prompted too."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from kcm.io import read_json
from kcm.report.common import markdown_table, pm, write_table
from kcm.report.language_context import deviations, footer, kcm_vs_mcm

TITLE = "Language, large A (the paper's BERT table): baseline ladder, accuracy %"
ROWS = [("Large", "system:large"), ("Small", "system:small"), ("+D", "system:d"), ("+KD", "system:kd"),
        ("+MCM", "system:mcm"), ("+KCM", "system:kcm")]
METRICS = [("Average", "mean_class_accuracy"), ("Accuracy", "accuracy"), ("Macro-F1", "macro_f1"),
           ("Large calls", "large_fraction")]


def build(metrics: dict, classes: list[str], large: str) -> pd.DataFrame:
    """One row per system; per seed-summary columns `<col>` (mean) and `<col> std`."""
    entries = metrics["large"][large]
    rows = []
    for label, entry in ROWS:
        m = entries[entry]
        row = {"system": label}
        cells = [(c, m["class_accuracy"][c]) for c in classes] + [(name, m[key]) for name, key in METRICS]
        for name, summary in cells:
            row[name], row[f"{name} std"] = summary["mean"], summary["std"]
        rows.append(row)
    return pd.DataFrame(rows)


def ladder(large: str, title: str, inputs: dict[str, list[Path]], setup: dict, outputs: dict[str, Path]) -> None:
    """The ladder table of large model `large` ("a" or "b")."""
    metrics, card = read_json(inputs["metrics:language"][0]), read_json(inputs["card:language"][0])
    classes = card["classes"]
    frame = build(metrics, classes, large)
    entries = metrics["large"][large]
    shown = pd.DataFrame({"system": frame["system"]})
    for col in [*classes, *(n for n, _ in METRICS)]:
        key = {n: k for n, k in METRICS}.get(col)
        shown[col] = [pm(entries[e]["class_accuracy"][col] if key is None else entries[e][key]) for _, e in ROWS]
    eps = metrics["params"]["loop"]["eps"]
    notes = [
        f"Accuracy in % on the test split, mean ± std over seeds; Average = mean of the per-class "
        f"accuracies (the paper's 'Average'). Large calls = % of test inputs sent to the large "
        f"model at eps = {eps}. Large: the large model alone, no hint. Small: the small model alone. "
        "+D / +KD: one distillation round with hard / soft large-model labels, routed by the small "
        "model's max-softmax. +MCM / +KCM: the closed loop with an MLP / KAN judge of equal size.",
        "",
        *kcm_vs_mcm(metrics, large),
        *footer(metrics, card, setup, large),
    ]
    write_table(outputs, frame, markdown_table(title, shown, notes, deviations(setup)))


def render(inputs: dict[str, list[Path]], setup: dict, outputs: dict[str, Path]) -> None:
    ladder("a", TITLE, inputs, setup, outputs)
