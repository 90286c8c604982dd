"""Operating points of the SHARe-KAN sweep, chosen on validation accuracy over every trained head
(never on test): the sweep picks the multi-head study's K with it, and the report modules read
the verdicts' settings with it. Pure functions on the sweep's JSON, no torch; outside kcm.tasks
so that report modules, which never import a task, can read the same rule."""

from __future__ import annotations

VERDICT_COST = 0.02  # the paper's operating point: 9.3x at -2.0 points
_TOL = 1e-6  # accuracies are float32 means; far below one sample in 1/n


def choose(sweep: dict, max_cost: float) -> dict | None:
    """The SHARe-KAN row with the largest storage ratio whose validation accuracy (mean over the
    trained heads) is at most `max_cost` (a fraction: 0.02 = 2 points) below the dense heads'
    (the first such row on ties); None if no row is. Its test accuracy is what gets reported."""
    dense = sweep["head"]["dense_val_accuracy"]
    within = [r for r in sweep["rows"] if r["method"] == "share" and dense - r["val_accuracy"] <= max_cost + _TOL]
    return max(within, key=lambda r: r["ratio"]) if within else None


def closest(sweep: dict) -> dict | None:
    """The SHARe-KAN row with the smallest validation cost (the largest ratio on ties): what the
    tables name when no row is within the tolerance."""
    share = [r for r in sweep["rows"] if r["method"] == "share"]
    return min(share, key=lambda r: (-r["val_accuracy"], -r["ratio"])) if share else None
