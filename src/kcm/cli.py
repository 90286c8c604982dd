"""`kcm` / `python -m kcm`: the one command-line entry the workflow rules call.

The verbs live with their packages: each module in CLI_MODULES registers its own with
`register(verbs, groups)`. A verb is a thin wrapper over one library function and imports it
inside its handler, so `kcm --help` stays instant.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from kcm.baselines import cli as baselines_cli
from kcm.bench import cli as bench_cli
from kcm.data import cli as data_cli
from kcm.report import cli as report_cli
from kcm.tasks.forgetting import cli as forgetting_cli
from kcm.tasks.language import cli as language_cli
from kcm.tasks.retrieval import cli as retrieval_cli
from kcm.tasks.share import cli as share_cli
from kcm.tasks.vision import cli as vision_cli

log = logging.getLogger(__name__)

# Verb groups: `kcm <group> <verb>`, in the order the workflow runs them.
GROUPS = {
    "data": "build a dataset folder",
    "train": "train a model",
    "features": "cache large-model inputs",
    "large": "cache a large model's outputs",
    "experiment": "run one seed of an experiment",
    "metrics": "metrics JSON from predictions and experiment runs",
    "share": "SHARe-KAN: heads, compression sweeps, edge runtime",
    "bench": "run a benchmark (prints a table, writes results/bench/)",
}
CLI_MODULES = (data_cli, baselines_cli, language_cli, vision_cli, forgetting_cli, retrieval_cli, share_cli,
               report_cli, bench_cli)


def _plot_kan(args: argparse.Namespace) -> None:
    from kcm.kan_plot import plot_judge

    plot_judge(args.judge, args.png, args.samples, max_inputs=args.max_inputs, max_outputs=args.max_outputs)
    log.info("edge functions of %s -> %s", args.judge, args.png)


def _register_plot_kan(verbs) -> None:
    plot = verbs.add_parser("plot-kan", help="draw every learned edge function of a saved KAN judge")
    plot.add_argument("--judge", type=Path, required=True, help="a judge saved with Judge.save (.safetensors)")
    plot.add_argument("--png", type=Path, required=True)
    plot.add_argument("--samples", type=Path, help="parquet of judge inputs: edge importance for shading")
    plot.add_argument("--max-inputs", type=int, default=10)
    plot.add_argument("--max-outputs", type=int, default=10)
    plot.set_defaults(func=_plot_kan)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kcm", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    verbs = parser.add_subparsers(dest="verb", required=True)
    groups = {
        name: verbs.add_parser(name, help=text).add_subparsers(dest=f"{name}_verb", required=True)
        for name, text in GROUPS.items()
    }
    for module in CLI_MODULES:
        module.register(verbs, groups)
    _register_plot_kan(verbs)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    args.func(args)
    return 0
