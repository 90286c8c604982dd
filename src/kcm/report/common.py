"""Shared formatting for tables: percentages, Markdown rendering, footers."""

from __future__ import annotations

import pandas as pd

from kcm.report.deviations import footer_lines


def pct(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{100 * value:.{digits}f}"


def to_markdown(frame: pd.DataFrame, index: bool = False) -> str:
    """Cells exactly as formatted (tabulate would re-parse "50.0" into "50"); the first
    column left-aligned, the (numeric) rest right-aligned."""
    align = ["left"] + ["right"] * (frame.shape[1] + index - 1)
    return frame.to_markdown(index=index, disable_numparse=True, colalign=align)


def markdown_table(title: str, frame: pd.DataFrame, notes: list[str], deviations: list[str]) -> str:
    """A titled Markdown table whose footer carries its provenance and every deviation."""
    return "\n".join(
        [f"# {title}", "", to_markdown(frame), "", *notes, *footer_lines(deviations), ""]
    )


def pm(summary: dict, digits: int = 1) -> str:
    """'mean ± std' in % from a kcm.system_metrics summary."""
    if summary["mean"] is None:
        return "–"
    return f"{100 * summary['mean']:.{digits}f} ± {100 * summary['std']:.{digits}f}"
