"""table_language_prompted: the baseline ladder with large B, prompted zero-shot (the paper's
ChatGPT table), in the same shape as table_language."""

from __future__ import annotations

from pathlib import Path

from kcm.report.table_language import ladder

TITLE = "Language, large B prompted zero-shot (the paper's ChatGPT table): baseline ladder, accuracy %"


def render(inputs: dict[str, list[Path]], setup: dict, outputs: dict[str, Path]) -> None:
    ladder("b", TITLE, inputs, setup, outputs)
