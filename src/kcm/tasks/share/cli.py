"""`kcm share <step>`: SHARe-KAN's dense heads, compression sweeps and edge runtime."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

log = logging.getLogger(__name__)


def _heads(args: argparse.Namespace) -> None:
    from kcm.tasks.share import heads

    heads.train_heads(args.data, args.features, args.out, json.loads(args.params)["head"])
    log.info("SHARe-KAN heads -> %s", args.out)


def _sweep(args: argparse.Namespace) -> None:
    from kcm.io import write_json
    from kcm.tasks.share import experiment

    params = json.loads(args.params)
    sweep = experiment.head_sweep(args.heads, args.data, args.features, params)
    multi = experiment.multi_head(args.heads, args.data, args.features, params, sweep)
    sweep.pop("_codebooks"), sweep.pop("_codes")  # tensors, kept only for multi_head
    write_json(args.out, {**sweep, "multi_head": multi, "params": params})
    log.info("SHARe-KAN sweep -> %s", args.out)


def _judges(args: argparse.Namespace) -> None:
    from kcm.io import write_json
    from kcm.tasks.share import experiment

    params = json.loads(args.params)
    write_json(args.out, {"rows": experiment.judges_sweep(args.judges, params), "params": params})
    log.info("SHARe-KAN judges -> %s", args.out)


def _edge(args: argparse.Namespace) -> None:
    from kcm.io import write_json
    from kcm.tasks.share import experiment

    params = json.loads(args.params)
    facts, runtime = experiment.edge(args.heads, args.data, args.features, args.out.parent, params)
    write_json(args.runtime, {"runtime": runtime, "note": "measured: varies from run to run"})
    write_json(args.out, {"facts": facts, "params": params})
    log.info("SHARe-KAN edge -> %s", args.out)


def _edge_judges(args: argparse.Namespace) -> None:
    from kcm.io import write_json
    from kcm.tasks.share import experiment

    params = json.loads(args.params)
    facts, runtime = experiment.edge_judges(args.judges, params)
    write_json(args.runtime, {"runtime": runtime, "note": "measured: varies from run to run"})
    write_json(args.out, {"facts": facts, "params": params})
    log.info("SHARe-KAN edge, judges -> %s", args.out)


def _step(share, name: str, text: str, handler, inputs: tuple[str, ...]) -> argparse.ArgumentParser:
    sub = share.add_parser(name, help=text)
    if "data" in inputs:
        sub.add_argument("--data", type=Path, required=True, help="the vision dataset folder")
        sub.add_argument("--features", type=Path, required=True, help="its cached Lite0 features")
    if "heads" in inputs:
        sub.add_argument("--heads", type=Path, required=True, help="kcm share heads output")
    sub.add_argument("--params", required=True, help="JSON: the config's share section")
    sub.add_argument("--out", type=Path, required=True)
    sub.set_defaults(func=handler)
    return sub


def register(verbs, groups) -> None:
    share = groups["share"]
    _step(share, "heads", "dense KAN, MLP and linear heads on the frozen features", _heads, ("data",))
    _step(share, "sweep", "codebook sizes x precisions, pruning, N heads sharing a codebook", _sweep,
          ("data", "heads"))
    judges = _step(share, "judges", "SHARe-KAN on every KAN judge of the experiments", _judges, ())
    judges.add_argument("--judges", type=Path, nargs="*", default=[], help="experiment judge folders")
    edge = _step(share, "edge", "ExecuTorch .pte of dense vs compressed heads, size, RSS, latency", _edge,
                 ("data", "heads"))
    edge.add_argument("--runtime", type=Path, required=True, help="where the run-to-run measurements go (.json)")
    edge_judges = _step(share, "edge-judges", "the KAN judges' dense and codebook runtime programs on ExecuTorch",
                        _edge_judges, ())
    edge_judges.add_argument("--judges", type=Path, nargs="*", default=[], help="experiment judge folders")
    edge_judges.add_argument("--runtime", type=Path, required=True, help="where the run-to-run measurements go (.json)")
