"""fig_text_baseline_confusion: row-normalised test-set confusion matrix of the small text model."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.metrics import confusion_matrix  # noqa: E402

from kcm.io import read_json  # noqa: E402
from kcm.report.figure import save  # noqa: E402

SPLIT = "test"  # the split the figure shows


def render(inputs: dict[str, list[Path]], setup: None, outputs: dict[str, Path]) -> None:
    card = read_json(inputs["card:language"][0])
    classes = card["classes"]
    preds = pd.read_parquet(inputs["predictions:text_baseline"][0])
    preds = preds[preds["split"] == SPLIT]
    matrix = confusion_matrix(preds["label"], preds["pred"], labels=range(len(classes)), normalize="true")
    fig, ax = plt.subplots(figsize=(5.2, 4.4), dpi=120)
    image = ax.imshow(matrix, cmap="Blues", vmin=0, vmax=1)
    for (i, j), value in np.ndenumerate(matrix):
        ax.text(j, i, f"{value:.2f}", ha="center", va="center", color="white" if value > 0.5 else "black")
    ax.set_xticks(range(len(classes)), classes, rotation=30, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"Small text model, {SPLIT} split (n={len(preds)})")
    fig.colorbar(image, ax=ax, fraction=0.046)
    fig.tight_layout()
    save(fig, outputs)
