"""`kcm experiment forgetting`: class-incremental KAN vs an equal-parameter MLP, one seed."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

log = logging.getLogger(__name__)


def _experiment(args: argparse.Namespace) -> None:
    from kcm.tasks.forgetting import experiment

    experiment.run(args.data, json.loads(args.params), args.seed, args.out)
    log.info("forgetting, seed %d -> %s", args.seed, args.out)


def register(verbs, groups) -> None:
    sub = groups["experiment"].add_parser("forgetting", help="class-incremental KAN vs MLP on an image dataset")
    sub.add_argument("--data", type=Path, required=True)
    sub.add_argument("--seed", type=int, required=True)
    sub.add_argument("--params", required=True, help="JSON: the vision.forgetting section")
    sub.add_argument("--out", type=Path, required=True)
    sub.set_defaults(func=_experiment)
