"""macros_language: the language experiment's headline numbers as LaTeX macros, per large model
(A, B): accuracy and large-call share of every system of the ladder, KCM − MCM, and the KAN
router over every threshold."""

from __future__ import annotations

from pathlib import Path

from kcm.report.macros import experiment

SYSTEMS = {"large": "system:large", "small": "system:small", "d": "system:d", "kd": "system:kd",
           "mcm": "system:mcm", "kcm": "system:kcm"}
ROUTER_METRICS = {"apgr": "apgr", "auc": "auc", "cpt_eighty": "cpt80"}


def render(inputs: dict[str, list[Path]], setup: None, outputs: dict[str, Path]) -> None:
    metrics, macros = experiment(inputs["metrics:language"][0], "metrics:language", "language")
    for large, entries in sorted(metrics["large"].items()):
        for word, entry in SYSTEMS.items():
            source = f"large.{large}.{entry}"
            macros.summary((large, word, "accuracy"), entries[entry]["accuracy"], f"{source}.accuracy")
            macros.summary((large, word, "average"), entries[entry]["mean_class_accuracy"],
                           f"{source}.mean_class_accuracy")
            macros.add((large, word, "large_calls"), f"{100 * entries[entry]['large_fraction']['mean']:.1f}",
                       f"{source}.large_fraction.mean, percent")
        macros.difference((large, "kcm_minus_mcm", "accuracy"), entries["system:kcm"]["accuracy"],
                          entries["system:mcm"]["accuracy"], f"large.{large}.system:kcm − system:mcm accuracy")
        for word, key in ROUTER_METRICS.items():
            macros.summary((large, "kan_router", word), entries["router:kan"][key], f"large.{large}.router:kan.{key}")
    macros.write(outputs["tex"], "Language experiment")
