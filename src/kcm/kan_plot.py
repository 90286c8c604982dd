"""Draw every learned edge function phi_io of a KAN (the papers' visualisability claim).

One panel per layer, one small plot per edge (input row, output column) over the input's
grid range; line opacity follows the edge's importance (std of phi_io on sample inputs,
relative to the layer's largest), as pykan's `plot` shades edges. Wide layers show their
most important inputs and outputs only, and say so in the panel title.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from kcm.io import write_with  # noqa: E402
from kcm.kan import KAN  # noqa: E402


@torch.no_grad()
def layer_inputs(model: KAN, x: torch.Tensor) -> list[torch.Tensor]:
    """The activations entering each layer for inputs x."""
    acts = []
    for i in range(len(model.layers)):
        acts.append(x)
        x = model.step(i, x)
    return acts


@torch.no_grad()
def edge_importance(model: KAN, x: torch.Tensor) -> list[torch.Tensor]:
    """Per layer, (in, out) std of each edge's output over the samples."""
    return [layer.edge_curves(a).std(dim=0) for layer, a in zip(model.layers, layer_inputs(model, x))]


@torch.no_grad()
def plot_edges(
    model: KAN,
    path: str | Path,
    x: torch.Tensor | None = None,
    *,
    max_inputs: int = 10,
    max_outputs: int = 10,
    points: int = 101,
    input_names: list[str] | None = None,
    title: str | None = None,
) -> None:
    model = model.eval()
    importance = (
        edge_importance(model, x) if x is not None else [layer.mask.clone() for layer in model.layers]
    )
    fig = plt.figure(figsize=(3.2 * len(model.layers) + 1, 6.5), dpi=110)
    panels = fig.subfigures(1, len(model.layers), wspace=0.04)
    panels = panels if hasattr(panels, "__len__") else [panels]
    for l, (layer, panel, imp) in enumerate(zip(model.layers, panels, importance)):
        imp = imp / imp.max().clamp_min(1e-12)
        rows = torch.argsort(imp.sum(1), descending=True)[:max_inputs].sort().values
        cols = torch.argsort(imp.sum(0), descending=True)[:max_outputs].sort().values
        axes = panel.subplots(len(rows), len(cols), squeeze=False)
        k = layer.k
        for r, i in enumerate(rows.tolist()):
            lo, hi = float(layer.grid[i, k]), float(layer.grid[i, -k - 1])
            xs = torch.linspace(lo, hi, points)
            grid_in = torch.zeros(points, layer.in_dim)
            grid_in[:, i] = xs
            curves = layer.edge_curves(grid_in)[:, i, :]  # (points, out)
            for c, o in enumerate(cols.tolist()):
                ax = axes[r, c]
                ax.plot(xs, curves[:, o], color="black", lw=1.0, alpha=float(0.1 + 0.9 * imp[i, o]))
                ax.set_xticks([])
                ax.set_yticks([])
                for spine in ax.spines.values():
                    spine.set_alpha(0.3)
                if c == 0 and l == 0 and input_names:
                    ax.set_ylabel(input_names[i], fontsize=6, rotation=0, ha="right")
        shown = f" (top {len(rows)}/{layer.in_dim} in, {len(cols)}/{layer.out_dim} out)" if (
            len(rows) < layer.in_dim or len(cols) < layer.out_dim
        ) else ""
        panel.suptitle(f"layer {l}: {layer.in_dim}→{layer.out_dim}{shown}", fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10, y=1.02)
    write_with(path, lambda tmp: fig.savefig(tmp, format="png", metadata={"Software": None}, bbox_inches="tight"))
    plt.close(fig)


def plot_judge(judge_path: Path, path: Path, samples: Path | None = None, *, max_inputs: int = 10,
               max_outputs: int = 10) -> None:
    """`plot_edges` of a saved KAN judge; `samples` (parquet of judge inputs) shade by importance."""
    import pandas as pd

    from kcm.judges import Judge

    judge = Judge.load(judge_path)
    if judge.config.kind != "kan":
        raise SystemExit(f"{judge_path} is an {judge.config.kind.upper()} judge: only KAN edges can be drawn")
    x = None
    if samples is not None:
        x = judge.standardize(torch.tensor(pd.read_parquet(samples).to_numpy(), dtype=torch.float32))
    plot_edges(judge.net, path, x, max_inputs=max_inputs, max_outputs=max_outputs)
