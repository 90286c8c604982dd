"""fig_compression: test accuracy (mean over the trained heads) against storage for every codebook
size and precision, the dense heads and the pruning baseline, with the paper's operating point
as a ratio marker."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from kcm.io import read_json  # noqa: E402
from kcm.report.figure import save  # noqa: E402

COLOURS = {"fp32": "tab:blue", "int8": "tab:green", "int8+base": "tab:purple"}


def render(inputs: dict[str, list[Path]], setup: None, outputs: dict[str, Path]) -> None:
    data = read_json(inputs["share:sweep"][0])
    rows = data["rows"]
    dense = next(r for r in rows if r["method"] == "dense")
    fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=120)
    for precision, colour in COLOURS.items():
        pts = sorted((r for r in rows if r["method"] == "share" and r["precision"] == precision), key=lambda r: r["bytes"])
        if pts:
            ax.plot([r["bytes"] / 1e6 for r in pts], [100 * r["accuracy"] for r in pts], "o-", color=colour,
                    label=f"SHARe-KAN {precision} (K = {pts[0]['k']}…{pts[-1]['k']})")
    ax.scatter([dense["bytes"] / 1e6], [100 * dense["accuracy"]], color="black", marker="s", zorder=5, label="dense KAN")
    pruned = [r for r in rows if r["method"] == "prune"]
    if pruned:
        ax.scatter([dense["bytes"] / 1e6] * len(pruned), [100 * r["accuracy"] for r in pruned], color="tab:red",
                   marker="x", label="magnitude pruning (stored dense)")
    ax.axvline(dense["bytes"] / 9.3 / 1e6, color="grey", ls=":", lw=1, label="paper's 9.3× storage")
    ax.set_xscale("log")
    ax.set_xlabel("head storage (MB, 10^6 bytes, log scale)")
    ax.set_ylabel(f"test accuracy (%, mean of {data['head'].get('heads', 1)} heads)")
    ax.set_title("SHARe-KAN on the dense KAN heads: accuracy vs storage")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    save(fig, outputs)
