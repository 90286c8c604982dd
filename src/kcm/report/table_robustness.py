"""table_robustness: does any reasonable reading of the papers' open choices change a verdict?
For each claim of table_claims, the configured run's outcome, the best and the worst over the
robustness sweep (config robustness.axes: one key of one modality changed at a time), each with
its CI and reading, the setting giving the best, the settings whose CI reads the paper's side,
and robust / fragile (kcm.report.claims_sweep). The CSV adds every (claim, setting) row."""

from __future__ import annotations

from pathlib import Path

from kcm.report.claims_sweep import SUPPORT, summary
from kcm.report.common import markdown_table, write_table
from kcm.report.table_claims import claims_over_sweep

SHOWN = {"claim": "claim", "default": "as configured", "best": "best", "best_setting": "best setting",
         "worst": "worst", "worst_setting": "worst setting", "paper_side": "settings reading the paper's side",
         "detail": "sweep verdict"}


def axes_note(setup: dict) -> str:
    axes = setup.get("robustness", [])
    if not axes:
        return "- No axes in config robustness.axes: nothing was swept."
    listed = "; ".join(f"{a['key']} ∈ {{{', '.join(a['values'])}}} (configured {a['configured']})" for a in axes)
    return f"- Axes (config robustness.axes, one changed at a time, everything else as configured): {listed}."


def notes(setup: dict) -> list[str]:
    return [
        "Outcomes: the estimate with the CI its verdict reads (table_claims: Student t over per-seed differences, in "
        "points; a ratio for storage claims) and the reading (the verdict; for a source-unverified row, what our "
        "measurement would read against the summary's number). Best and worst: by the estimate on the paper's side "
        f"(for a claim that something is lower, the lowest is best). Reading the paper's side: {' or '.join(SUPPORT)}, "
        "i.e. the CI excludes the no-effect value on the paper's side. Robust: every setting reads as the configured "
        "run (degenerate and inconclusive count as one reading: no evidence either way); fragile: some setting reads "
        "otherwise. Settings are not a sample of anything: the best of many is an "
        "optimistic pick, and each setting's CI is for that setting alone (no correction for trying several).",
        "",
        axes_note(setup),
        "- A setting reruns only its modality's experiments, on the same seeds, splits and cached large-model outputs; "
        "claims that do not read that modality (forgetting, SHARe-KAN) are not swept.",
    ]


def render(inputs: dict[str, list[Path]], setup: dict, outputs: dict[str, Path]) -> None:
    _, sweep = claims_over_sweep(inputs, setup)
    table = summary(sweep)
    markdown = markdown_table("Robustness: each claim's outcome over the sweep of the papers' open choices",
                              table[list(SHOWN)].rename(columns=SHOWN), notes(setup), [])
    write_table(outputs, sweep, markdown)
