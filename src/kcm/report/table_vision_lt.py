"""table_vision_lt: the long-tailed table (the paper's CIFAR-100-LT table): Many / Medium / Few /
Overall accuracy and large-model calls of the small model, the large model and their MCM/KCM
versions, mean ± std over seeds; Many/Medium/Few membership in the footer."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from kcm.io import read_json, write_text
from kcm.report.common import markdown_table, pm
from kcm.system_metrics import paired_difference

ROWS = [
    ("{small}", "system:small"), ("{small}+MCM", "small:mcm"), ("{small}+KCM", "small:kcm"),
    ("Large", "system:large"), ("Large+MCM", "system:mcm"), ("Large+KCM", "system:kcm"),
]
COLUMNS = [("Many", "many_accuracy"), ("Medium", "medium_accuracy"), ("Few", "few_accuracy"),
           ("Overall", "accuracy"), ("Large calls", "large_fraction")]
# Reference band for a cross-entropy ResNet-32 on CIFAR-100-LT at imbalance 100 (anchors.md §5.1).
CE_RESNET32_BAND = (0.373, 0.393)


def deviations(dataset: str) -> list[str]:
    keys = ["vision.dataset"] if dataset == "mnist_lt" else ["vision.cifar_val"]
    return keys + ["vision.small", "vision.large", "vision.hint", "vision.judge_input", "vision.rows", "vision.seeds"]


def build(metrics: dict, small_name: str) -> pd.DataFrame:
    entries = metrics["large"]["lite0"]
    rows = []
    for label, entry in ROWS:
        row = {"system": label.format(small=small_name)}
        for name, key in COLUMNS:
            row[name], row[f"{name} std"] = entries[entry][key]["mean"], entries[entry][key]["std"]
        rows.append(row)
    return pd.DataFrame(rows)


def gate(metrics: dict, card: dict, setup: dict) -> str | None:
    """The paper profile's sanity gate: CE ResNet-32 at imbalance 100 against the literature."""
    if card.get("dataset") != "cifar100_lt" or setup["small"]["depth"] != 32 or card["long_tail"]["imbalance"] != 100:
        return None
    overall = metrics["large"]["lite0"]["system:small"]["accuracy"]["mean"]
    low, high = CE_RESNET32_BAND
    verdict = "inside" if low <= overall <= high else "OUTSIDE"
    return (f"- Reference gate: CE ResNet-32 Overall {100 * overall:.1f} % is {verdict} the literature band "
            f"{100 * low:.1f}–{100 * high:.1f} % (≈ 38.3 ± 1 %, anchors.md §5.1).")


def render(metrics_path: Path, card_path: Path, setup: dict, out_md: Path, out_csv: Path) -> None:
    metrics, card = read_json(metrics_path), read_json(card_path)
    small = setup["small"]
    small_name = f"ResNet-{small['depth']}"
    frame = build(metrics, small_name)
    write_text(out_csv, frame.round(6).to_csv(index=False))
    entries = metrics["large"]["lite0"]
    shown = pd.DataFrame({"system": frame["system"]})
    for name, key in COLUMNS:
        shown[name] = [pm(entries[entry][key]) for _, entry in ROWS]
    members = card["groups"]["members"]
    counts = card["long_tail"]["counts"]
    loop = metrics["params"]["loop"]
    few_small = paired_difference(entries["small:kcm"]["few_accuracy"], entries["small:mcm"]["few_accuracy"])
    few_system = paired_difference(entries["system:kcm"]["few_accuracy"], entries["system:mcm"]["few_accuracy"])
    sizes = metrics["judges"]
    notes = [
        f"Accuracy in % on the balanced test split, mean ± std over seeds {metrics['seeds']}; Large calls = % of "
        f"test images sent to the large model at eps = {loop['eps']}.",
        "",
        f"- KCM − MCM on Few, paired by seed: distilled small model {pm(few_small)} points; "
        f"collaborating system {pm(few_system)} points.",
        f"- Many (> 100 training images): classes {members['many']}; Medium (20–100): {members['medium']}; "
        f"Few (< 20): {members['few']}. Training counts per class: {counts} (imbalance "
        f"{card['long_tail']['imbalance']:g}, {card['long_tail']['profile']}).",
        f"- Data: {card['source']['name'] if isinstance(card['source'], dict) else card['source']}, "
        f"test n = {entries['system:small']['n']}, split seed {card['seed']}.",
        f"- Small model: {small_name} (width {small['width']}), {small['epochs']} epochs, batch "
        f"{small['batch_size']}, lr {small['lr']}, augmentation {small['augment']}; retrained in every round.",
        "- Large model: frozen EfficientNet-Lite0 (ImageNet) features + logistic-regression head on "
        "[features, one-hot hint of the small model's prediction].",
        f"- Judges: KAN width {sizes['kan']['width']}, {sizes['kan']['n_params']} parameters; MLP width "
        f"{sizes['mlp']['width']}, {sizes['mlp']['n_params']} parameters; rounds = {loop['rounds']}, "
        f"{loop['folds']}-fold out-of-fold outputs.",
    ]
    line = gate(metrics, card, setup)
    if line:
        notes.append(line)
    write_text(out_md, markdown_table("Long-tailed vision: Many / Medium / Few accuracy %", shown, notes,
                                      deviations(card.get("dataset", "mnist_lt"))))
