"""Build a dataset folder: one Parquet file per split plus a data card (JSON and Markdown).

On-disk format (documented in docs/data_format.md):
    <out>/train.parquet, val.parquet, test.parquet   one row per sample
    <out>/card.json                                   counts, source, licence, fingerprints
    <out>/card.md                                     the same for people
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from kcm.data import bbc
from kcm.data.card import write_card
from kcm.data.split import SPLITS, stratified_split, subsample_per_class
from kcm.io import sha256_file, write_parquet


def card_markdown(card: dict) -> str:
    counts = pd.DataFrame(card["counts"]).T[list(SPLITS)]
    counts.loc["total"] = counts.sum()
    counts["all"] = counts.sum(axis=1)
    lines = [
        f"# Data card: {card['source']['name']}",
        "",
        f"- Source: {card['source']['citation']}",
        f"- Shipped by: {card['source']['package']}",
        f"- Licence: {card['source']['licence']}",
        f"- Source files: {card['n_source_files']}; duplicates dropped: "
        f"{card['n_duplicates_dropped']}; samples kept: {card['n_samples']}",
        f"- Split: stratified, seed {card['seed']}, fractions {card['fractions']}",
        f"- Max samples per class: {card['max_per_class']}",
        f"- Source fingerprint (sha256): `{card['source_fingerprint']}`",
        "",
        "## Samples per class and split",
        "",
        counts.to_markdown(),
        "",
        "## Columns",
        "",
        *[f"- `{name}`: {text}" for name, text in card["columns"].items()],
        "",
    ]
    return "\n".join(lines)


COLUMNS = {
    "id": "stable sample id, `<class folder>/<file stem>`",
    "label": "integer class, classes sorted by folder name",
    "label_name": "class folder name",
    "title": "headline (first line of the article)",
    "lead": "first sentence of the article body",
    "body": "article body without the headline",
}


def build_bbc(out: Path, *, seed: int, fractions: dict[str, float], max_per_class: int | None) -> dict:
    corpus = bbc.read_corpus()
    frame = subsample_per_class(corpus.frame, max_per_class, seed)
    splits = stratified_split(frame, fractions, seed)
    out = Path(out)
    files = {}
    for name in SPLITS:
        path = out / f"{name}.parquet"
        write_parquet(path, splits[name][list(COLUMNS)])
        files[name] = {"file": path.name, "sha256": sha256_file(path), "rows": len(splits[name])}
    counts = {
        cls: {name: int((splits[name]["label"] == i).sum()) for name in SPLITS}
        for i, cls in enumerate(corpus.classes)
    }
    card = {
        "dataset": "bbc",
        "source": bbc.SOURCE,
        "classes": corpus.classes,
        "descriptions": {c: bbc.DESCRIPTIONS[c] for c in corpus.classes},
        "n_source_files": corpus.n_files,
        "n_duplicates_dropped": corpus.n_duplicates_dropped,
        "n_samples": len(frame),
        "seed": seed,
        "fractions": {name: fractions[name] for name in SPLITS},
        "max_per_class": max_per_class,
        "source_fingerprint": corpus.fingerprint,
        "counts": counts,
        "files": files,
        "columns": COLUMNS,
    }
    return write_card(out, card, card_markdown)
