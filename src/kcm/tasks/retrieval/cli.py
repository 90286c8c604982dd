"""Retrieval verbs: `kcm features towers`, `kcm large retrieval <kind>`, `kcm experiment retrieval`."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from kcm.tasks.cli import experiment_verb, features_verb

log = logging.getLogger(__name__)


def _features(args: argparse.Namespace) -> None:
    from kcm.tasks.retrieval import features

    features.tower_features(args.data, args.out, args.batch_size)
    log.info("Lite0 + MiniLM tower features -> %s", args.out)


def _large(args: argparse.Namespace) -> None:
    from kcm.io import write_json
    from kcm.tasks.retrieval import large

    spec = json.loads(args.spec)
    if args.kind == "custom_clip":
        meta = large.train_custom_clip(args.data, args.towers, args.model_dir, args.out, spec, args.seed)
    else:
        meta = large.openclip_embeddings(args.data, args.out, spec["model"], spec["pretrained"],
                                         spec.get("batch_size", 64), spec.get("device", "cpu"))
    write_json(args.meta, meta)
    log.info("large retrieval model (%s) embeddings -> %s", args.kind, args.out)


def _experiment(args: argparse.Namespace) -> None:
    from kcm.tasks.retrieval import experiment

    experiment.run(args.data, args.large, args.seed, json.loads(args.params), args.out_dir)
    log.info("retrieval experiment, seed %d -> %s", args.seed, args.out_dir)


def register(verbs, groups) -> None:
    towers = features_verb(groups, "towers", "Lite0 image and MiniLM text tower features of every pair", _features)
    towers.add_argument("--batch-size", type=int, default=16)

    ret = groups["large"].add_parser("retrieval", help="the large CLIP's embeddings of every image and caption")
    ret.add_argument("kind", choices=["custom_clip", "openclip"])
    ret.add_argument("--data", type=Path, required=True)
    ret.add_argument("--towers", type=Path, help="custom_clip: kcm features towers output")
    ret.add_argument("--model-dir", type=Path, help="custom_clip: where the open_clip model is saved")
    ret.add_argument("--spec", required=True, help="the config's retrieval.large section (JSON)")
    ret.add_argument("--seed", type=int, default=0)
    ret.add_argument("--out", type=Path, required=True, help="embeddings (.safetensors)")
    ret.add_argument("--meta", type=Path, required=True, help="model description and logit scale (.json)")
    ret.set_defaults(func=_large)

    experiment_verb(groups, "retrieval", "small, loop, distill, judge",
                    dict(type=Path, help="the large model's embeddings (kcm large retrieval)"), _experiment)
