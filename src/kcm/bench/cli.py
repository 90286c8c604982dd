"""`kcm bench <name> [options]`: benchmarks (not tests); each prints a table and writes results/bench/."""

from __future__ import annotations

import argparse


def _kan(args: argparse.Namespace) -> None:
    from kcm.bench import kan_speed

    kan_speed.main(args.rest)


def _retrieval_cost(args: argparse.Namespace) -> None:
    from kcm.bench import retrieval_cost

    retrieval_cost.main(args.rest)


def _paper_scale(args: argparse.Namespace) -> None:
    from kcm.bench import paper_scale

    paper_scale.main(args.rest)


def _rule_scaling(args: argparse.Namespace) -> None:
    from kcm.bench import rule_scaling

    rule_scaling.main(args.rest)


def _workflow(args: argparse.Namespace) -> None:
    from kcm.bench import workflow

    workflow.main(args.rest)


BENCHMARKS = {
    "kan": ("our KAN vs pykan vs an equal-parameter MLP: time and memory", _kan),
    "workflow": ("`all` cold from an empty results folder: wall, CPU-s and peak RSS per rule", _workflow),
    "paper-scale": ("large_vision's hinted head memory and the retrieval small model's step time, extrapolated", _paper_scale),
    "rule-scaling": ("every paper-profile rule at three data sizes with the paper's architectures, extrapolated", _rule_scaling),
    "retrieval-cost": ("both retrieval models' parameters, multiply-adds and time per query", _retrieval_cost),
}


def register(verbs, groups) -> None:
    for name, (text, handler) in BENCHMARKS.items():
        # Every later word goes to the benchmark's own parser (--help included): with no option
        # prefix of its own, this parser reads "--quick" as a word, not as an unknown option.
        sub = groups["bench"].add_parser(name, help=text, prefix_chars="+", add_help=False)
        sub.add_argument("rest", nargs="*", help="options of the benchmark (--quick, --out, --help)")
        sub.set_defaults(func=handler)
