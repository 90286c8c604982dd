"""`kcm train text-baseline`: the small text model (TF-IDF + logistic regression)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

log = logging.getLogger(__name__)


def _text_baseline(args: argparse.Namespace) -> None:
    from kcm.baselines.text_tfidf import TfidfParams, fit_and_predict

    params = TfidfParams(
        fields=tuple(args.fields),
        C=args.C,
        max_features=args.max_features or None,
        ngram_max=args.ngram_max,
        min_df=args.min_df,
    )
    fit_and_predict(args.data, args.out, params, args.eval_splits)
    log.info("text baseline %s -> %s", params, args.out)


def register(verbs, groups) -> None:
    text = groups["train"].add_parser("text-baseline", help="TF-IDF + logistic regression")
    text.add_argument("--data", type=Path, required=True, help="dataset folder (kcm data ...)")
    text.add_argument("--out", type=Path, required=True, help="per-sample predictions (.parquet)")
    text.add_argument("--fields", nargs="+", default=["title"], help="text columns joined as input")
    text.add_argument("--C", type=float, default=10.0, help="inverse L2 regularisation strength")
    text.add_argument("--max-features", type=int, default=50000, help="vocabulary cap; 0 = no cap")
    text.add_argument("--ngram-max", type=int, default=2)
    text.add_argument("--min-df", type=int, default=1)
    text.add_argument("--eval-splits", nargs="+", default=["val", "test"])
    text.set_defaults(func=_text_baseline)
