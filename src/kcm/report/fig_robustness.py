"""fig_robustness: a tornado plot per swept claim. Each bar is one setting of the robustness
sweep (config robustness.axes): the claim's estimate with the CI its verdict reads; the
configured run on top with its CI shaded through the panel, the no-effect value dashed. Axes
are ordered by how far their settings move the estimate (the widest swing first)."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib.pyplot as plt

from kcm.report.claims_sweep import DEFAULT, SUPPORT
from kcm.report.figure import save
from kcm.report.table_claims import claims_over_sweep


def ordered(group):
    """The configured row first, then the axes by their largest distance from it."""
    default, swept = group.iloc[0], group.iloc[1:].copy()
    swept["swing"] = (swept["estimate"] - default["estimate"]).abs()
    order = swept.groupby("axis", sort=False)["swing"].max().sort_values(ascending=False, kind="stable").index
    return [default, *(r for axis in order for _, r in swept[swept["axis"] == axis].iterrows())]


def render(inputs: dict[str, list[Path]], setup: dict, outputs: dict[str, Path]) -> None:
    _, sweep = claims_over_sweep(inputs, setup)
    claims = [c for c, g in sweep.groupby("claim", sort=False) if len(g) > 1 and g["estimate"].notna().all()]
    cols = 3
    rows = max(1, math.ceil(len(claims) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(6 * cols, 0.9 + 2.8 * rows), squeeze=False)
    for ax in axes.flat[len(claims):]:
        ax.axis("off")
    if not claims:
        axes.flat[0].text(0.5, 0.5, "no claim is swept (config robustness.axes is empty)", ha="center", va="center")
    for ax, claim in zip(axes.flat, claims):
        bars = ordered(sweep[sweep["claim"] == claim])
        default = bars[0]
        ax.axvspan(default["ci_low"], default["ci_high"], color="0.88", zorder=0)
        ax.axvline(default["null"], color="0.3", linestyle="--", linewidth=0.8)
        for y, r in enumerate(bars):
            colour = "tab:green" if r["reading"] in SUPPORT else "tab:red" if r["reading"].startswith("contrary") else "0.35"
            ax.errorbar(r["estimate"], y, xerr=[[r["estimate"] - r["ci_low"]], [r["ci_high"] - r["estimate"]]],
                        fmt="o", color=colour, markersize=4, capsize=2)
        ax.set_yticks(range(len(bars)),
                      [DEFAULT if r["axis"] == DEFAULT else f"{r['axis']} = {r['value']}" for r in bars],
                      fontsize=7)
        ax.invert_yaxis()
        ax.set_title(claim if len(claim) < 60 else claim[:57] + "…", fontsize=8)
        ax.tick_params(axis="x", labelsize=7)
        ax.set_xlabel("estimate and the CI its verdict reads (points; calls: %)", fontsize=7)
    fig.suptitle("Robustness sweep: each claim's estimate per setting (green: CI on the paper's side; "
                 "grey band: the configured run's CI)", fontsize=9)
    fig.tight_layout()
    save(fig, outputs)
