"""fig_routing_language: accuracy vs % large-model calls for every router, with the oracle's
best curve and the random line; one panel per large model; seed-averaged."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from kcm.io import read_json  # noqa: E402
from kcm.report.figure import save  # noqa: E402

STYLE = {
    "oracle": dict(color="black", ls="--", lw=1.2),
    "random (expected)": dict(color="grey", ls=":", lw=1.2),
    "random": dict(color="grey", lw=0.8, alpha=0.6),
    "max_softmax": dict(color="tab:blue"),
    "mlp": dict(color="tab:orange"),
    "kan": dict(color="tab:green", lw=2),
    "mlp_binary": dict(color="tab:orange", ls="-."),
    "kan_binary": dict(color="tab:green", ls="-."),
}
TITLES = {"a": "large A (trained head / fine-tuned)", "b": "large B (zero-shot prompts)"}


def render(inputs: dict[str, list[Path]], setup: None, outputs: dict[str, Path]) -> None:
    curves = pd.read_csv(inputs["curves:language"][0])
    metrics = read_json(inputs["metrics:language"][0])
    larges = sorted(curves["large"].unique())
    fig, axes = plt.subplots(1, len(larges), figsize=(5.2 * len(larges), 4.2), dpi=120, squeeze=False)
    for ax, large in zip(axes[0], larges):
        part = curves[curves["large"] == large]
        for router, style in STYLE.items():
            line = part[part["router"] == router]
            if line.empty:
                continue
            ax.plot(100 * line["large_fraction"], 100 * line["accuracy"], label=router, **style)
        eps = metrics["params"]["loop"]["eps"]
        kan = metrics["large"][large]["router:kan"]
        ax.scatter([100 * kan["large_fraction"]["mean"]], [100 * kan["accuracy"]["mean"]], color="tab:green",
                   zorder=5, label=f"KAN judge at eps={eps}")
        ax.set_xlabel("% of test inputs sent to the large model")
        ax.set_ylabel("accuracy (%)")
        ax.set_title(TITLES.get(large, large))
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8, loc="lower right")  # panel A has room below its curves
    fig.suptitle(f"Routing curves, language (mean over seeds {metrics['seeds']})")
    fig.tight_layout()
    save(fig, outputs)
