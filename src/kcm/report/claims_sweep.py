"""The robustness sweep read claim by claim: every claim of table_claims rebuilt with one
modality's metrics replaced by a swept setting's (config robustness.axes), then per claim the
configured run's outcome, the best and the worst over the sweep, and whether its verdict holds.

A setting "reads the paper's side" where its verdict (for a source-unverified row: what our
measurement would read) is reproduced or direction only: the CI excludes the no-effect value on
the paper's side. A claim is robust where every setting's reading is the configured run's,
fragile where some setting reads otherwise (degenerate and inconclusive count as one reading: no
evidence either way). Works on frames only (no files).
"""

from __future__ import annotations

import pandas as pd

from kcm.report.claims_verdicts import (
    DEGENERATE,
    DIRECTION,
    INCONCLUSIVE,
    REPRODUCED,
    UNVERIFIED,
    word,
)

DEFAULT = "as configured"
SUPPORT = (REPRODUCED, DIRECTION)
# Readings that say the same for robustness: a degenerate comparison is no evidence, as an
# inconclusive one is (a setting that makes the two systems differ without a CI excluding 0
# changes nothing a reader can conclude).
SAME_AS = {DEGENERATE: INCONCLUSIVE}


def reading(verdict: str, basis: str) -> str:
    """The taxonomy word a row's measurement reads; a source-unverified row reads what its basis
    says our measurement would read against the summary's number."""
    if word(verdict) == UNVERIFIED and "would read " in basis:
        return word(basis.split("would read ", 1)[1])
    return word(verdict)


def reads_modality(source: str, modality: str) -> bool:
    """Whether a claim row is computed from `modality`'s experiment metrics (its source
    metrics/<modality>.json, metrics/{language,vision,retrieval}.json, or "rows above": the KCM −
    MCM rows of every modality); the forgetting runs and SHARe-KAN artifacts are not."""
    return (source.startswith("metrics/") and modality in source) or source == "rows above"


def sweep_frame(default: pd.DataFrame, variants: dict[tuple[str, str], pd.DataFrame]) -> pd.DataFrame:
    """One row per (claim, setting): the configured run's rows, then for each (axis, value) the
    rows of the claims that read the axis' modality. Columns: claim, axis, value, estimate,
    ci_low, ci_high, null, sign, verdict, reading."""
    def rows(frame: pd.DataFrame, axis: str, value: str) -> pd.DataFrame:
        out = frame[["claim", "estimate", "ci_low", "ci_high", "null", "sign", "verdict"]].copy()
        out.insert(1, "axis", axis)
        out.insert(2, "value", value)
        out["reading"] = [reading(v, b) for v, b in zip(frame["verdict"], frame["basis"])]
        return out

    parts = [rows(default, DEFAULT, "")]
    for (axis, value), frame in variants.items():
        modality = axis.split(".")[0]
        if list(frame["claim"]) != list(default["claim"]):
            raise ValueError(f"setting {axis} = {value} gives other claims than the configured run")
        parts.append(rows(frame[[reads_modality(s, modality) for s in default["source"]]], axis, value))
    return pd.concat(parts, ignore_index=True)


def _setting(r) -> str:
    return DEFAULT if r.axis == DEFAULT else f"{r.axis} = {r.value}"


def _outcome(r) -> str:
    if pd.isna(r.estimate):
        return f"n/a ({r.reading})"
    return f"{r.estimate:+.1f} [{r.ci_low:+.1f}, {r.ci_high:+.1f}] {r.reading}"


def summary(sweep: pd.DataFrame) -> pd.DataFrame:
    """Per claim (table_claims' order): the configured outcome, the best and the worst setting
    (by the estimate on the paper's side), the settings that read the paper's side, and the
    sweep verdict: robust, fragile, or not swept (no axis reads the claim)."""
    out = []
    for claim, group in sweep.groupby("claim", sort=False):
        default = group.iloc[0]
        swept = group.iloc[1:]
        measured = group[group["estimate"].notna()]
        side = measured.assign(side=measured["sign"] * measured["estimate"])
        # stable sorts: on a tie the configured run (first) is named
        best = side.sort_values("side", ascending=False, kind="stable").iloc[0] if len(side) else default
        worst = side.sort_values("side", kind="stable").iloc[0] if len(side) else default
        support = [_setting(r) for r in group.itertuples() if r.reading in SUPPORT]
        same = SAME_AS.get(default.reading, default.reading)
        changed = [f"{r.reading} at {_setting(r)}" for r in swept.itertuples() if SAME_AS.get(r.reading, r.reading) != same]
        verdict = "not swept" if swept.empty else "fragile" if changed else "robust"
        detail = {"not swept": verdict, "fragile": f"fragile: {'; '.join(changed)}",
                  "robust": f"robust over {len(swept)} setting{'s' * (len(swept) > 1)}"}[verdict]
        out.append({"claim": claim, "default": _outcome(default), "best": _outcome(best), "best_setting": _setting(best),
                    "worst": _outcome(worst), "worst_setting": _setting(worst), "settings": len(swept),
                    "paper_side": "; ".join(support) if support else "none", "sweep_verdict": verdict,
                    "changes": "; ".join(changed), "detail": detail})
    return pd.DataFrame(out)


def survival(sweep: pd.DataFrame) -> dict[str, str]:
    """claim -> the claims table's sweep column: does its verdict survive the sweep?"""
    def cell(r: dict) -> str:
        if r["sweep_verdict"] == "not swept":
            return "not swept"
        n = f"{r['settings']} setting{'s' * (r['settings'] > 1)}"
        return f"yes ({n})" if r["sweep_verdict"] == "robust" else f"no: {r['changes']}"

    return {r["claim"]: cell(r) for r in summary(sweep).to_dict("records")}
