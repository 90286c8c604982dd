"""Vision verbs: `kcm features lite0`, `kcm large vision`, `kcm large bbn`, `kcm experiment vision`."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from kcm.tasks.cli import experiment_verb, features_verb, large_paths

log = logging.getLogger(__name__)


def _features(args: argparse.Namespace) -> None:
    from kcm.tasks.vision import features

    features.lite0(args.data, args.out, args.batch_size)
    log.info("EfficientNet-Lite0 features -> %s", args.out)


def _large(args: argparse.Namespace) -> None:
    from kcm.tasks.vision import large

    large.build(args.data, args.features, args.out, json.loads(args.params), args.C, args.folds, args.seed)
    log.info("large vision model outputs -> %s", args.out)


def _bbn(args: argparse.Namespace) -> None:
    from kcm.tasks.vision import bbn_large

    bbn_large.build(args.data, args.out, json.loads(args.params), json.loads(args.bbn), args.seed)
    log.info("large vision model BBN outputs -> %s", args.out)


def _experiment(args: argparse.Namespace) -> None:
    from kcm.tasks.vision import experiment

    experiment.run(args.data, large_paths(args.large), args.seed, json.loads(args.params), args.out_dir)
    log.info("vision experiment, seed %d -> %s", args.seed, args.out_dir)


def register(verbs, groups) -> None:
    lite0 = features_verb(groups, "lite0", "EfficientNet-Lite0 features of every image", _features)
    lite0.add_argument("--batch-size", type=int, default=16)

    vis = groups["large"].add_parser("vision", help="Lite0 features + head on [features, small model's hint]")
    vis.add_argument("--data", type=Path, required=True)
    vis.add_argument("--features", type=Path, required=True)
    vis.add_argument("--out", type=Path, required=True)
    vis.add_argument("--params", required=True, help="JSON: small, loop, distill, judge sections")
    vis.add_argument("--C", type=float, default=1.0)
    vis.add_argument("--folds", type=int, default=3)
    vis.add_argument("--seed", type=int, default=0)
    vis.set_defaults(func=_large)

    bbn = groups["large"].add_parser("bbn", help="BBN trained on the long-tailed train split + hint-fusion head")
    bbn.add_argument("--data", type=Path, required=True)
    bbn.add_argument("--out", type=Path, required=True)
    bbn.add_argument("--params", required=True, help="JSON: small, loop, distill, judge sections (the hints)")
    bbn.add_argument("--bbn", required=True, help="JSON: the config's vision.bbn section")
    bbn.add_argument("--seed", type=int, default=0)
    bbn.set_defaults(func=_bbn)

    experiment_verb(groups, "vision", "small, loop, distill, judge",
                    dict(nargs="+", help="name=path of cached large outputs"), _experiment)
