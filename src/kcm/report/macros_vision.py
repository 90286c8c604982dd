"""macros_vision: the long-tailed vision experiment's headline numbers as LaTeX macros: Many /
Medium / Few / Overall accuracy and large-call share of each system, and KCM − MCM, per large
model (Lite0's macros unprefixed, BBN's prefixed with bbn)."""

from __future__ import annotations

from pathlib import Path

from kcm.report.macros import experiment

SYSTEMS = {"small": "system:small", "small_mcm": "small:mcm", "small_kcm": "small:kcm",
           "large": "system:large", "mcm": "system:mcm", "kcm": "system:kcm"}
COLUMNS = {"many": "many_accuracy", "medium": "medium_accuracy", "few": "few_accuracy", "overall": "accuracy",
           "large_calls": "large_fraction"}


def render(inputs: dict[str, list[Path]], setup: None, outputs: dict[str, Path]) -> None:
    metrics, macros = experiment(inputs["metrics:vision"][0], "metrics:vision", "vision")
    for large, entries in sorted(metrics["large"].items()):
        prefix = () if large == "lite0" else (large,)  # Lite0's names stay as they were before BBN
        for word, entry in SYSTEMS.items():
            for column, key in COLUMNS.items():
                macros.summary((*prefix, word, column), entries[entry][key], f"large.{large}.{entry}.{key}")
        for kind, words in (("system", ()), ("small", ("small",))):
            for column in ("overall", "few"):
                key = COLUMNS[column]
                macros.difference((*prefix, *words, "kcm_minus_mcm", column), entries[f"{kind}:kcm"][key],
                                  entries[f"{kind}:mcm"][key], f"large.{large}.{kind}:kcm − {kind}:mcm {key}")
    macros.write(outputs["tex"], "Vision experiment")
