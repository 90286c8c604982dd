"""On-disk format of an image dataset folder, the image twin of the text datasets' folder.

    <out>/train.parquet, val.parquet, test.parquet   `id`, `label`, `label_name`, `image`
    <out>/card.json, card.md                          shape, classes, counts, long-tail profile,
                                                      shot groups, seed, sha256, source, licence

`image` holds the raw bytes of one H×W×C uint8 array (row-major), so a split reads back into
one (N, H, W, C) array without any image codec, and identical arrays give identical bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from kcm.data.card import counts_by_class, write_card
from kcm.data.long_tail import FEW_BELOW, GROUPS, MANY_ABOVE, groups
from kcm.data.split import SPLITS
from kcm.io import sha256_file, write_parquet

COLUMNS = {
    "id": "stable sample id, `<source part>/<row in the source>`",
    "label": "integer class (index into the card's `classes`)",
    "label_name": "class name",
    "image": "raw bytes of an H×W×C uint8 array, row-major (shape in the card)",
}


def write_image_split(path: str | Path, ids: Sequence[str], labels: np.ndarray, label_names: Sequence[str],
                      images: np.ndarray, extra: dict[str, list] | None = None) -> None:
    """One split as Parquet; `label_names` are the class names indexed by label; `extra`
    columns (one value per row, e.g. captions) follow the image column."""
    images = np.asarray(images)
    labels = np.asarray(labels)
    if images.dtype != np.uint8 or images.ndim != 4:
        raise ValueError(f"images must be a uint8 array (N, H, W, C), got {images.dtype} with shape {images.shape}")
    if not (len(ids) == len(labels) == len(images)):
        raise ValueError(f"ids, labels and images differ in length: {len(ids)}, {len(labels)}, {len(images)}")
    if len(set(ids)) != len(ids):
        raise ValueError(f"ids must be unique within a split ({path})")
    if len(labels) and (labels.min() < 0 or labels.max() >= len(label_names)):
        raise ValueError(f"labels must lie in [0, {len(label_names)}) to name them, got [{labels.min()}, {labels.max()}]")
    images = np.ascontiguousarray(images)
    frame = pd.DataFrame(
        {
            "id": pd.Series(list(ids), dtype=object),
            "label": labels.astype(np.int64),
            "label_name": [label_names[int(c)] for c in labels],
            "image": [row.tobytes() for row in images],
            **(extra or {}),
        }
    )
    write_parquet(path, frame)


def read_image_split(path: str | Path, shape: Sequence[int]) -> tuple[pd.DataFrame, np.ndarray]:
    """(the split without its image column, images as uint8 (N, *shape)); checks every image's size."""
    frame = pd.read_parquet(path)
    size = int(np.prod(shape))
    lengths = frame["image"].map(len).to_numpy()
    if len(frame) and (lengths != size).any():
        first = int(np.flatnonzero(lengths != size)[0])
        raise ValueError(
            f"{path}: image of row {first} ({frame['id'].iloc[first]}) has {lengths[first]} bytes, "
            f"expected {size} for shape {tuple(shape)}; read it with the shape in the card"
        )
    images = np.empty((len(frame), size), dtype=np.uint8)
    for i, raw in enumerate(frame["image"]):
        images[i] = np.frombuffer(raw, dtype=np.uint8)
    return frame.drop(columns="image"), images.reshape(len(frame), *shape)


def card_header_lines(card: dict, image_rule: str = "") -> list[str]:
    """The opening lines every image data card shares: provenance, image format, seed."""
    images = f"- Images: uint8, shape {tuple(card['image_shape'])} (H, W, C), stored as raw bytes"
    return [
        f"# Data card: {card['source']['name']}",
        "",
        f"- Source: {card['source']['citation']}",
        f"- Obtained from: {card['source']['obtained_from']}",
        f"- Licence: {card['source']['licence']}",
        f"- Source fingerprint (sha256): `{card['source_fingerprint']}`",
        f"{images}; {image_rule}" if image_rule else images,
        f"- Seed: {card['seed']}",
    ]


def card_markdown(card: dict) -> str:
    counts = pd.DataFrame(card["counts"]).T[list(SPLITS)]
    counts.index.name = "class"
    counts["shot group (train)"] = [card["groups"]["of_class"][name] for name in counts.index]
    totals = counts[list(SPLITS)].sum()
    counts.loc["total"] = [*totals.tolist(), ""]
    lt = card["long_tail"]
    members = card["groups"]["members"]
    lines = [
        *card_header_lines(card),
        f"- Long tail ({lt['profile']}): n_max {lt['n_max']}, imbalance {lt['imbalance']:g}, "
        f"train counts per class {lt['counts']}",
        f"- Splits: {card['split_rule']}",
        f"- Shot groups by training images: many > {MANY_ABOVE}, medium {FEW_BELOW}–{MANY_ABOVE}, "
        f"few < {FEW_BELOW}: " + "; ".join(f"{g} {members[g]}" for g in GROUPS),
        "",
        "## Samples per class and split",
        "",
        counts.to_markdown(),
        "",
        *card_footer_lines(card),
    ]
    return "\n".join(lines)


def card_footer_lines(card: dict) -> list[str]:
    """The Deviations and Columns sections every image-dataset card ends with."""
    return [
        "## Deviations",
        "",
        *[f"- {text}" for text in card["deviations"]],
        "",
        "## Columns",
        "",
        *[f"- `{name}`: {text}" for name, text in card["columns"].items()],
        "",
    ]


def check_splits(splits: dict) -> dict[str, tuple]:
    """Exactly train/val/test (split -> (ids, labels, images, ...)), one image shape, no id in
    two splits; returns each split's image shape."""
    if set(splits) != set(SPLITS):
        raise ValueError(f"need exactly the splits {SPLITS}, got {sorted(splits)}")
    shapes = {name: tuple(np.asarray(part[2]).shape[1:]) for name, part in splits.items()}
    if len(set(shapes.values())) != 1:
        raise ValueError(f"splits have different image shapes: {shapes}")
    seen: dict[str, str] = {}
    for name in SPLITS:
        for sample in splits[name][0]:
            if sample in seen:
                raise ValueError(f"id {sample!r} is in both {seen[sample]} and {name}")
            seen[sample] = name
    return shapes


def write_image_dataset(
    out: str | Path,
    *,
    dataset: str,
    classes: Sequence[str],
    splits: dict[str, tuple[Sequence[str], np.ndarray, np.ndarray]],
    seed: int,
    long_tail: dict,
    split_rule: str,
    source: dict,
    source_fingerprint: str,
    deviations: Sequence[str],
) -> dict:
    """Write train/val/test (split -> (ids, labels, images)) and the card; return the card.

    The card's shot groups come from the written training counts, and those counts must equal
    the long-tail profile's: a builder that drew a different subset fails here, before the card.
    """
    shapes = check_splits(splits)
    per_split = {name: np.bincount(np.asarray(splits[name][1]), minlength=len(classes)) for name in SPLITS}
    if per_split["train"].tolist() != list(long_tail["counts"]):
        raise ValueError(f"training counts {per_split['train'].tolist()} differ from the long-tail profile {long_tail['counts']}")
    of_class = groups(per_split["train"].tolist())
    out = Path(out)
    files = {}
    for name in SPLITS:
        ids, labels, images = splits[name]
        path = out / f"{name}.parquet"
        write_image_split(path, ids, labels, classes, images)
        files[name] = {"file": path.name, "sha256": sha256_file(path), "rows": len(ids)}
    card = {
        "dataset": dataset,
        "source": source,
        "source_fingerprint": source_fingerprint,
        "classes": list(classes),
        "image_shape": list(shapes["train"]),
        "seed": seed,
        "long_tail": long_tail,
        "split_rule": split_rule,
        "groups": {
            "thresholds": {"many": f"> {MANY_ABOVE}", "medium": f"{FEW_BELOW}..{MANY_ABOVE}", "few": f"< {FEW_BELOW}"},
            "of_class": {classes[c]: g for c, g in of_class.items()},
            "members": {g: [classes[c] for c, h in of_class.items() if h == g] for g in GROUPS},
        },
        "counts": counts_by_class(per_split, classes),
        "files": files,
        "columns": COLUMNS,
        "deviations": list(deviations),
    }
    return write_card(out, card, card_markdown)
