"""fig_text_baseline_confusion: row-normalised test-set confusion matrix of the small text model."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.metrics import confusion_matrix  # noqa: E402

from kcm.io import read_json, write_with  # noqa: E402


def render(predictions_path: Path, card_path: Path, out_png: Path, split: str = "test") -> None:
    card = read_json(card_path)
    classes = card["classes"]
    preds = pd.read_parquet(predictions_path)
    preds = preds[preds["split"] == split]
    matrix = confusion_matrix(preds["label"], preds["pred"], labels=range(len(classes)), normalize="true")
    fig, ax = plt.subplots(figsize=(5.2, 4.4), dpi=120)
    image = ax.imshow(matrix, cmap="Blues", vmin=0, vmax=1)
    for (i, j), value in np.ndenumerate(matrix):
        ax.text(j, i, f"{value:.2f}", ha="center", va="center", color="white" if value > 0.5 else "black")
    ax.set_xticks(range(len(classes)), classes, rotation=30, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"Small text model, {split} split (n={len(preds)})")
    fig.colorbar(image, ax=ax, fraction=0.046)
    fig.tight_layout()
    # No timestamp or version in the file: identical bytes on every rerun.
    write_with(out_png, lambda tmp: fig.savefig(tmp, format="png", metadata={"Software": None}))
    plt.close(fig)
