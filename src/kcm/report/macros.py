"""LaTeX macro files of headline numbers (showyourwork's `\\variable` idea): a paper `\\input`s the
file and writes `\\kcmLanguageAKcmAccuracy` instead of copying 86.7 by hand, so its numbers
come from the artifacts. Each macro's comment names the artifact and the key it was read from.
"""

from __future__ import annotations

import re
from pathlib import Path

from kcm.io import read_json, write_text
from kcm.stats import paired_difference

NAME = re.compile(r"[A-Za-z]+")  # TeX control words: letters only
PREFIX = "kcm"


def camel(word: str) -> str:
    """'max_softmax' -> 'MaxSoftmax'; the word must be letters once separators are dropped."""
    out = "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", word) if part)
    if not NAME.fullmatch(out):
        raise ValueError(f"{word!r} does not make a LaTeX macro name (letters only)")
    return out


def percent(value: float | None, digits: int = 1, sign: bool = False) -> str:
    """A fraction as percent (or points) text; '--' (an en dash) where undefined."""
    if value is None:
        return "--"
    return f"{100 * value:{'+' if sign else ''}.{digits}f}"


class Macros:
    """The macros of one artifact (`artifact`, an input key such as "metrics:language"), all named
    kcm<Topic><Words...>."""

    def __init__(self, artifact: str, topic: str):
        self.artifact, self.topic = artifact, topic
        self.lines: list[str] = []
        self.names: set[str] = set()

    def add(self, words: tuple[str, ...], value: str, source: str) -> None:
        name = PREFIX + camel(self.topic) + "".join(camel(w) for w in words)
        if name in self.names:
            raise ValueError(f"macro \\{name} defined twice")
        self.names.add(name)
        self.lines.append(f"\\newcommand{{\\{name}}}{{{value}}}  % {self.artifact}: {source}")

    def summary(self, words: tuple[str, ...], summary: dict, source: str) -> None:
        """Mean and sample std over seeds of a seed summary, in percent (`<words>`, `<words>Std`)."""
        self.add(words, percent(summary["mean"]), f"{source}.mean, percent")
        self.add((*words, "std"), percent(summary["std"]), f"{source}.std, percent")

    def difference(self, words: tuple[str, ...], a: dict, b: dict, source: str) -> None:
        """a − b paired by seed, in points (`<words>`), and its paired t-test p (`<words>P`)."""
        diff = paired_difference(a, b)
        self.add(words, percent(diff["mean"], sign=True), f"{source}, mean paired difference, points")
        self.add((*words, "p"), "--" if diff["p"] is None else f"{diff['p']:.2g}", f"{source}, paired t-test p")

    def write(self, path: Path, title: str) -> None:
        head = [f"% {title}: LaTeX macros generated from {self.artifact} by `kcm render`; do not edit.",
                "% \\input this file in a paper; each comment names the key the value was read from."]
        write_text(path, "\n".join([*head, *self.lines, ""]))


def experiment(path: Path, artifact: str, topic: str) -> tuple[dict, Macros]:
    """An experiment's metrics JSON and its macros, begun with the seed count and eps."""
    metrics = read_json(path)
    macros = Macros(artifact, topic)
    macros.add(("seeds",), str(len(metrics["seeds"])), "seeds, count")
    macros.add(("eps",), f"{metrics['params']['loop']['eps']:g}", "params.loop.eps")
    return metrics, macros
