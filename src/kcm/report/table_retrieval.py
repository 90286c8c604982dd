"""table_retrieval: the paper's MSCOCO table: I2T and T2I Recall@1/5/10 and large-model calls of
the small model, the large CLIP and their MCM/KCM collaborations, mean ± std over seeds; a
second block compares the routers over every threshold (R@1 routing curves)."""

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
    to_markdown,
    write_table,
)

ROWS = [
    ("Small", "system:small"), ("Small+MCM (distilled, alone)", "small:mcm"),
    ("Small+KCM (distilled, alone)", "small:kcm"),
    ("CLIP", "system:large"), ("CLIP+MCM", "system:mcm"), ("CLIP+KCM", "system:kcm"),
]
DIRECTIONS = {"i2t": "I2T", "t2i": "T2I"}
KS = (1, 5, 10)
ROUTER_ROWS = [("random", "router:random"), ("small max-softmax", "router:max_softmax"),
           ("MLP judge", "router:mlp"), ("KAN judge", "router:kan"), ("oracle", "router:oracle"),
           ("CLIP+MCM (after the rounds)", "system:mcm"), ("CLIP+KCM (after the rounds)", "system:kcm")]
# The paper's MSCOCO table (papers.md, KCM-4 Table D), percent: its only retrieval rows.
PAPER = {
    "CLIP": (73.2, 91.5, 96.8, 54.7, 79.5, 87.2),
    "CLIP+KCM": (75.4, 93.1, 97.8, 57.2, 81.6, 89.1),
}
DEVIATIONS = ["retrieval.large", "retrieval.small", "retrieval.judge", "retrieval.hint", "retrieval.rows",
              "retrieval.seeds"]


def columns() -> list[tuple[str, str, str]]:
    """(header, direction, metric) of every table column."""
    out = [(f"{DIRECTIONS[d]} R@{k}", d, f"r{k}") for d in DIRECTIONS for k in KS]
    return out + [(f"Calls {DIRECTIONS[d]}", d, "large_fraction") for d in DIRECTIONS]


def systems(metrics: dict) -> dict:
    """entry -> direction -> metric summaries of the run's one large model."""
    return next(iter(metrics["large"].values()))


def build(metrics: dict) -> pd.DataFrame:
    """The numeric table (fractions), for the CSV."""
    entries = systems(metrics)
    rows = []
    for label, entry in ROWS:
        row = {"system": label}
        for header, d, key in columns():
            row[header], row[f"{header} std"] = entries[entry][d][key]["mean"], entries[entry][d][key]["std"]
        rows.append(row)
    return pd.DataFrame(rows)


def routers_block(metrics: dict) -> list[str]:
    """APGR and CPT(80 %) of each router on the R@1 curve, per direction, as Markdown lines."""
    entries = systems(metrics)
    frame = pd.DataFrame({"router": [name for name, _ in ROUTER_ROWS]})
    for d, name in DIRECTIONS.items():
        frame[f"{name} APGR"] = [pm(entries[e][d]["apgr"]) for _, e in ROUTER_ROWS]
        frame[f"{name} calls for 80 % of the gap"] = [pm(entries[e][d]["cpt80"]) for _, e in ROUTER_ROWS]
    return ["", "Routers over every threshold (R@1; APGR: share of the area between the small and hinted large "
            "lines recovered, random = 50 %; the first five share the round-0 small model, the last two route "
            "their own distilled one):", "", to_markdown(frame), ""]


def gate_line(metrics: dict, setup: dict) -> str:
    """The sanity gate line: zero-shot ViT-B/32 on COCO 5k against the published values on the
    paper profile; elsewhere a line saying why there is no published value to check."""
    reference = reference_gates.RETRIEVAL_REFERENCE
    if not reference_gates.applies(setup):
        large = setup.get("large") or {}
        return reference_gates.not_applicable(reference, f"{setup.get('dataset')}, large model {large.get('kind')}")
    large = systems(metrics)["system:large"]
    gate = reference_gates.retrieval_gate(100 * large["i2t"]["r1"]["mean"], 100 * large["t2i"]["r1"]["mean"])
    parts = [f"{DIRECTIONS[d]} R@1 {gate[d]['ours']:.1f} vs {gate[d]['published']:.1f} "
             f"({gate[d]['difference']:+.1f} points, {gate[d]['verdict']})" for d in DIRECTIONS]
    return (f"- Reference gate ({reference}, ± {gate['tolerance']:g} points): " + "; ".join(parts) + ".")


def render(inputs: dict[str, list[Path]], setup: dict, outputs: dict[str, Path]) -> None:
    metrics, card = read_json(inputs["metrics:retrieval"][0]), read_json(inputs["card:retrieval"][0])
    frame = build(metrics)
    entries = systems(metrics)
    shown = pd.DataFrame({"system": frame["system"]})
    for header, d, key in columns():
        shown[header] = [pm(entries[entry][d][key]) for _, entry in ROWS]
    loop, small, large = metrics["params"]["loop"], metrics["small"], metrics["large_model"] or {}
    diffs = [kcm_vs_mcm_line(f"{DIRECTIONS[d]} {name}", entries["system:kcm"][d][key], entries["system:mcm"][d][key],
                             comparison_of(metrics, d, "kcm_vs_mcm") if key == "r1" else None)
             for d in DIRECTIONS for name, key in (("R@1", "r1"), ("APGR", "apgr"))]
    alphas = sorted({f"{a['i2t']:g}/{a['t2i']:g}" for seed in metrics["alpha"].values() for a in seed.values()})
    sizes = metrics["judges"]
    paper = "; ".join(f"{name} {'/'.join(f'{v:.1f}' for v in values)}" for name, values in PAPER.items())
    n_params = large.get("n_params", {})
    shortlist = "the whole gallery" if loop["shortlist"] == 0 else f"the small model's top {loop['shortlist']}"
    notes = [
        f"Recall@K in % on the test gallery ({entries['system:small']['i2t']['n']} images, "
        f"{entries['system:small']['t2i']['n']} captions), mean ± std over seeds {metrics['seeds']}; Calls = % of "
        f"test queries sent to the large model at eps = {loop['eps']} (C_x = the judge's P(small top-1 right)).",
        *routers_block(metrics),
        *diffs,
        paired_test_note(len(metrics["seeds"])),
        f"- Paper (MSCOCO 5k, its CLIP): I2T R@1/5/10, T2I R@1/5/10 = {paper}. Not comparable in absolute "
        "terms (data and models differ, see the deviations); compare the direction of the differences.",
        f"- Data: {card['source']['name']}, split seed {card['seed']}.",
        f"- Small model: {small['params'] + small['featurizer_params']:,} parameters "
        f"({small['params']:,} trained, {small['featurizer_params']:,} in the fitted PCA and TF-IDF); "
        f"≈ {small['macs_per_query']['image']:,} multiply-adds per image query, "
        f"≈ {small['macs_per_query']['text']:,} per text query (time per query: results/bench/retrieval_cost.md).",
        f"- Large model: {large.get('model', '?')}"
        + (f"; {n_params['total']:,} parameters (image tower {n_params['image']:,}, text tower {n_params['text']:,})"
           if n_params else "") + ".",
        f"- Hint weight alpha (I2T/T2I) chosen on val per small model: {', '.join(alphas)}; shortlist: {shortlist}.",
        f"- Judges (one per direction, binary): KAN width {sizes['kan']['width']}, {sizes['kan']['n_params']} "
        f"parameters; MLP width {sizes['mlp']['width']}, {sizes['mlp']['n_params']} parameters; "
        f"rounds = {loop['rounds']}, {loop['folds']}-fold out-of-fold outputs in test-sized galleries.",
    ]
    notes.append(gate_line(metrics, setup))
    deviations = (["retrieval.dataset"] if card.get("dataset") != "coco_karpathy" else []) + DEVIATIONS
    write_table(outputs, frame, markdown_table("Image–text retrieval: Recall@K % and large-model calls", shown,
                                               notes, deviations))
