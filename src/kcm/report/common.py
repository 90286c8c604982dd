"""Shared formatting for tables: percentages, Markdown rendering, footers, and the three files
every table writes (Markdown for reading, CSV for numbers, LaTeX for papers)."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd

from kcm.io import write_text
from kcm.report.deviations import footer_lines
from kcm.stats import critical_t, paired_difference


def pct(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{100 * value:.{digits}f}"


def to_markdown(frame: pd.DataFrame, index: bool = False) -> str:
    """Cells exactly as formatted (tabulate would re-parse "50.0" into "50"); the first
    column left-aligned, the (numeric) rest right-aligned."""
    align = ["left"] + ["right"] * (frame.shape[1] + index - 1)
    return frame.to_markdown(index=index, disable_numparse=True, colalign=align)


def markdown_table(title: str, frame: pd.DataFrame, notes: list[str], deviations: list[str]) -> str:
    """A titled Markdown table whose footer carries its provenance and every deviation."""
    return "\n".join(
        [f"# {title}", "", to_markdown(frame), "", *notes, *footer_lines(deviations), ""]
    )


def pm(summary: dict, digits: int = 1) -> str:
    """'mean ± std' in % from a kcm.stats summary."""
    if summary["mean"] is None:
        return "–"
    return f"{100 * summary['mean']:.{digits}f} ± {100 * summary['std']:.{digits}f}"


def paired(diff: dict, digits: int = 1) -> str:
    """A kcm.stats.paired_difference in points with its test:
    '+0.3 ± 0.5 points (paired t-test over 3 seeds: t = 1.04, p = 0.41)'."""
    if diff["mean"] is None:
        return "– (undefined in every seed)"
    head = f"{100 * diff['mean']:+.{digits}f} ± {100 * diff['std']:.{digits}f} points"
    if diff["p"] is None:
        why = "fewer than two seeds" if diff["n"] < 2 else "the same difference in every seed"
        return f"{head} (paired t-test undefined: {why})"
    return f"{head} (paired t-test over {diff['n']} seeds: t = {diff['t']:.2f}, p = {diff['p']:.2g})"


def paired_test_note(n: int) -> str:
    """The footer line that says how to read the paired tests of a table over n seeds."""
    if n < 2:
        return "- Paired tests need at least two seeds; this run has one, so none is reported."
    return (f"- Paired tests: two-sided Student's t on the per-seed differences (same seeds, same data). With "
            f"{n} seeds, p < 0.05 needs |t| > {critical_t(n):.2f}; p ≥ 0.05 means the seeds cannot tell the two apart, "
            "which is no evidence either way.")


def bootstrap(comparison: dict, digits: int = 1) -> str:
    """A comparison of kcm.system_comparisons in words: '95 % CI [−0.4, +1.1] points, two-level
    bootstrap over 3 seeds and their test samples; McNemar p = 0.41', or why it is degenerate."""
    if comparison["degenerate"]:
        return f"degenerate ({degenerate_reason(comparison)}; no evidence either way)"
    low, high = (f"{100 * comparison[k]:+.{digits}f}" for k in ("low", "high"))
    return (f"{100 * comparison['confidence']:g} % CI [{low}, {high}] points, two-level paired bootstrap over "
            f"{comparison['seeds']} seeds and their test samples; McNemar p = {comparison['mcnemar']['p']:.2g}")


def kcm_vs_mcm_line(label: str, kcm: dict, mcm: dict, comparison: dict | None = None) -> str:
    """'- KCM − MCM <label>: <paired difference and its test>[; <bootstrap CI>].' from two seed
    summaries and, where the metrics hold one, the comparison over seeds and test samples."""
    extra = "" if comparison is None else f"; {bootstrap(comparison)}"
    return f"- KCM − MCM {label}: {paired(paired_difference(kcm, mcm))}{extra}."


def degenerate_reason(comparison: dict) -> str:
    """Why a degenerate comparison is no evidence: the same answers, or the same correctness."""
    if comparison["identical_answers"]:
        return "identical answers in every seed, by construction"
    return "the same per-sample correctness in every seed at this operating point"


def comparison_of(metrics: dict, group: str, name: str) -> dict:
    """The named comparison of a large model (or retrieval direction) in a metrics JSON."""
    try:
        return metrics["comparisons"]["pairs"][group][name]
    except KeyError as missing:
        raise KeyError(f"the metrics hold no comparison {group}/{name} ({missing}); rerun `kcm metrics systems`") from None


def comparison_at(metrics: dict, group: str, point: str, name: str) -> dict:
    """The named comparison of a group at an operating point chosen on validation."""
    try:
        return metrics["comparisons"]["at_points"][group][point][name]
    except KeyError as missing:
        raise KeyError(f"the metrics hold no comparison {group}/{point}/{name} ({missing}); rerun `kcm metrics "
                       "systems`") from None


def latex_table(csv_text: str) -> str:
    """A booktabs tabular with the CSV's header and rows, each cell the CSV's text (LaTeX-escaped),
    so the paper's numbers are the artifact's numbers."""
    frame = pd.read_csv(io.StringIO(csv_text), dtype=str, keep_default_na=False)
    styler = frame.style.hide(axis="index").format(escape="latex").format_index(escape="latex", axis=1)
    return styler.to_latex(hrules=True, column_format="l" + "r" * (frame.shape[1] - 1))


def write_table(outputs: dict[str, Path], frame: pd.DataFrame, markdown: str, digits: int | None = 6) -> None:
    """The table's numbers (`frame`, rounded to `digits`) as CSV and LaTeX, its text as Markdown."""
    csv_text = (frame if digits is None else frame.round(digits)).to_csv(index=False)
    write_text(outputs["csv"], csv_text)
    write_text(outputs["tex"], latex_table(csv_text))
    write_text(outputs["md"], markdown)


def split_mode(params: dict | None) -> str:
    """A run's `loop.split` from its params ("per_seed": each seed re-drew train/val, test fixed);
    runs from before the key existed used the fixed split."""
    return ((params or {}).get("loop") or {}).get("split", "fixed")
