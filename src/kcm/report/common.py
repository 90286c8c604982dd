"""Shared formatting for tables: percentages, Markdown rendering, footers."""

from __future__ import annotations

import pandas as pd

from kcm.report.deviations import footer_lines


def pct(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{100 * value:.{digits}f}"


def markdown_table(title: str, frame: pd.DataFrame, notes: list[str], deviations: list[str]) -> str:
    """A titled Markdown table whose footer carries its provenance and every deviation."""
    return "\n".join(
        [f"# {title}", "", frame.to_markdown(index=False), "", *notes, *footer_lines(deviations), ""]
    )
