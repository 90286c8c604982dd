"""One seed of the image–text retrieval experiment: F_s's featurizer, every split's inputs and
F_l's cached embeddings as a task, then every system and router through the closed loop
(artifacts as `kcm.loop.writer` writes them)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from kcm.data import resplit
from kcm.distill import DistillWeights
from kcm.loop.core import loop_config, run_all
from kcm.loop.writer import write_run
from kcm.models.small_retrieval import (
    Featurizer,
    SmallRetrieval,
    SmallRetrievalParams,
    query_macs,
)
from kcm.tasks.retrieval.features import load_arrays, load_pairs
from kcm.tasks.retrieval.task import RetrievalParams, RetrievalTask, SplitData

N_QUERY_FEATURES = 8  # fixed query descriptors the judge reads beside the similarity shape


def retrieval_params(params: dict) -> RetrievalParams:
    """What the retrieval task adds to the loop's config (loop.shortlist/alphas/top_m, small)."""
    loop = params["loop"]
    return RetrievalParams(shortlist=loop["shortlist"], alphas=tuple(loop["alphas"]), top_m=loop["top_m"],
                           small=SmallRetrievalParams(**params["small"]))


def resplit_pairs(pairs: dict[str, dict], large: dict[str, dict[str, np.ndarray]], seed: int) -> tuple[dict, dict]:
    """`load_pairs`' pairs and `load_arrays`' embeddings with train/val re-drawn by image
    (`kcm.data.resplit`, the fixed split's image counts): each image's captions and F_l's
    image and caption embeddings go with it; test is untouched."""
    n_train = len(pairs["train"]["frame"])
    images = resplit.partition(np.zeros(n_train), np.zeros(len(pairs["val"]["frame"])), seed)
    owner = resplit.pool(pairs["train"]["caption_to_image"], pairs["val"]["caption_to_image"] + n_train)
    captions = tuple(np.flatnonzero(np.isin(owner, rows)) for rows in images)
    by_image = resplit.apply({s: {"frame": p["frame"], "images": p["images"], "large": large[s]["image"]}
                              for s, p in pairs.items()}, images)
    by_caption = resplit.apply({s: {"captions": p["captions"], "large": large[s]["text"]} for s, p in pairs.items()},
                               captions)
    # both row lists are sorted, so captions stay grouped by image, in image order
    owners = {"test": pairs["test"]["caption_to_image"],
              **{s: np.searchsorted(rows, owner[caps]) for s, rows, caps in zip(("train", "val"), images, captions)}}
    return ({s: {"frame": by_image[s]["frame"], "images": by_image[s]["images"], "captions": by_caption[s]["captions"],
                 "caption_to_image": owners[s].astype(np.int64)} for s in pairs},
            {s: {"image": by_image[s]["large"], "text": by_caption[s]["large"]} for s in pairs})


def build_task(data_dir: Path, embeddings: Path, params: RetrievalParams, weights: DistillWeights,
               split_seed: int | None = None) -> tuple[RetrievalTask, Featurizer]:
    """F_s's featurizer fitted on train, every split's inputs and F_l's embeddings. split_seed:
    None keeps the data folder's train/val; k re-draws them by image (`kcm.data.resplit`)."""
    from sklearn.decomposition import TruncatedSVD

    pairs = load_pairs(data_dir)
    large, meta = load_arrays(embeddings, pairs)  # checked against the data folder's split
    if split_seed is not None:
        pairs, large = resplit_pairs(pairs, large, split_seed)
    train = pairs["train"]
    featurizer = Featurizer.fit(train["images"], train["captions"], params.small)
    # the judge's fixed view of a text query: a few TF-IDF directions (images: the first PCs)
    svd = TruncatedSVD(N_QUERY_FEATURES, algorithm="arpack", random_state=0).fit(featurizer.texts(train["captions"]))
    splits = {}
    for split, p in pairs.items():
        image_x, text_x = featurizer.images(p["images"]), featurizer.texts(p["captions"])
        splits[split] = SplitData(
            image_x, text_x, p["caption_to_image"], large[split]["image"], large[split]["text"],
            {"i2t": image_x[:, :N_QUERY_FEATURES], "t2i": svd.transform(text_x).astype(np.float32)},
        )
    ids = {split: query_ids(pairs[split]) for split in ("val", "test")}
    return RetrievalTask(splits, meta["logit_scale"], params, weights, ids), featurizer


def query_ids(pair: dict) -> dict[str, np.ndarray]:
    """Per direction, the ids of a split's queries: the image's id, or "<image id>#<caption number>"."""
    image_ids = pair["frame"]["id"]
    return {"i2t": image_ids.to_numpy(),
            "t2i": np.array([f"{image_ids.iloc[i]}#{j}" for i, j in _caption_numbers(pair["caption_to_image"])],
                            dtype=object)}


def run(data_dir: Path, embeddings: Path, seed: int, params: dict, out_dir: Path) -> None:
    """One seed: outputs.parquet (per test query and entry), history.json, judges/*.safetensors."""
    torch.set_num_threads(1)  # one thread: same bytes everywhere; Snakemake runs seeds in parallel
    cfg, rparams = loop_config(params), retrieval_params(params)
    split_seed = resplit.split_seed(params, seed)
    task, featurizer = build_task(data_dir, embeddings, rparams, cfg.weights, split_seed)
    columns, history, judges, tests = run_all(task, cfg, seed)
    history["split"] = resplit.record(split_seed, task.n_train, task.splits["val"].n_images)
    train = task.splits["train"]
    small = SmallRetrieval(train.image_x.shape[1], train.text_x.shape[1], rparams.small.dim, seed)
    history["small"] = {"params": small.n_params(), "featurizer_params": featurizer.n_params(),
                        "macs_per_query": query_macs(featurizer, small, train.text_x.nnz / max(1, train.text_x.shape[0]))}
    write_run(out_dir, seed, params, columns, history, judges, tests)


def _caption_numbers(caption_to_image: np.ndarray) -> list[tuple[int, int]]:
    """(image row, caption number within the image) for each flat caption."""
    counts: dict[int, int] = {}
    out = []
    for i in caption_to_image.tolist():
        out.append((i, counts.get(i, 0)))
        counts[i] = counts.get(i, 0) + 1
    return out
