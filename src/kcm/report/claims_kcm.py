"""The KCM rows of the claims table: each paper claim against the comparisons block of the
metrics (two-level paired bootstrap over seeds and test samples, kcm.system_comparisons) or, for
the forgetting premise, a Student-t interval over the per-seed differences. KCM − MCM is read at
the paper's ε and at the operating points chosen on validation (kcm.operating_points), where the
two call the large model at matched rates; the calls claim reads the match_large point.

Paper numbers are those of ../shared/reference/papers.md: Tables A–E of KCM-4 (the aicatnews
transcription of the paper's tables) and the headline claims that only LLM summaries state.
"""

from __future__ import annotations

import numpy as np

from kcm.report.claims_verdicts import (
    CONTRARY,
    DEGENERATE,
    DEPENDENT,
    DIRECTION,
    INCONCLUSIVE,
    REPRODUCED,
    Interval,
    decide,
    decide_points,
    row,
    unverified,
    word,
)
from kcm.report.common import comparison_at, comparison_of, degenerate_reason
from kcm.stats import mean_ci

ARXIVLENS = "the arxivlens summary (papers.md §0.1, KCM-4; no retrievable table has it)"
AICATNEWS = "the aicatnews summary's text (papers.md KCM-4; its own Table E shows +0.6 to +1.1)"
# Large+KCM − Large in points (papers.md KCM-4, [D] from Tables A–D).
POSITIVE = {"language": {"a": (2.38, "BERT, Table A Average"), "b": (2.16, "ChatGPT, Table B Average")},
            "vision": (5.5, 5.2),  # ResNet-32 / BBN, Table C Overall
            "retrieval": {"i2t": (2.2, "I2T R@1, Table D"), "t2i": (2.5, "T2I R@1, Table D")}}
# KCM − MCM in points: Tables A/B Averages and Table E CIFAR; Few and retrieval: direction only.
ABOVE_MCM = {"a": 0.64, "b": 0.60, "overall": 1.1}
DIRECTIONS = {"i2t": "I2T", "t2i": "T2I"}


def comparison_interval(c: dict) -> Interval:
    """A comparison of kcm.system_comparisons in points, as the verdicts read it: the Student t
    interval and t-test p of its per-seed differences (`between_seeds`), which cover training,
    split and test-sample variation; the two-level bootstrap CI and McNemar's p are named
    beside it. (Test-sample intervals alone treat the trained models as fixed: a rerun whose
    last float bits differed moved the vision Few-class KCM − MCM from +2.2 to +3.8 points.)"""
    seeds = c["between_seeds"]
    how = (f"Student t over {len(seeds['values'])} per-seed differences; two-level bootstrap "
           f"[{100 * c['low']:+.1f}, {100 * c['high']:+.1f}], McNemar p = {c['mcnemar']['p']:.2g}")
    if c["degenerate"]:
        how = f"degenerate: {degenerate_reason(c)}"
    return Interval(100 * seeds["estimate"], 100 * seeds["low"], 100 * seeds["high"], how, degenerate=c["degenerate"],
                    p=seeds["p"])


def seed_interval(values: list[float], what: str) -> Interval:
    """Student-t interval of per-seed differences (fractions), in points."""
    ci = mean_ci(values)
    return Interval(100 * ci["mean"], 100 * ci["low"], 100 * ci["high"],
                    f"Student t over {ci['n']} per-seed {what}; no test samples to resample")


def _n(c: dict) -> str:
    return f"{100 * c['estimate']:+.1f} points"


def matched_points(metrics: dict) -> list[str]:
    """The operating points chosen on validation (every point but the paper's ε)."""
    return [p for p in metrics["operating_points"]["method"]["points"] if p != "eps"]


def paper_point(metrics: dict) -> str:
    return f"ε = {metrics['comparisons']['method']['eps']:g}"


def at_points(metrics: dict, group: str, name: str) -> dict[str, dict]:
    """point label -> comparison: the paper's ε first, then the matched points."""
    return {paper_point(metrics): comparison_of(metrics, group, name),
            **{p: comparison_at(metrics, group, p, name) for p in matched_points(metrics)}}


def positive_rows(language: dict, vision: dict, retrieval: dict, ctx: dict) -> list[dict]:
    """Large+KCM − Large per modality against the paper's gains."""
    rows = []
    for large, (gain, where) in POSITIVE["language"].items():
        c = comparison_of(language, large, "kcm_vs_large")
        rows.append(row("KCM", f"Large+KCM above Large, language (large {large.upper()})", f"+{gain} ({where})",
                        ctx["profile"], ctx["language"], f"Large {large.upper()}+KCM − Large {large.upper()}: {_n(c)}",
                        ci := comparison_interval(c), decide(ci, +1, (gain,), "language.large"), "metrics/language.json"))
    c = comparison_of(vision, "lite0", "kcm_vs_large")
    rows.append(row("KCM", "Large+KCM above Large, long-tailed vision Overall", "+5.5 / +5.2 (ResNet-32 / BBN, Table C)",
                    ctx["profile"], ctx["vision"], f"Large+KCM − Large: {_n(c)}", ci := comparison_interval(c),
                    decide(ci, +1, POSITIVE["vision"], "vision.large"), "metrics/vision.json"))
    for d, (gain, where) in POSITIVE["retrieval"].items():
        c = comparison_of(retrieval, d, "kcm_vs_large")
        rows.append(row("KCM", f"Large+KCM above Large, retrieval {DIRECTIONS[d]} R@1", f"+{gain} ({where})",
                        ctx["profile"], ctx["retrieval"], f"CLIP+KCM − CLIP {DIRECTIONS[d]} R@1: {_n(c)}",
                        ci := comparison_interval(c), decide(ci, +1, (gain,), "retrieval.large"), "metrics/retrieval.json"))
    return rows


def above_mcm_rows(language: dict, vision: dict, retrieval: dict, ctx: dict) -> list[dict]:
    """KCM − MCM per benchmark metric, then the claim 'on every metric' over the counted ones."""
    cases = [(f"language {g.upper()} accuracy", language, g, "kcm_vs_mcm", (ABOVE_MCM[g],), "language.judge_input",
              "language", "metrics/language.json") for g in ("a", "b")]
    cases += [("vision Overall", vision, "lite0", "kcm_vs_mcm", (ABOVE_MCM["overall"],), "vision.judge_input", "vision",
               "metrics/vision.json"),
              ("vision Few", vision, "lite0", "kcm_vs_mcm_few", (), "vision.dataset", "vision", "metrics/vision.json")]
    cases += [(f"retrieval {DIRECTIONS[d]} R@1", retrieval, d, "kcm_vs_mcm", (), "retrieval.judge", "retrieval",
               "metrics/retrieval.json") for d in DIRECTIONS]
    rows = []
    for label, metrics, group, name, paper, deviation, scale, source in cases:
        read = at_points(metrics, group, name)
        cis = {point: comparison_interval(c) for point, c in read.items()}
        first = paper_point(metrics)
        value = " / ".join(f"+{p}" for p in paper) + " (Tables A/B/E)" if paper else "above (no number printed)"
        ours = (f"KCM − MCM at {first}: {_n(read[first])}; at matched calls: "
                + ", ".join(f"{point} {_n(c)}" for point, c in read.items() if point != first))
        rows.append(row("KCM", f"KCM above MCM: {label}", value, ctx["profile"], ctx[scale], ours, cis[first],
                        decide_points(cis, +1, paper, deviation), source))
    rows.append(every_metric(rows, ctx))
    return rows


def every_metric(rows: list[dict], ctx: dict) -> dict:
    """'KCM above MCM on every metric' from the per-metric rows: degenerate ones are not counted;
    the CI shown is the one that decides (a contrary one, else the weakest)."""
    counted = [r for r in rows if r["verdict"] != DEGENERATE]
    skipped = len(rows) - len(counted)
    scale = f"{ctx['benchmarks']}: {len(counted)} comparisons counted, {skipped} degenerate left out"
    if not counted:
        return row("KCM", "KCM above MCM on every metric", "above on every metric (Tables A, B, E)", ctx["profile"],
                   scale, "every comparison is degenerate", None, (DEGENERATE, "no comparison counted"), "rows above")
    contrary = [r for r in counted if word(r["verdict"]) == CONTRARY]
    dependent = [r["claim"] for r in counted if r["verdict"] == DEPENDENT]
    decider = contrary[0] if contrary else min(counted, key=lambda r: r["ci_low"])
    if contrary:
        verdict = (decider["verdict"], f"{decider['claim']} lies below 0")
    elif dependent:
        verdict = (DEPENDENT, f"operating-point dependent: {'; '.join(dependent)}")
    elif all(word(r["verdict"]) in (REPRODUCED, DIRECTION) for r in counted):
        verdict = (REPRODUCED, "every counted CI lies above 0")
    else:
        verdict = (INCONCLUSIVE, f"{sum(word(r['verdict']) == INCONCLUSIVE for r in counted)} counted CIs include 0")
    out = row("KCM", "KCM above MCM on every metric", "above on every metric (Tables A, B, E)", ctx["profile"], scale,
              f"deciding: {decider['claim']}", None, verdict, "rows above")
    return {**out, "ci": f"{decider['ci']} (the deciding row)", "ci_low": decider["ci_low"],
            "ci_high": decider["ci_high"], "null": 0.0}


def ablation_row(mcm_rows: list[dict], ctx: dict) -> dict:
    """The '≈ 6 %' average ablation gain: the mean over the counted KCM − MCM comparisons, with a
    t interval over them (a spread across benchmarks, not a sampling CI)."""
    counted = [r["estimate"] for r in mcm_rows[:-1] if measured(r)]
    skipped = len(mcm_rows) - 1 - len(counted)
    spread = mean_ci(counted or [0.0])
    ci = Interval(spread["mean"], spread["low"], spread["high"],
                  f"Student t over the {len(counted)} counted benchmark estimates: a spread across benchmarks, "
                  "not a sampling CI")
    return row("KCM", "≈ 6 % average ablation gain of KCM over MCM", "≈ +6 (summary text)", ctx["profile"],
               f"{ctx['benchmarks']}: {len(counted)} comparisons counted, {skipped} degenerate left out",
               f"mean KCM − MCM: {ci.estimate:+.1f} points", ci,
               unverified(ci, +1, (6.0,), "language.dataset", AICATNEWS), "metrics/{language,vision,retrieval}.json")


def measured(r: dict) -> bool:
    """A row whose own CI (the paper's ε) is not degenerate: its estimate is a measured difference."""
    return r["verdict"] != DEGENERATE and not r["ci"].startswith("none:")


def _ci(c: dict) -> str:
    """A comparison's t interval over seeds, in points."""
    seeds = c["between_seeds"]
    return f"[{100 * seeds['low']:+.1f}, {100 * seeds['high']:+.1f}]"


def calls_row(language: dict, ctx: dict) -> dict:
    """67.85 % fewer large calls (language, large A), read where the calls buy the large model's
    accuracy: the match_large point chosen on validation. The CI: large calls saved by KCM against
    the large model alone (which calls every input), a Student t interval over the per-seed call
    fractions; beside it KAN − MLP router calls at their own match_large thresholds."""
    large = comparison_at(language, "a", "match_large", "kcm_vs_large")
    routers = comparison_at(language, "a", "match_large", "kan_vs_mlp")
    calls = large["calls"]["between_seeds"]  # KCM's calls − the large model's (every input): −(calls saved)
    how = (f"Student t over {len(calls['values'])} per-seed call fractions, KCM at its match_large threshold "
           "against the large model alone")
    saved = Interval(-100 * calls["estimate"], -100 * calls["high"], -100 * calls["low"], how, unit="%",
                     degenerate=large["calls"]["degenerate"])
    reached = language["operating_points"]["groups"]["a"]["system:kcm"]["match_large"]["reached"]
    kan, mlp = routers["a_test_fraction"]["mean"], routers["b_test_fraction"]["mean"]
    ours = (f"KCM (large A) at match_large (validation reached Large A's accuracy in {sum(reached)}/{len(reached)} "
            f"seeds): {saved.estimate:.1f} % fewer test calls; its accuracy − Large A: {_n(large)}, CI {_ci(large)}; "
            f"KAN router {100 * kan:.1f} % vs MLP router {100 * mlp:.1f} % calls at their match_large thresholds, "
            f"KAN − MLP {100 * routers['calls']['between_seeds']['estimate']:+.1f} points, CI {_ci(routers['calls'])}")
    return row("KCM", "67.85 % fewer large-model calls at near-identical accuracy (language)", "67.85 % (summary)",
               ctx["profile"], ctx["language"], ours, saved,
               unverified(saved, +1, (67.85,), "language.large", ARXIVLENS), "metrics/language.json")


def unverified_rows(language: dict, vision: dict, ctx: dict) -> list[dict]:
    """67.85 % fewer calls (language) and +6.04 % (long-tailed vision): LLM-summary numbers."""
    calls = calls_row(language, ctx)
    c = comparison_of(vision, "lite0", "kcm_vs_large")
    ci = comparison_interval(c)
    gain = row("KCM", "+6.04 % accuracy on long-tailed image classification", "+6.04 (summary)", ctx["profile"],
               ctx["vision"], f"Large+KCM − Large Overall: {_n(c)}", ci,
               unverified(ci, +1, (6.04,), "vision.large", ARXIVLENS), "metrics/vision.json")
    return [calls, gain]


def forgetting_row(forgetting: list[dict], ctx: dict) -> dict:
    """KANs mitigate catastrophic forgetting: KAN − MLP average forgetting per seed (t interval);
    a KAN that learns clearly less (learning accuracy) has less to forget, so direction only."""
    def diffs(metric: str) -> list[float]:
        return [r["results"]["kan"][metric] - r["results"]["mlp"][metric] for r in forgetting]

    ci = seed_interval(diffs("average_forgetting"), "differences KAN − MLP")
    learn = seed_interval(diffs("learning_accuracy"), "differences")
    verdict = decide(ci, -1, (), "vision.forgetting_protocol")
    if word(verdict[0]) == REPRODUCED and learn.high < -5.0:
        verdict = (DIRECTION, f"{verdict[1]}, but the KAN learns less (learning accuracy KAN − MLP CI "
                              f"[{learn.low:+.1f}, {learn.high:+.1f}] points), so it has less to forget")
    mean = {k: {m: float(np.mean([r["results"][k][m] for r in forgetting]))
                for m in ("average_forgetting", "learning_accuracy")} for k in ("kan", "mlp")}
    ours = (f"average forgetting KAN − MLP: {ci.estimate:+.1f} points (KAN {100 * mean['kan']['average_forgetting']:.1f}, "
            f"MLP {100 * mean['mlp']['average_forgetting']:.1f} %); learning accuracy KAN − MLP {learn.estimate:+.1f} "
            f"points, CI [{learn.low:+.1f}, {learn.high:+.1f}]")
    return row("KCM", "KANs mitigate catastrophic forgetting", "less forgetting (premise, no number)", ctx["profile"],
               ctx["forgetting"], ours, ci, verdict, "vision/forgetting/seed*.json", sign=-1)


def kcm_rows(language: dict, vision: dict, retrieval: dict, forgetting: list[dict], ctx: dict) -> list[dict]:
    mcm = above_mcm_rows(language, vision, retrieval, ctx)
    return [*unverified_rows(language, vision, ctx), *positive_rows(language, vision, retrieval, ctx), *mcm,
            ablation_row(mcm, ctx), forgetting_row(forgetting, ctx)]
