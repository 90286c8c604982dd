"""Benchmark: what one retrieval query costs the small model F_s and the large model F_l.

    python -m kcm.bench.retrieval_cost [--data PAIRS] [--out results/bench/retrieval_cost.md] [--repeats 50]

One query of each kind, embedded from the raw input as the experiment embeds it (scoring the
gallery excluded: both models then do one dot product per gallery item of their width):
- image query: F_s = resize to pixels² + PCA + linear (`Featurizer.images`, `SmallRetrieval.image`);
  F_l = open_clip preprocessing + Lite0 trunk + projection (`encode_towers` + `project`);
- text query: F_s = TF-IDF + linear; F_l = MiniLM on the caption's tokens + mean pool + projection.

Per model: parameters (F_s: `SmallRetrieval.n_params()` + `Featurizer.n_params()`; F_l: every
parameter of the custom CLIP from `build_custom_clip`, towers and projections), multiply-adds
(F_s: `query_macs`; F_l: torch's FlopCounterMode on the embedding call, FLOPs / 2) and wall time
at batch 1 on one thread (median over `repeats` calls after a warm-up; the four query
functions take turns so drift on a shared machine hits both models alike, and the call right
after a switch, its caches cold, is reported apart). Every ratio is large / small,
measured in the same run. Cost does not depend on weight values, so F_s keeps its seeded
initial weights (no training) and F_l its untrained projections.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from kcm.io import write_text
from kcm.models.small_retrieval import SmallRetrievalParams

# config/config.yaml's retrieval.small and retrieval.large.embed_dim (the defaults of the runs)
SMALL = SmallRetrievalParams(pixels=16, image_dim=64, max_ngrams=2048, dim=64)
EMBED_DIM = 256
WARMUP = 3


def query(pairs: dict) -> tuple[np.ndarray, str, str]:
    """(image, caption, image id): the first test image and the test caption of median length."""
    test = pairs["test"]
    captions = test["captions"]
    order = sorted(range(len(captions)), key=lambda i: (len(captions[i]), i))
    return test["images"][0], captions[order[len(order) // 2]], str(test["frame"]["id"].iloc[0])


def _macs(call) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        call()
    return int(counter.get_total_flops()) // 2


def _interleaved_ms(calls: dict, repeats: int, warmup: int) -> dict[str, dict[str, float]]:
    """Median ms per call, {"warm", "switch"}: the calls take turns (drift on a shared machine hits
    them alike); each turn times two calls in a row, the first right after another model's call
    ("switch": caches cold; F_s measured about 3x slower so) and the second ("warm")."""
    for call in calls.values():
        for _ in range(warmup):
            call()
    times: dict[str, dict[str, list[float]]] = {name: {"switch": [], "warm": []} for name in calls}
    for _ in range(repeats):
        for name, call in calls.items():
            for kind in ("switch", "warm"):
                start = time.perf_counter()
                call()
                times[name][kind].append(time.perf_counter() - start)
    return {name: {kind: 1e3 * statistics.median(t) for kind, t in d.items()} for name, d in times.items()}


def measure(data_dir: Path, repeats: int = 50, *, warmup: int = WARMUP, small_params: SmallRetrievalParams = SMALL,
            embed_dim: int = EMBED_DIM) -> dict:
    """Parameters, multiply-adds and ms per query of both models on one pair folder.

    Returns {"params", "macs": {"image", "text"}, "ms": {"image", "text"}, "ms_after_switch":
    {"image", "text"}} each as {"small", "large", "ratio"} (ratio = large / small; "ms" is the
    warm call, see `_interleaved_ms`), plus "query" (which image and caption),
    "large_params" (per part), "notes" (counts that explain the table), "config" and "threads".
    """
    from threadpoolctl import threadpool_limits

    from kcm.models.custom_clip import build_custom_clip, encode_towers, project
    from kcm.models.small_retrieval import Featurizer, SmallRetrieval, query_macs
    from kcm.tasks.retrieval.features import load_pairs

    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    pairs = load_pairs(data_dir)
    image, caption, image_id = query(pairs)
    train = pairs["train"]
    featurizer = Featurizer.fit(train["images"], train["captions"], small_params)
    small = SmallRetrieval(featurizer.pca.n_components_, len(featurizer.tfidf.idf_), small_params.dim, seed=0).eval()
    large, preprocess, tokenizer = build_custom_clip(embed_dim, seed=0)

    @torch.no_grad()
    def small_image():
        return F.normalize(small.image(torch.as_tensor(featurizer.images(image[None]))), dim=-1)

    @torch.no_grad()
    def small_text():
        return F.normalize(small.text_linear(featurizer.texts([caption])), dim=-1)

    @torch.no_grad()
    def large_image():
        feats, none = encode_towers(large, [image], [], preprocess=preprocess, tokenizer=tokenizer)
        return project(large, feats, none)[0]

    @torch.no_grad()
    def large_text():
        none, feats = encode_towers(large, [], [caption], preprocess=preprocess, tokenizer=tokenizer)
        return project(large, none, feats)[1]

    @torch.no_grad()
    def large_text_padded():  # open_clip's encode_text: all 77 positions (the experiment drops padding)
        return large.encode_text(tokenizer([caption]), normalize=True)

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(1):  # numpy/scikit-learn (PCA transform) on one thread too
            ngrams = int(featurizer.texts([caption]).nnz)
            small_macs = query_macs(featurizer, small, ngrams)
            macs = {"image": {"small": small_macs["image"], "large": _macs(large_image)},
                    "text": {"small": small_macs["text"], "large": _macs(large_text)}}
            padded = _macs(large_text_padded)
            ms = _interleaved_ms({"small image": small_image, "large image": large_image,
                                  "small text": small_text, "large text": large_text}, repeats, warmup)
    finally:
        torch.set_num_threads(threads)
    large_params = {"Lite0 trunk": _n_params(large.visual.trunk), "image projection": _n_params(large.visual.head),
                    "MiniLM": _n_params(large.text.transformer), "text projection": _n_params(large.text.proj),
                    "logit_scale": large.logit_scale.numel()}
    assert sum(large_params.values()) == _n_params(large)
    tokens = int((tokenizer([caption]) != large.text.config.pad_token_id).sum())
    out = {
        "params": {"small": small.n_params() + featurizer.n_params(), "large": _n_params(large)},
        "macs": macs,
        "ms": {kind: {"small": ms[f"small {kind}"]["warm"], "large": ms[f"large {kind}"]["warm"]}
               for kind in ("image", "text")},
        "ms_after_switch": {kind: {"small": ms[f"small {kind}"]["switch"], "large": ms[f"large {kind}"]["switch"]}
                            for kind in ("image", "text")},
        "query": {"image_id": image_id, "image_shape": list(image.shape), "caption": caption,
                  "tokens": tokens, "ngrams": ngrams, "repeats": repeats, "warmup": warmup},
        "large_params": large_params,
        "notes": {"large text MACs padded to 77 tokens": padded,
                  "small text MACs as implemented (dense TF-IDF row)": len(featurizer.tfidf.idf_) * small_params.dim,
                  "small params: featurizer": featurizer.n_params(), "small params: linear maps": small.n_params()},
        "config": {"pixels": small_params.pixels, "small_dim": small_params.dim, "embed_dim": embed_dim},
        "threads": 1,
    }
    for entry in (out["params"], *out["macs"].values(), *out["ms"].values(), *out["ms_after_switch"].values()):
        entry["ratio"] = entry["large"] / entry["small"]
    return out


def _n_params(module: torch.nn.Module) -> int:
    return int(sum(p.numel() for p in module.parameters()))


def _count(v: float) -> str:
    return f"{int(v):,}"


def _ratio(v: float) -> str:
    return f"{v:,.0f}×" if v >= 100 else f"{v:.1f}×"


def table(result: dict) -> pd.DataFrame:
    rows = [("parameters", result["params"], _count)]
    rows += [(f"multiply-adds, {kind} query", result["macs"][kind], _count) for kind in ("image", "text")]
    rows += [(f"ms per {kind} query (batch 1, 1 thread)", result["ms"][kind], lambda v: f"{v:.3f}")
             for kind in ("image", "text")]
    return pd.DataFrame([{"quantity": name, "small F_s": fmt(e["small"]), "large F_l": fmt(e["large"]),
                          "large / small": _ratio(e["ratio"])} for name, e, fmt in rows])


def render(result: dict, data: str) -> str:
    from kcm.report.common import to_markdown

    q, notes, cfg = result["query"], result["notes"], result["config"]
    machine = f"{platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, 1 thread (torch and BLAS)"
    setup = (f"Machine: {machine}. Data: {data}. Query: test image `{q['image_id']}` "
             f"({'×'.join(map(str, q['image_shape']))}) and the test caption of median length, "
             f"\"{q['caption']}\" ({q['tokens']} MiniLM tokens with [CLS]/[SEP], {q['ngrams']} non-zero "
             f"TF-IDF n-grams). ms = median of {q['repeats']} calls after {q['warmup']} warm-up calls; the four "
             "query functions take turns, each turn two calls in a row, the second timed (warm caches); "
             "ratios are large / small from the same run.")
    small = (f"- F_s = {cfg['pixels']}² pixels → PCA → linear, and character 2–4-gram TF-IDF → linear, "
             f"{cfg['small_dim']}-d; params = featurizer {_count(notes['small params: featurizer'])} (PCA mean, "
             f"components, variances, idf) + linear maps {_count(notes['small params: linear maps'])}. "
             "MACs = `query_macs` (PCA projection + linear; the caption's non-zero n-grams × the width); as "
             "implemented the text map multiplies a dense TF-IDF row: "
             f"{_count(notes['small text MACs as implemented (dense TF-IDF row)'])} MACs.")
    parts = ", ".join(f"{k} {_count(v)}" for k, v in result["large_params"].items())
    large = (f"- F_l = open_clip CustomTextCLIP, Lite0 + MiniLM towers, {cfg['embed_dim']}-d projections; "
             f"params: {parts}. MACs = FLOPs / 2 counted by torch.utils.flop_counter.FlopCounterMode on the "
             "embedding call (convolutions, matrix products, attention; not normalisation or activations, nor "
             "the PIL resize). Text: the caption's own tokens, as `encode_towers` drops all-padding positions; "
             "open_clip's `encode_text` pads to 77 tokens: "
             f"{_count(notes['large text MACs padded to 77 tokens'])} MACs.")
    sw = result["ms_after_switch"]
    switch = ("- ms of the first call of each turn (right after another function ran, caches cold): image "
              f"{sw['image']['small']:.3f} (F_s) / {sw['image']['large']:.3f} (F_l), "
              f"text {sw['text']['small']:.3f} / {sw['text']['large']:.3f}; "
              f"large / small {_ratio(sw['image']['ratio'])} and {_ratio(sw['text']['ratio'])}. F_s's wall time is "
              "Python, PIL and scikit-learn overhead, not arithmetic.")
    return "\n".join([
        "# Retrieval: cost of one query, small model F_s vs large model F_l",
        "",
        setup,
        "",
        to_markdown(table(result)),
        "",
        small,
        large,
        switch,
        f"- Both exclude scoring the gallery (one dot product per item: {cfg['small_dim']}-d / {cfg['embed_dim']}-d).",
        "",
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kcm.bench.retrieval_cost", description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="a pair folder (default: Twemoji pairs, seed 0, built in a temp dir)")
    parser.add_argument("--out", type=Path, default=Path("results/bench/retrieval_cost.md"))
    parser.add_argument("--repeats", type=int, default=50, help="timed calls per query kind and model")
    args = parser.parse_args(argv)
    if args.data is not None:
        result, data = measure(args.data, args.repeats), str(args.data)
    else:
        from kcm.data.twemoji_pairs import build_twemoji_pairs

        with tempfile.TemporaryDirectory() as tmp:
            build_twemoji_pairs(Path(tmp) / "twemoji", seed=0)
            result = measure(Path(tmp) / "twemoji", args.repeats)
        data = "Twemoji pairs (build_twemoji_pairs, seed 0)"
    text = render(result, data)
    write_text(args.out, text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
