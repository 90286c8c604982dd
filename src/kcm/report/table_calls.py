"""table_calls: every router around the same small and large models, at eps and over all eps
(RouteLLM's evaluation: CPT, AUC, APGR), mean ± std over seeds."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from kcm.io import read_json
from kcm.report.common import markdown_table, paired, paired_test_note, pm, write_table
from kcm.report.language_context import deviations, footer
from kcm.stats import paired_difference

# Display names, in the table's row order; a router the metrics hold beyond these follows, by name.
ROUTER_NAMES = {
    "random": "random", "max_softmax": "small max-softmax", "mlp": "MLP judge (MCM)",
    "kan": "KAN judge (KCM)", "mlp_binary": "MLP judge, binary", "kan_binary": "KAN judge, binary",
    "oracle": "oracle",
}
COLUMNS = [("Large calls", "large_fraction"), ("Accuracy", "accuracy"), ("AUC", "auc"),
           ("APGR", "apgr"), ("CPT(20%)", "cpt20"), ("CPT(50%)", "cpt50"), ("CPT(80%)", "cpt80")]


def routers(entries: dict) -> list[str]:
    """The routers of one large model's metrics (entries `router:<name>`), in display order."""
    present = [e.removeprefix("router:") for e in entries if e.startswith("router:")]
    return [r for r in ROUTER_NAMES if r in present] + sorted(r for r in present if r not in ROUTER_NAMES)


def build(metrics: dict) -> pd.DataFrame:
    rows = []
    for large, entries in sorted(metrics["large"].items()):
        for router in routers(entries):
            m = entries[f"router:{router}"]
            row = {"large": large, "router": router}
            for name, key in COLUMNS:
                row[name], row[f"{name} std"] = m[key]["mean"], m[key]["std"]
            rows.append(row)
    return pd.DataFrame(rows)


def judge_vs_judge(metrics: dict) -> list[str]:
    """KAN judge − MLP judge (KCM − MCM as routers) on the threshold-free metrics, paired by seed."""
    lines = []
    for large, entries in sorted(metrics["large"].items()):
        parts = [f"{name} {paired(paired_difference(entries['router:kan'][key], entries['router:mlp'][key]))}"
                 for name, key in (("APGR", "apgr"), ("AUC", "auc"))]
        lines.append(f"- KAN − MLP judge, {large.upper()}: " + "; ".join(parts) + ".")
    return [*lines, paired_test_note(len(metrics["seeds"]))]


def render(inputs: dict[str, list[Path]], setup: dict, outputs: dict[str, Path]) -> None:
    metrics, card = read_json(inputs["metrics:language"][0]), read_json(inputs["card:language"][0])
    frame = build(metrics)
    shown = pd.DataFrame({
        "large": frame["large"].str.upper(),
        "router": [ROUTER_NAMES.get(r, r) for r in frame["router"]],
    })
    for name, key in COLUMNS:
        shown[name] = [pm(metrics["large"][large][f"router:{router}"][key])
                       for large, router in zip(frame["large"], frame["router"])]
    eps = metrics["params"]["loop"]["eps"]
    entries = {k: v["router:max_softmax"] for k, v in metrics["large"].items()}
    refs = "; ".join(
        f"{k.upper()}: small alone {pm(m['small_accuracy'])}, hinted large on every input {pm(m['large_accuracy'])}"
        for k, m in sorted(entries.items())
    )
    notes = [
        f"All routers route the same round-0 small model to the same large model (hint in its prompt). "
        f"Large calls and Accuracy at eps = {eps} (C_x <= eps calls the large model), in %. "
        "Over all eps: AUC of accuracy vs call fraction (%), APGR = share of the small→large gap "
        "recovered (%, random = 50), CPT(x%) = % of calls needed to recover x% of that gap "
        "(– = never, or no gap: the hinted large model is no better than the small one). The "
        "oracle calls the large model exactly where it fixes the small one; its AUC, APGR and "
        "CPT are those of the best possible curve (the bound on every router).",
        f"- References: {refs}.",
        *judge_vs_judge(metrics),
        *footer(metrics, card, setup),
    ]
    write_table(outputs, frame, markdown_table("Large-model calls by router (language)", shown, notes, deviations(setup)))
