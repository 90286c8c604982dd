"""A dataset folder's card: card.json (what the loaders and tables read) and card.md (for people),
written together by every dataset builder."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from kcm.data.split import SPLITS
from kcm.io import write_json, write_text


def counts_by_class(per_split: dict[str, np.ndarray], classes: Sequence[str]) -> dict[str, dict[str, int]]:
    """{class: {split: count}} from per-split bincounts."""
    return {cls: {name: int(per_split[name][c]) for name in SPLITS} for c, cls in enumerate(classes)}


def write_card(out: Path, card: dict, markdown: Callable[[dict], str]) -> dict:
    write_json(Path(out) / "card.json", card)
    write_text(Path(out) / "card.md", markdown(card))
    return card
