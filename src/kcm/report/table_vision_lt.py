"""table_vision_lt: the long-tailed table (the paper's CIFAR-100-LT table): Many / Medium / Few /
Overall accuracy and large-model calls of the small model, each large model (Lite0 + head, and
BBN as in the paper's Table C) and their +D / +KD / MCM / KCM versions (the language table's
ladder), mean ± std over seeds; Many/Medium/Few membership in the footer."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from kcm import reference_gates
from kcm.io import read_json
from kcm.report.common import (
    comparison_of,
    kcm_vs_mcm_line,
    markdown_table,
    paired_test_note,
    pm,
    write_table,
)

# The distilled small model alone, then the collaborating systems, for every rung of the ladder:
# +D and +KD show whether any distillation (not only the judged loops) moves the Few classes.
LADDER = (("+D", "d"), ("+KD", "kd"), ("+MCM", "mcm"), ("+KCM", "kcm"))
# (row label, large model, entry): the distilled small models are Lite0's pupils.
ROWS = [("{small}", "lite0", "system:small"), *((f"{{small}}{label}", "lite0", f"small:{s}") for label, s in LADDER),
        *((name, large, "system:large") if not label else (f"{name}{label}", large, f"system:{s}")
          for large, name in (("lite0", "Large"), ("bbn", "BBN")) for label, s in (("", ""), *LADDER))]
COLUMNS = [("Many", "many_accuracy"), ("Medium", "medium_accuracy"), ("Few", "few_accuracy"),
           ("Overall", "accuracy"), ("Large calls", "large_fraction")]


def deviations(dataset: str) -> list[str]:
    keys = ["vision.dataset"] if dataset == "mnist_lt" else ["vision.cifar_val"]
    return keys + ["vision.small", "vision.large", "vision.bbn", "vision.hint", "vision.judge_input", "vision.rows",
                   "vision.seeds"]


def build(metrics: dict, small_name: str) -> pd.DataFrame:
    rows = []
    for label, large, entry in ROWS:
        cell = metrics["large"][large][entry]
        row = {"system": label.format(small=small_name)}
        for name, key in COLUMNS:
            row[name], row[f"{name} std"] = cell[key]["mean"], cell[key]["std"]
        rows.append(row)
    return pd.DataFrame(rows)


def gate(metrics: dict, card: dict, setup: dict) -> list[str]:
    """The sanity gate lines on the paper profile: our CE ResNet-32 (the small model alone) and
    BBN alone at imbalance 100 against their literature bands; elsewhere lines saying why there
    is no band to check."""
    dataset, imbalance = card.get("dataset", "mnist_lt"), card["long_tail"]["imbalance"]
    lines = []
    for who, depth, large, entry, band, source in (
            ("CE ResNet-32", setup["small"]["depth"], "lite0", "system:small", reference_gates.VISION_BAND,
             reference_gates.VISION_SOURCE),
            ("BBN ResNet-32", setup["bbn"]["depth"], "bbn", "system:large", reference_gates.BBN_BAND,
             reference_gates.BBN_SOURCE)):
        reference = f"{who} on CIFAR-100-LT at imbalance 100, {band[0]:.1f}–{band[1]:.1f} %, anchors.md §5.1"
        if not reference_gates.vision_applies(dataset, depth, imbalance):
            lines.append(reference_gates.not_applicable(reference, f"{dataset}, ResNet-{depth}, imbalance {imbalance:g}"))
            continue
        g = reference_gates.vision_gate(100 * metrics["large"][large][entry]["accuracy"]["mean"], band, source)
        lines.append(f"- Reference gate ({reference}): our {who} Overall {g['ours']:.1f} % is {g['verdict']}.")
    return lines


def render(inputs: dict[str, list[Path]], setup: dict, outputs: dict[str, Path]) -> None:
    metrics, card = read_json(inputs["metrics:vision"][0]), read_json(inputs["card:vision"][0])
    small = setup["small"]
    small_name = f"ResNet-{small['depth']}"
    frame = build(metrics, small_name)
    entries = metrics["large"]["lite0"]
    shown = pd.DataFrame({"system": frame["system"]})
    for name, key in COLUMNS:
        shown[name] = [pm(metrics["large"][large][entry][key]) for _, large, entry in ROWS]
    members = card["groups"]["members"]
    counts = card["long_tail"]["counts"]
    loop = metrics["params"]["loop"]
    pair = {("system", "accuracy"): "kcm_vs_mcm", ("small", "accuracy"): "small_kcm_vs_mcm",
            ("system", "few_accuracy"): "kcm_vs_mcm_few", ("small", "few_accuracy"): "small_kcm_vs_mcm_few"}
    diffs = [kcm_vs_mcm_line(f"{label} {name}", metrics["large"][large][f"{kind}:kcm"][key],
                             metrics["large"][large][f"{kind}:mcm"][key], comparison_of(metrics, large, pair[kind, key]))
             for large, kind, label in (("lite0", "system", "system"), ("lite0", "small", "distilled small model"),
                                        ("bbn", "system", "BBN system"))
             for name, key in (("Overall", "accuracy"), ("Few", "few_accuracy"))]
    bbn = setup["bbn"]
    sizes = metrics["judges"]
    notes = [
        f"Accuracy in % on the balanced test split, mean ± std over seeds {metrics['seeds']}; Large calls = % of "
        f"test images sent to the large model at eps = {loop['eps']}. +D / +KD: one distillation round with "
        "hard / soft large-model labels, routed by the small model's max-softmax; +MCM / +KCM: the closed loop "
        "with an MLP / KAN judge of equal size. Rows named after the small model: the distilled small model "
        "alone; rows named Large+: the collaborating system.",
        "",
        *diffs,
        paired_test_note(len(metrics["seeds"])),
        f"- Many (> 100 training images): classes {members['many']}; Medium (20–100): {members['medium']}; "
        f"Few (< 20): {members['few']}. Training counts per class: {counts} (imbalance "
        f"{card['long_tail']['imbalance']:g}, {card['long_tail']['profile']}).",
        f"- Data: {card['source']['name'] if isinstance(card['source'], dict) else card['source']}, "
        f"test n = {entries['system:small']['n']}, split seed {card['seed']}.",
        f"- Small model: {small_name} (width {small['width']}), {small['epochs']} epochs, batch "
        f"{small['batch_size']}, lr {small['lr']}, augmentation {small['augment']}; retrained in every round.",
        "- Large model: frozen EfficientNet-Lite0 (ImageNet) features + logistic-regression head on "
        "[features, one-hot hint of the small model's prediction].",
        f"- BBN: bilateral-branch ResNet-{bbn['depth']} (width {bbn['width']}) trained here on the long-tailed "
        f"train split ({bbn['epochs']} epochs, batch {bbn['batch_size']}, lr {bbn['lr']}; reversed sampler, "
        f"cumulative learning); train rows out-of-fold ({bbn['folds']} folds). The BBN row is BBN alone; "
        "BBN+ rows call it with the small model's hint, fused after it by a logistic-regression head on "
        "[BBN's log-probabilities, one-hot hint]. Rows named after the small model are Lite0's pupils.",
        f"- Judges: KAN width {sizes['kan']['width']}, {sizes['kan']['n_params']} parameters; MLP width "
        f"{sizes['mlp']['width']}, {sizes['mlp']['n_params']} parameters; rounds = {loop['rounds']}, "
        f"{loop['folds']}-fold out-of-fold outputs.",
    ]
    notes += gate(metrics, card, setup)
    write_table(outputs, frame, markdown_table("Long-tailed vision: Many / Medium / Few accuracy %", shown, notes,
                                               deviations(card.get("dataset", "mnist_lt"))))
