"""macros_share: the SHARe-KAN sweep's headline numbers as LaTeX macros: the dense head, the
largest storage ratio within 1 and 2 points of its accuracy, N heads sharing a codebook, and the
parameter inflation over an equal-width MLP."""

from __future__ import annotations

from pathlib import Path

from kcm.io import read_json
from kcm.report.macros import Macros, percent
from kcm.report.share_common import MB, best_within

WITHIN = {"one": 0.01, "two": 0.02}  # word -> accuracy cost (fraction) a setting may have


def render(inputs: dict[str, list[Path]], setup: None, outputs: dict[str, Path]) -> None:
    sweep = read_json(inputs["share:sweep"][0])
    head = sweep["head"]
    macros = Macros("share:sweep", "share")
    dense = next(r for r in sweep["rows"] if r["method"] == "dense")
    macros.add(("dense", "accuracy"), percent(head["dense_accuracy"]), "head.dense_accuracy, percent")
    macros.add(("dense", "megabytes"), f"{dense['bytes'] / MB:.3f}", "rows[method=dense].bytes, MB (10^6 bytes)")
    macros.add(("dense", "params"), f"{head['n_params']:,}".replace(",", "{,}"), "head.n_params")
    for word, cost in WITHIN.items():
        best = best_within(sweep, cost)
        source = f"rows[method=share] with head.dense_accuracy − accuracy ≤ {cost:g}, largest ratio"
        words = ("best", "within", word, "point" if word == "one" else "points")
        macros.add((*words, "ratio"), "--" if best is None else f"{best['ratio']:.2f}", f"{source}: its ratio")
        macros.add((*words, "cost"), "--" if best is None else percent(head["dense_accuracy"] - best["accuracy"]),
                   f"{source}: dense − its accuracy, points")
    most = max(sweep["multi_head"]["scaling"], key=lambda s: s["heads"])
    macros.add(("shared", "heads"), str(most["heads"]), "multi_head.scaling[largest heads].heads")
    macros.add(("shared", "heads", "ratio"), f"{most['ratio']:.2f}", "multi_head.scaling[largest heads].ratio")
    macros.add(("inflation", "over", "mlp"), f"{head['n_params'] / head['mlp']['n_params']:.1f}",
               "head.n_params / head.mlp.n_params")
    macros.write(outputs["tex"], "SHARe-KAN sweep")
