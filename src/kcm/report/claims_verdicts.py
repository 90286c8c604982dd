"""The claims table's verdict taxonomy and the one rule that maps an interval to a verdict.

A verdict other than "inconclusive" needs the row's confidence interval to exclude the
no-effect value (`null`: 0 for a difference, 1× for a storage ratio); "reproduced" also needs
the interval to reach or include the paper's number where the claim has one. A comparison that
is identical by construction is "degenerate" and never evidence. A claim whose paper number
comes only from an unverified secondary summary is "source unverified", with what the rule
would read from our measurement beside it. A comparison read at several operating points (the
paper's ε and the points chosen on validation at a matched cost) whose reading changes with the
point is "operating-point dependent" (`decide_points`).
"""

from __future__ import annotations

from dataclasses import dataclass

from scipy.stats import false_discovery_control

from kcm.report.deviations import DEVIATIONS

REPRODUCED, DIRECTION, INCONCLUSIVE, CONTRARY = "reproduced", "direction only", "inconclusive", "contrary"
UNTESTABLE, UNVERIFIED, DEGENERATE = "not testable here", "source unverified", "degenerate"
DEPENDENT = "operating-point dependent"
TAXONOMY = (REPRODUCED, DIRECTION, INCONCLUSIVE, CONTRARY, DEPENDENT, UNTESTABLE, UNVERIFIED, DEGENERATE)
MEANING = {
    REPRODUCED: "the CI excludes the no-effect value on the paper's side and reaches or includes the paper's number",
    DIRECTION: "the CI excludes the no-effect value on the paper's side but stays short of the paper's number",
    INCONCLUSIVE: "the CI includes the no-effect value: no evidence either way",
    CONTRARY: "the CI excludes the no-effect value on the other side; the deviation named may explain it",
    UNTESTABLE: "the quantity depends on something the paper does not state",
    UNVERIFIED: "the paper's number comes from an unverified secondary summary; the basis says what we measured",
    DEPENDENT: "read at the paper's ε and at operating points chosen on validation, the readings do not agree: "
               "one point lies on a side of the no-effect value (CI and multiplicity-adjusted p) where another "
               "includes it or lies on the other side",
    DEGENERATE: "the two systems are identical by construction here, so the comparison is not counted",
}


@dataclass(frozen=True)
class Interval:
    """A measured quantity in the claim's unit with its CI, the value of no effect and how the
    CI was made; `exact` for a count with no sampling error (a storage ratio)."""
    estimate: float
    low: float
    high: float
    how: str
    unit: str = "points"
    null: float = 0.0
    degenerate: bool = False
    exact: bool = False
    p: float | None = None  # the test's p-value beside the CI (paired t over seeds), where there is one

    def text(self) -> str:
        if self.exact:
            return f"exact {self.estimate:.2f}{self.unit} ({self.how})"
        if self.degenerate:
            return f"none: {self.how}"
        return f"[{self.low:+.1f}, {self.high:+.1f}] {self.unit} ({self.how})"


def unestimated(ci: Interval) -> bool:
    """A zero-width interval that is not an exact count: values without spread (every seed gave
    the same difference), so there is no error estimate and no evidence either way."""
    return not ci.exact and not ci.degenerate and ci.low == ci.high


def word(verdict: str) -> str:
    """The taxonomy word of a verdict cell ('contrary (deviation x)' -> 'contrary')."""
    return verdict.split(" (")[0]


def decide(ci: Interval, sign: int, paper: tuple[float, ...], deviation: str) -> tuple[str, str]:
    """(verdict, basis) of a claim that the quantity lies on side `sign` (+1 above, -1 below) of
    ci.null, at least as far as one of the paper's numbers (none: direction only is claimed)."""
    if deviation not in DEVIATIONS:
        raise KeyError(f"unknown deviation {deviation!r}")
    if ci.degenerate:
        return DEGENERATE, f"{ci.how}; not counted"
    if unestimated(ci):
        return INCONCLUSIVE, "every seed gives the same difference: no error estimate"
    low, high = sorted((sign * (ci.low - ci.null), sign * (ci.high - ci.null)))
    if low <= 0.0 <= high:
        return INCONCLUSIVE, f"the CI includes {ci.null:g}"
    if high < 0.0:
        return f"{CONTRARY} (deviation {deviation})", f"the CI lies on the other side of {ci.null:g}"
    far = ci.high if sign > 0 else ci.low  # the CI's end on the claimed side
    if not paper or any(sign * (far - p) >= 0.0 for p in paper):
        reach = "" if not paper else f" and reaches {' / '.join(f'{p:+g}' for p in paper)}"
        return REPRODUCED, f"the CI excludes {ci.null:g}{reach}"
    return DIRECTION, f"the CI excludes {ci.null:g} but stays short of {' / '.join(f'{p:+g}' for p in paper)}"


def unverified(ci: Interval, sign: int, paper: tuple[float, ...], deviation: str, summary: str) -> tuple[str, str]:
    """(source unverified, basis): what the rule would read from our measurement."""
    reading, why = decide(ci, sign, paper, deviation)
    return UNVERIFIED, f"the paper's number is from {summary}; against it our measurement would read {reading} ({why})"


def row(paper: str, claim: str, paper_value: str, profile: str, scale: str, ours: str, ci: Interval | None,
        verdict: tuple[str, str], source: str, sign: int = +1) -> dict:
    """One table row; ci None only for a claim that is not testable here; `sign`: the side of the
    no-effect value the paper claims (+1 above, -1 below)."""
    return {"paper": paper, "claim": claim, "paper_value": paper_value, "profile": profile, "scale": scale,
            "ours": ours, "estimate": None if ci is None else ci.estimate,
            "ci": "n/a (not testable here)" if ci is None else ci.text(),
            "ci_low": None if ci is None else ci.low, "ci_high": None if ci is None else ci.high,
            "null": None if ci is None else ci.null, "verdict": verdict[0], "basis": verdict[1], "source": source, "sign": sign}


ALPHA = 0.05


def adjusted_p(cis: dict[str, Interval]) -> dict[str, float | None]:
    """Benjamini–Hochberg adjusted p-values over the points read (scipy), degenerate points and
    CIs without a test left out: reading one comparison at several points is several tests."""
    tested = [label for label, ci in cis.items() if ci.p is not None and not ci.degenerate]
    adjusted = false_discovery_control([cis[label].p for label in tested], method="bh") if tested else []
    return {label: (float(adjusted[tested.index(label)]) if label in tested else None) for label in cis}


def reading(ci: Interval, p: float | None = None) -> str:
    """Where a CI lies against its no-effect value: 'above', 'below', 'includes', 'degenerate'.
    With an (adjusted) p-value, a side also needs p < ALPHA."""
    if ci.degenerate:
        return "degenerate"
    if unestimated(ci) or (p is not None and p >= ALPHA):
        return "includes"
    return "above" if ci.low > ci.null else "below" if ci.high < ci.null else "includes"


def decide_points(cis: dict[str, Interval], sign: int, paper: tuple[float, ...], deviation: str) -> tuple[str, str]:
    """(verdict, basis) of one comparison read at several operating points, the paper's first
    (`cis`: point label -> CI). A point reads above or below the no-effect value where its CI
    excludes it and its p-value, adjusted over the points (Benjamini–Hochberg), is below ALPHA.
    Every point degenerate: degenerate. Every point whose systems differ includes it:
    inconclusive (degenerate where the paper's point is). Some point above or below while the
    readings are not all the same (or the paper's point is degenerate): operating-point dependent.
    Otherwise the paper's point decides (`decide`)."""
    first, *_ = cis
    verdict, basis = decide(cis[first], sign, paper, deviation)
    adjusted = adjusted_p(cis)
    readings = {label: reading(ci, adjusted[label]) for label, ci in cis.items()}
    live = {label: r for label, r in readings.items() if r != "degenerate"}
    named = "; ".join(f"{label}: {r}" + ("" if r == "degenerate" else f" {cis[label].text().split(' (')[0]}")
                      + ("" if adjusted[label] is None else f", adjusted p = {adjusted[label]:.2g}")
                      for label, r in readings.items())
    how = f"a side needs the CI to exclude {cis[first].null:g} and the BH-adjusted p < {ALPHA:g}"
    if not live:
        return DEGENERATE, f"{basis} at every operating point"
    if {"above", "below"} & set(live.values()) and (len(set(live.values())) > 1 or readings[first] == "degenerate"):
        return DEPENDENT, f"the reading changes with the operating point ({named}; {how})"
    if readings[first] == "degenerate":
        return DEGENERATE, f"{basis} at {first}; no other point reads a side ({named}; {how})"
    if set(live.values()) == {"includes"}:
        return INCONCLUSIVE, f"no point reads a side ({named}; {how})"
    return verdict, f"{basis} at every operating point ({named}; {how})"
