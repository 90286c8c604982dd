"""macros_share: the SHARe-KAN sweep's headline numbers as LaTeX macros: the dense heads, the
largest storage ratio within 1 and 2 points of their accuracy (chosen on validation, its cost on
test), N heads sharing a codebook at every precision, and the parameter inflation over an
equal-width MLP."""

from __future__ import annotations

from pathlib import Path

from kcm.io import read_json
from kcm.report.macros import Macros, percent
from kcm.report.share_common import MB, PRECISION_WORDS, choose, fifty_heads

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
        best = choose(sweep, cost)
        source = f"rows[method=share] with head.dense_val_accuracy − val_accuracy ≤ {cost:g}, largest ratio"
        words = ("best", "within", word, "point" if word == "one" else "points")
        macros.add((*words, "ratio"), "--" if best is None else f"{best['ratio']:.2f}", f"{source}: its ratio")
        macros.add((*words, "cost"), "--" if best is None else percent(head["dense_accuracy"] - best["accuracy"]),
                   f"{source}: dense − its test accuracy, points")
    multi = sweep["multi_head"]
    most = fifty_heads(sweep, multi["chosen"]["precision"])
    macros.add(("shared", "heads"), str(most["heads"]), "multi_head.scaling[largest heads].heads")
    macros.add(("shared", "heads", "ratio"), f"{most['ratio']:.2f}",
               "multi_head.scaling[largest heads, precision chosen on validation, else largest ratio].ratio")
    for precision in dict.fromkeys(s["precision"] for s in multi["scaling"]):
        macros.add(("shared", "heads", "ratio", PRECISION_WORDS[precision]), f"{fifty_heads(sweep, precision)['ratio']:.2f}",
                   f"multi_head.scaling[largest heads, {precision}].ratio")
    macros.add(("inflation", "over", "mlp"), f"{head['n_params'] / head['mlp']['n_params']:.1f}",
               "head.n_params / head.mlp.n_params")
    macros.write(outputs["tex"], "SHARe-KAN sweep")
