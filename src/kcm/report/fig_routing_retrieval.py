"""fig_routing_retrieval: R@1 vs % large-model calls for every router, one panel per direction
(image→text, text→image), with the oracle's best curve and the random line; seed-averaged."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from kcm.io import read_json  # noqa: E402
from kcm.report.fig_routing_language import STYLE  # noqa: E402
from kcm.report.figure import save  # noqa: E402

TITLES = {"i2t": "image → text", "t2i": "text → image"}


def render(inputs: dict[str, list[Path]], setup: None, outputs: dict[str, Path]) -> None:
    curves = pd.read_csv(inputs["curves:retrieval"][0])
    metrics = read_json(inputs["metrics:retrieval"][0])
    entries = next(iter(metrics["large"].values()))  # retrieval runs one large model
    eps = metrics["params"]["loop"]["eps"]
    fig, axes = plt.subplots(1, 2, figsize=(10.4, 4.2), dpi=120, squeeze=False)
    for ax, (direction, title) in zip(axes[0], TITLES.items()):
        part = curves[curves["direction"] == direction]
        for router, style in STYLE.items():
            line = part[part["router"] == router]
            if not line.empty:
                ax.plot(100 * line["large_fraction"], 100 * line["r1"], label=router, **style)
        for system, colour, marker in (("mcm", "tab:orange", "s"), ("kcm", "tab:green", "o")):
            point = entries[f"system:{system}"][direction]
            ax.scatter([100 * point["large_fraction"]["mean"]], [100 * point["r1"]["mean"]], color=colour,
                       marker=marker, zorder=5, label=f"CLIP+{system.upper()} at eps={eps}")
        ax.set_xlabel("% of test queries sent to the large model")
        ax.set_ylabel("R@1 (%)")
        ax.set_title(title)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8, loc="lower right")
    fig.suptitle(f"Routing curves, retrieval (mean over seeds {metrics['seeds']})")
    fig.tight_layout()
    save(fig, outputs)
