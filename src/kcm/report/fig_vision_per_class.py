"""fig_vision_per_class: per-class test accuracy against the class's training count, for the
small model, its KCM-distilled version, the large model and the collaborating systems."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from kcm.io import read_json  # noqa: E402
from kcm.report.figure import save  # noqa: E402

SERIES = [
    ("system:small", "small alone", dict(color="tab:blue", marker="o")),
    ("small:kcm", "small after KCM distillation", dict(color="tab:blue", marker="o", ls="--")),
    ("system:large", "large alone", dict(color="black", marker="s")),
    ("system:mcm", "small + large, MLP judge (MCM)", dict(color="tab:orange", marker="^")),
    ("system:kcm", "small + large, KAN judge (KCM)", dict(color="tab:green", marker="v", lw=2)),
]


def render(inputs: dict[str, list[Path]], setup: None, outputs: dict[str, Path]) -> None:
    metrics, card = read_json(inputs["metrics:vision"][0]), read_json(inputs["card:vision"][0])
    counts = card["long_tail"]["counts"]
    entries = metrics["large"]["lite0"]
    order = sorted(range(len(counts)), key=lambda c: counts[c])
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=120)
    for entry, label, style in SERIES:
        acc = entries[entry]["class_accuracy"]
        xs = [counts[c] for c in order]
        ys = [100 * acc[card["classes"][c]]["mean"] for c in order]
        ax.plot(xs, ys, label=label, **style)
    for boundary in (20, 100):
        ax.axvline(boundary, color="grey", lw=0.8, ls=":")
    ax.set_xscale("log")
    ax.set_xlabel("training images of the class (log scale; Few < 20 ≤ Medium ≤ 100 < Many)")
    ax.set_ylabel("test accuracy of the class (%)")
    ax.set_title(f"Per-class accuracy, {card['dataset']} (mean over seeds {metrics['seeds']})")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    save(fig, outputs)
