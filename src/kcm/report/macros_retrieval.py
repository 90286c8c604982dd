"""macros_retrieval: the retrieval experiment's headline numbers as LaTeX macros: Recall@1/5/10
and large-call share of each system in both directions, and KCM − MCM R@1."""

from __future__ import annotations

from pathlib import Path

from kcm.report.macros import experiment

SYSTEMS = {"small": "system:small", "small_mcm": "small:mcm", "small_kcm": "small:kcm",
           "large": "system:large", "mcm": "system:mcm", "kcm": "system:kcm"}
DIRECTIONS = {"i2t": "image_to_text", "t2i": "text_to_image"}
COLUMNS = {"recall_one": "r1", "recall_five": "r5", "recall_ten": "r10", "large_calls": "large_fraction"}


def render(inputs: dict[str, list[Path]], setup: None, outputs: dict[str, Path]) -> None:
    metrics, macros = experiment(inputs["metrics:retrieval"][0], "metrics:retrieval", "retrieval")
    (large, entries), = metrics["large"].items()  # one large model
    for direction, dword in DIRECTIONS.items():
        for word, entry in SYSTEMS.items():
            for column, key in COLUMNS.items():
                macros.summary((dword, word, column), entries[entry][direction][key],
                               f"large.{large}.{entry}.{direction}.{key}")
        macros.difference((dword, "kcm_minus_mcm", "recall_one"), entries["system:kcm"][direction]["r1"],
                          entries["system:mcm"][direction]["r1"],
                          f"large.{large}.system:kcm − system:mcm {direction}.r1")
    macros.write(outputs["tex"], "Retrieval experiment")
