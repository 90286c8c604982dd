"""MSCOCO 2014 with the Karpathy split (paper profile of the retrieval experiment).

Sources: Karpathy's `dataset_coco.json` (inside `caption_datasets.zip`, or the JSON itself) and
the official COCO 2014 image zips. Karpathy's records name each image by `filepath`
(`train2014`/`val2014`) and `filename`; both must match the COCO naming pattern before a zip
member of that exact name is read, so a tampered JSON cannot reach any other member or path,
and nothing is extracted to disk. Splits: test = Karpathy's 5000 `test` images, val = its 5000
`val` images, train = `train` + `restval` (113287 images), the usual retrieval protocol.
Each image keeps its first `captions_per_image` captions (5: the 5k/25k benchmark).
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from kcm.data.download import download
from kcm.data.split import SPLITS
from kcm.data.twemoji_pairs import write_pair_dataset
from kcm.io import sha256_file

KARPATHY_URL = "https://cs.stanford.edu/people/karpathy/deepimagesent/caption_datasets.zip"
KARPATHY_MEMBER = "dataset_coco.json"
IMAGE_URLS = {
    "train2014": "http://images.cocodataset.org/zips/train2014.zip",
    "val2014": "http://images.cocodataset.org/zips/val2014.zip",
}
# md5 values as published by third-party download scripts; NOT verified here (the files cannot be
# fetched offline). That is why `download_sources` takes every md5 as a required argument: the
# config must state the checksum it trusts. None: no published value we could cross-check.
PUBLISHED_MD5_UNVERIFIED = {
    "karpathy": None,
    "val2014": "a3d79f5ed8d289b7a7554ce06a5782b3",  # the same value in several independent scripts
    "train2014": None,  # two different values are in circulation (0da8c0bd…, 0da8cfa0…)
}

FOLDERS = ("train2014", "val2014")
# Karpathy split -> our split; restval joins train (Karpathy's and VSE++'s 113k training set).
SPLIT_OF = {"train": "train", "restval": "train", "val": "val", "test": "test"}
FILENAME = re.compile(r"COCO_(train2014|val2014)_(\d{12})\.jpg")
MAX_MEMBER_BYTES = 64 << 20  # the largest COCO 2014 JPEG is a few MB; anything bigger is not one

SOURCE = {
    "name": "MSCOCO 2014, Karpathy split",
    "citation": "T.-Y. Lin et al., Microsoft COCO: Common Objects in Context, ECCV 2014; split from "
    "A. Karpathy and L. Fei-Fei, Deep Visual-Semantic Alignments for Generating Image Descriptions, CVPR 2015",
    "obtained_from": f"{KARPATHY_URL} ({KARPATHY_MEMBER}), {IMAGE_URLS['train2014']}, {IMAGE_URLS['val2014']}",
    "licence": "annotations CC-BY 4.0 (COCO Consortium); images from Flickr under their own licences "
    "(COCO terms of use); Karpathy split file: no licence stated",
}

DEVIATIONS = (
    "Images are resized (shorter side) and centre-cropped to a square at build time and stored as "
    "raw uint8, so models see one fixed resolution",
)


def download_sources(folder: str | Path, md5: dict[str, str], *, parts: Sequence[str] = ("karpathy", "val2014", "train2014"),
                     urls: dict[str, str] | None = None, timeout: float = 60.0, retries: int = 5) -> dict[str, Path]:
    """Download the Karpathy file and image zips named in `parts` into `folder`; return part -> path.

    `md5` must give a checksum for every part (see PUBLISHED_MD5_UNVERIFIED); `urls` overrides
    the official addresses (mirrors, tests).
    """
    known = {"karpathy": KARPATHY_URL, **IMAGE_URLS}
    urls = {**known, **(urls or {})}
    missing = [part for part in parts if not md5.get(part)]
    if missing:
        raise ValueError(f"no md5 given for {missing}: the config must provide the checksum of every "
                         "COCO source (this project could not verify them offline)")
    unknown = sorted(set(parts) - set(known))
    if unknown:
        raise ValueError(f"unknown COCO source(s) {unknown}; expected some of {sorted(known)}")
    folder = Path(folder)
    return {part: download(urls[part], folder / Path(urls[part].split("?")[0]).name, md5[part],
                           timeout=timeout, retries=retries) for part in parts}


def read_karpathy(path: str | Path) -> list[dict]:
    """The `images` records of dataset_coco.json, from the JSON itself or from a zip holding it."""
    path = Path(path)
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            raw = _read_member(archive, KARPATHY_MEMBER)
    else:
        raw = path.read_bytes()
    data = json.loads(raw.decode("utf-8"))
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise ValueError(f"{path}: not a Karpathy split file (no `images` list)")
    return data["images"]


def check_record(record: dict) -> tuple[str, str, int, list[str]]:
    """(our split, zip member name, cocoid, captions) of one Karpathy record, or ValueError."""
    split, folder, name = record.get("split"), record.get("filepath"), record.get("filename")
    if split not in SPLIT_OF:
        raise ValueError(f"record {record.get('cocoid')}: split {split!r} is not one of {sorted(SPLIT_OF)}")
    match = FILENAME.fullmatch(name) if isinstance(name, str) else None
    # Only names in COCO's own pattern, inside the folder they name: no path can be smuggled in.
    if folder not in FOLDERS or match is None or match.group(1) != folder:
        raise ValueError(f"record {record.get('cocoid')}: refusing image {folder!r}/{name!r} "
                         f"(expected <train2014|val2014>/COCO_<folder>_<12 digits>.jpg)")
    cocoid = record.get("cocoid")
    if not isinstance(cocoid, int) or cocoid != int(match.group(2)):
        raise ValueError(f"record {name}: cocoid {cocoid!r} differs from the id in the file name")
    captions = [" ".join(str(s.get("raw", "")).split()) for s in record.get("sentences", [])]
    return SPLIT_OF[split], f"{folder}/{name}", cocoid, [c for c in captions if c]


def _read_member(archive: zipfile.ZipFile, name: str) -> bytes:
    try:
        info = archive.getinfo(name)
    except KeyError:
        raise FileNotFoundError(f"{name} is missing from {archive.filename}") from None
    if info.is_dir() or info.flag_bits & 0x1:
        raise ValueError(f"{name} in {archive.filename} is a folder or encrypted; refusing it")
    if info.file_size > MAX_MEMBER_BYTES:
        raise ValueError(f"{name} in {archive.filename} claims {info.file_size} bytes (> {MAX_MEMBER_BYTES}); refusing it")
    return archive.read(info)  # zipfile checks the member's CRC-32


def load_square(data: bytes, size: int) -> np.ndarray:
    """A JPEG as uint8 (size, size, 3): RGB, shorter side resized (bicubic), centre-cropped (CLIP's)."""
    with Image.open(io.BytesIO(data)) as image:
        image = ImageOps.exif_transpose(image).convert("RGB")
    return np.asarray(ImageOps.fit(image, (size, size), Image.Resampling.BICUBIC), dtype=np.uint8)


def _subset(records: list, limit: int | None, seed: int) -> list:
    if limit is None or limit >= len(records):
        return records
    keep = np.sort(np.random.default_rng(seed).permutation(len(records))[:limit])
    return [records[i] for i in keep]


def build_coco_karpathy(out: Path, *, karpathy: Path, archives: dict[str, Path], size: int = 224,
                        captions_per_image: int = 5, max_per_split: dict[str, int] | None = None,
                        seed: int = 0) -> dict:
    """Write COCO Karpathy train/val/test to `out/` (the pair folder of kcm.data.twemoji_pairs); return the card.

    `archives` maps `train2014`/`val2014` to the image zips (only those the kept records use are
    needed). `max_per_split` keeps a seeded subset of a split (e.g. {"train": 20000}) to bound
    memory; absent splits stay whole. Rows are sorted by cocoid; ids are the cocoids.
    """
    if size < 1 or captions_per_image < 1:
        raise ValueError(f"size and captions_per_image must be positive, got {size}, {captions_per_image}")
    by_split: dict[str, list] = {name: [] for name in SPLITS}
    raw_counts: dict[str, int] = {}
    truncated = 0
    for record in read_karpathy(karpathy):
        split, member, cocoid, captions = check_record(record)
        raw_counts[record["split"]] = raw_counts.get(record["split"], 0) + 1
        if len(captions) < captions_per_image:
            raise ValueError(f"{member}: {len(captions)} captions, fewer than captions_per_image={captions_per_image}")
        truncated += len(captions) > captions_per_image
        by_split[split].append((cocoid, member, captions[:captions_per_image]))
    limits = max_per_split or {}
    by_split = {name: _subset(sorted(by_split[name]), limits.get(name), seed) for name in SPLITS}
    used = sorted({member.split("/")[0] for records in by_split.values() for _, member, _ in records})
    if missing := [folder for folder in used if folder not in archives]:
        raise ValueError(f"the kept records need the image zip(s) {missing}; pass them in `archives`")
    handles = {folder: zipfile.ZipFile(archives[folder]) for folder in used}
    fingerprint = hashlib.sha256(f"{sha256_file(karpathy)}  {Path(karpathy).name}\n".encode())
    splits = {}
    try:
        for name in SPLITS:
            records = by_split[name]
            images = np.zeros((len(records), size, size, 3), dtype=np.uint8)
            for i, (_, member, _) in enumerate(records):
                archive = handles[member.split("/")[0]]
                images[i] = load_square(_read_member(archive, member), size)
                # The zip directory's CRC-32 names each image's content without hashing the 13 GB zip.
                info = archive.getinfo(member)
                fingerprint.update(f"{info.CRC:08x} {info.file_size} {member}\n".encode())
            labels = np.array([FOLDERS.index(member.split("/")[0]) for _, member, _ in records], dtype=np.int64)
            splits[name] = ([str(cocoid) for cocoid, _, _ in records], labels, images, [c for _, _, c in records])
    finally:
        for handle in handles.values():
            handle.close()
    return write_pair_dataset(
        out,
        dataset="coco_karpathy",
        classes=list(FOLDERS),
        splits=splits,
        seed=seed,
        split_rule="Karpathy split: test = `test`, val = `val`, train = `train` + `restval`"
        + (f"; seeded subsets (seed {seed}) of at most {limits}" if limits else ""),
        image_rule=f"decoded to RGB (EXIF orientation applied), shorter side resized to {size} (bicubic), centre-cropped to {size}×{size}",
        source=SOURCE,
        source_fingerprint=fingerprint.hexdigest(),
        notes={
            "Captions": f"the first {captions_per_image} of each image's Karpathy `sentences[].raw` "
            f"(whitespace collapsed); `caption` = the first; {truncated} images had more and were cut",
            "Label": "the COCO 2014 folder the image comes from (train2014 / val2014), not a class",
            "Karpathy records": ", ".join(f"{k} {v}" for k, v in sorted(raw_counts.items())),
        },
        deviations=DEVIATIONS,
        extra={"karpathy_counts": raw_counts, "captions_per_image": captions_per_image, "max_per_split": limits,
               "id_rule": "the COCO image id (`cocoid`)"},
    )
