"""Language verbs: `kcm features minilm`, `kcm large language <kind>`, `kcm experiment language`."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from kcm.tasks.cli import experiment_verb, features_verb, large_paths

log = logging.getLogger(__name__)
HINT_TEMPLATE = "{text} (topic hint: {label})"


def _features(args: argparse.Namespace) -> None:
    import torch

    from kcm.models.text_encoder import SentenceEncoder
    from kcm.tasks.language import features as language_features

    torch.set_num_threads(args.threads)  # float sums depend on the thread count: pin it
    encoder = SentenceEncoder(max_length=args.max_length, batch_size=args.batch_size)
    language_features.build(args.data, args.out, tuple(args.fields), args.hint_template, encoder)
    log.info("MiniLM features (plain and hinted) -> %s", args.out)


def _large(args: argparse.Namespace) -> None:
    from kcm.tasks.language import large

    large.build(args.kind, args.data, args.out, tfidf=json.loads(args.tfidf), features=args.features,
                spec=json.loads(args.spec), template=args.template, C=args.C, folds=args.folds, seed=args.seed,
                scale=args.scale, prompt=args.prompt or large.PROMPT, offline=args.offline)
    log.info("large language model (%s) outputs -> %s", args.kind, args.out)


def _experiment(args: argparse.Namespace) -> None:
    from kcm.tasks.language import experiment

    experiment.run(args.data, large_paths(args.large), args.seed, json.loads(args.params), args.out_dir)
    log.info("language experiment, seed %d -> %s", args.seed, args.out_dir)


def register(verbs, groups) -> None:
    minilm = features_verb(groups, "minilm", "MiniLM sentence embeddings, plain and with each class hint", _features)
    minilm.add_argument("--fields", nargs="+", default=["title"])
    minilm.add_argument("--hint-template", default=HINT_TEMPLATE)
    minilm.add_argument("--max-length", type=int, default=128)
    minilm.add_argument("--batch-size", type=int, default=64)
    minilm.add_argument("--threads", type=int, default=2, help="torch threads (fixed for identical bytes)")

    lang = groups["large"].add_parser("language", help="large A (MiniLM + head) or B (MiniLM zero-shot prompts)")
    lang.add_argument("kind", choices=["head", "zero-shot", "finetune", "llm", "endpoint"])
    lang.add_argument("--data", type=Path, required=True, help="dataset folder (kcm data ...)")
    lang.add_argument("--features", type=Path, help="head, zero-shot: kcm features minilm output")
    lang.add_argument("--spec", default="{}", help="finetune/llm/endpoint: the config section (JSON)")
    lang.add_argument("--template", default=HINT_TEMPLATE, help="finetune: hint template")
    lang.add_argument("--offline", action="store_true", help="load models from local files only")
    lang.add_argument("--out", type=Path, required=True, help="long table id/split/variant/prob_k (.parquet)")
    lang.add_argument("--tfidf", default='{"fields": ["title"]}', help="head: small-model params (JSON) for OOF hints")
    lang.add_argument("--C", type=float, default=10.0, help="head: inverse L2 strength")
    lang.add_argument("--folds", type=int, default=5, help="head: folds for out-of-fold train outputs")
    lang.add_argument("--seed", type=int, default=0)
    lang.add_argument("--scale", type=float, default=50.0, help="zero-shot: logit scale on cosines")
    lang.add_argument("--prompt", help="zero-shot: prompt template with {description} (default: kcm.tasks.language.large.PROMPT)")
    lang.set_defaults(func=_large)

    experiment_verb(groups, "language", "tfidf, loop, distill, judge",
                    dict(nargs="+", help="name=path of cached large outputs"), _experiment)
