"""A text-classification dataset from the Hugging Face `datasets` library, in our folder format.

The paper's "APD" data cannot be retrieved, so the paper profile takes any labelled text dataset
the config names: a hub id (pinned by `revision`), a loader with local files (`path="parquet"`,
`data_files=...`), or a folder written by `save_to_disk`. The chosen source splits are pooled and
re-split by `kcm.data.split`, exactly like BBC News, so every later stage reads the same format:
train/val/test.parquet (`id`, `label`, `label_name`, the text fields) + card.json + card.md.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import pandas as pd

from kcm.data.build import card_markdown
from kcm.data.card import write_card
from kcm.data.split import SPLITS, stratified_split, subsample_per_class
from kcm.io import sha256_file, write_parquet

RESERVED = ("id", "label", "label_name")


def _is_saved_folder(path: str) -> bool:
    folder = Path(path)
    return folder.is_dir() and any((folder / f).is_file() for f in ("dataset_dict.json", "state.json"))


def load_source(path: str, name: str | None, data_files: dict | None, revision: str | None, cache_dir: Path | None = None) -> dict:
    """Source split name -> `datasets.Dataset`, from `save_to_disk` output or `load_dataset`."""
    import datasets

    if _is_saved_folder(path):
        if revision is not None or data_files is not None or name is not None:
            raise ValueError(
                f"{path} is a save_to_disk folder: name, data_files and revision only apply to "
                "load_dataset sources; remove them from the config"
            )
        loaded = datasets.load_from_disk(path)
    else:
        loaded = datasets.load_dataset(
            path, name, data_files=data_files, revision=revision, cache_dir=None if cache_dir is None else str(cache_dir)
        )
    if isinstance(loaded, datasets.Dataset):  # a single saved split has no split names
        return {"train": loaded}
    return dict(loaded)


def _class_names(parts: dict, label_field: str) -> list[str] | None:
    """ClassLabel names if the label column has them (must agree across the pooled splits)."""
    import datasets

    names = None
    for split, ds in parts.items():
        feature = ds.features[label_field]
        if not isinstance(feature, datasets.ClassLabel):
            return None
        if names is not None and feature.names != names:
            raise ValueError(f"split {split!r} has different class names for {label_field!r}: {feature.names} vs {names}")
        names = feature.names
    return names


def pool(parts: dict, splits_to_use: list[str], text_fields: list[str], label_field: str,
         label_names: list[str] | None = None) -> tuple[pd.DataFrame, list[str], int, bool]:
    """One frame over the chosen source splits. `label_names` (config) name the classes in label
    order: the ClassLabel order, or the sorted label values.

    Returns (frame with id/label/label_name/texts, classes, unlabelled rows dropped, whether the
    class names come from a ClassLabel feature).
    """
    missing_splits = [s for s in splits_to_use if s not in parts]
    if missing_splits:
        raise KeyError(f"source splits {missing_splits} not found; the dataset has {sorted(parts)} (set splits_to_use)")
    clash = [f for f in text_fields if f in RESERVED or f == label_field]
    if clash:
        raise ValueError(f"text fields {clash} collide with {list(RESERVED)} or the label field; choose other text_fields")
    chosen = {s: parts[s] for s in splits_to_use}
    for split, ds in chosen.items():
        absent = [f for f in [*text_fields, label_field] if f not in ds.column_names]
        if absent:
            raise KeyError(
                f"fields {absent} not in source split {split!r} (columns: {ds.column_names}); "
                "set text_fields / label_field to existing columns"
            )
    names = _class_names(chosen, label_field)
    columns = {"id": [], "raw": []} | {f: [] for f in text_fields}
    for split, ds in chosen.items():
        columns["id"] += [f"{split}/{i}" for i in range(len(ds))]
        columns["raw"] += list(ds[label_field])
        for f in text_fields:
            columns[f] += ["" if v is None else str(v) for v in ds[f]]
    frame = pd.DataFrame(columns)
    frame["raw"] = pd.Series(columns["raw"], dtype=object)  # keep ints ints next to None
    # Unlabelled rows (None, or -1 in a ClassLabel column, as in many hub test splits) cannot be used.
    labelled = frame["raw"].notna() & ~frame["raw"].isin([-1] if names is not None else [])
    frame = frame[labelled].reset_index(drop=True)
    if names is not None:
        classes = list(names)
        frame["label"] = frame["raw"].astype("int64")
    else:
        values = sorted(frame["raw"].unique().tolist(), key=lambda v: (str(type(v)), v))
        classes = [str(v) for v in values]
        frame["label"] = frame["raw"].map({v: i for i, v in enumerate(values)}).astype("int64")
    classes = named_classes(classes, label_names)
    frame["label_name"] = [classes[i] for i in frame["label"]]
    frame = frame[["id", "label", "label_name", *text_fields]]
    return frame, classes, int((~labelled).sum()), names is not None


def named_classes(classes: list[str], label_names: list[str] | None) -> list[str]:
    """The class names prompts and tables read. Bare numbers (integer labels without ClassLabel
    names) are refused: a zero-shot prompt or an LLM would be scoring the word "0"."""
    if label_names is not None:
        if len(label_names) != len(classes) or len(set(label_names)) != len(label_names):
            raise ValueError(f"data.huggingface.label_names has {len(label_names)} names {label_names} for "
                             f"{len(classes)} classes {classes}: give one distinct name per class, in label order")
        return list(label_names)
    bare = [c for c in classes if c.strip().lstrip("-").isdigit()]
    if bare:
        raise ValueError(f"the classes {classes} are bare numbers, which no prompt can name: set "
                         f"data.huggingface.label_names to the class names in label order ({len(classes)} names, "
                         f"for the label values {classes})")
    return classes


def check_descriptions(descriptions: dict[str, str], classes: list[str]) -> dict[str, str]:
    unknown = sorted(set(descriptions) - set(classes))
    if unknown:
        raise ValueError(f"data.huggingface.label_descriptions names {unknown}, which are not classes of the "
                         f"dataset {classes}: key the descriptions by class name")
    return {c: descriptions[c] for c in classes if c in descriptions}


def check_classes(frame: pd.DataFrame, classes: list[str], fractions: dict[str, float], max_per_class: int | None) -> None:
    if len(classes) < 2:
        raise ValueError(f"need at least 2 classes, found {classes}; check label_field and splits_to_use")
    # Every class must be able to appear in every split of the stratified split.
    needed = max(3, math.ceil(1 / min(fractions[s] for s in SPLITS)))
    counts = frame["label"].value_counts().reindex(range(len(classes)), fill_value=0)
    small = {classes[i]: int(n) for i, n in counts.items() if n < needed}
    if small:
        raise ValueError(
            f"classes with fewer than {needed} samples cannot be split {dict(fractions)}: {small}; "
            f"pool more source splits (splits_to_use), raise max_per_class (now {max_per_class}) "
            "or drop those classes from the source"
        )


def content_fingerprint(frame: pd.DataFrame) -> str:
    """sha256 of the pooled rows (ids, labels, texts): the same data gives the same digest anywhere."""
    digest = hashlib.sha256()
    for row in frame.itertuples(index=False):
        digest.update(("\x1f".join(map(str, row)) + "\x1e").encode("utf-8"))
    return digest.hexdigest()


def columns_doc(text_fields: list[str], names_from_feature: bool) -> dict[str, str]:
    order = "the dataset's ClassLabel order" if names_from_feature else "sorted unique label values"
    return {
        "id": "stable sample id, `<source split>/<row index in that split>`",
        "label": f"integer class, in {order}",
        "label_name": "class name",
        **{f: "text field of the source dataset" for f in text_fields},
    }


def build_hf_text(
    out: Path,
    *,
    path: str,
    name: str | None,
    data_files: dict | None,
    text_fields: list[str],
    label_field: str,
    splits_to_use: list[str],
    seed: int,
    fractions: dict[str, float],
    max_per_class: int | None,
    revision: str | None,
    licence: str | None = None,
    citation: str | None = None,
    cache_dir: Path | None = None,
    label_names: list[str] | None = None,
    label_descriptions: dict[str, str] | None = None,
) -> dict:
    """Write the dataset folder `out` (same format as `build_bbc`) and return its card."""
    import datasets

    text_fields = list(text_fields)
    parts = load_source(path, name, data_files, revision, cache_dir)
    pooled, classes, n_unlabelled, from_feature = pool(parts, list(splits_to_use), text_fields, label_field, label_names)
    descriptions = check_descriptions(label_descriptions or {}, classes)
    # Identical texts in two source splits would leak from train into test after re-splitting.
    unique = pooled[~pooled.duplicated(subset=text_fields, keep="first")].reset_index(drop=True)
    frame = subsample_per_class(unique, max_per_class, seed)
    check_classes(frame, classes, fractions, max_per_class)
    splits = stratified_split(frame, fractions, seed)
    out = Path(out)
    files = {}
    for split in SPLITS:
        file = out / f"{split}.parquet"
        write_parquet(file, splits[split])
        files[split] = {"file": file.name, "sha256": sha256_file(file), "rows": len(splits[split])}
    info = parts[splits_to_use[0]].info
    source_name = path if name is None else f"{path} ({name})"
    card = {
        "dataset": "hf_text",
        "source": {
            "name": f"Hugging Face dataset {source_name}",
            "citation": citation or info.citation or "not given (see the dataset's own card)",
            "package": f"datasets=={datasets.__version__}",
            "licence": licence or info.license or "unknown (not given in the config or the dataset info)",
            "path": path,
            "config_name": name,
            "data_files": data_files,
            "revision": revision,
            "splits_used": list(splits_to_use),
            "text_fields": text_fields,
            "label_field": label_field,
            # datasets' own fingerprints: they follow the source's location and version, not
            # only its content (source_fingerprint below is content-only).
            "datasets_fingerprints": {s: parts[s]._fingerprint for s in splits_to_use},
        },
        "classes": classes,
        "descriptions": descriptions,
        # The shared card layout counts source items as "files" (one BBC file = one sample);
        # here they are the labelled rows of the pooled source splits.
        "n_source_files": len(pooled),
        "n_unlabelled_dropped": n_unlabelled,
        "n_duplicates_dropped": len(pooled) - len(unique),
        "n_samples": len(frame),
        "seed": seed,
        "fractions": {s: fractions[s] for s in SPLITS},
        "max_per_class": max_per_class,
        "source_fingerprint": content_fingerprint(pooled),
        "counts": {
            cls: {s: int((splits[s]["label"] == i).sum()) for s in SPLITS} for i, cls in enumerate(classes)
        },
        "files": files,
        "columns": columns_doc(text_fields, from_feature),
    }
    return write_card(out, card, card_markdown_hf)


def card_markdown_hf(card: dict) -> str:
    source = card["source"]
    text = card_markdown(card).replace(
        "- Source files:", f"- Labelled source rows (splits {', '.join(source['splits_used'])}):", 1
    )
    extra = [
        f"- Dataset path: `{source['path']}`; config: {source['config_name']}; revision: {source['revision']}",
        f"- Text fields: {source['text_fields']}; label field: `{source['label_field']}`",
        f"- Unlabelled rows dropped: {card['n_unlabelled_dropped']}",
        *[f"- datasets fingerprint of `{s}`: `{fp}`" for s, fp in source["datasets_fingerprints"].items()],
        "",
    ]
    head, sep, rest = text.partition("\n## Samples per class and split")
    return head + "\n".join(extra) + sep + rest
