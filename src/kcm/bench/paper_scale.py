"""Benchmark: the two paper-scale blockers of issue 18, measured here at reduced sizes and
extrapolated to the paper profile's.

    python -m kcm bench paper-scale [--quick] [--out results/bench/paper_scale.md]

1. large_vision's hinted head at 100 classes (CIFAR-100-LT) on 1280-d Lite0 features: peak RSS of
   `large_outputs.head_outputs` (5 folds out-of-fold + the final head) with the hint as a one-hot
   scored from the plain logits (`OneHotHintInputs`, the code) against the K + 1 materialised
   copies of every split (`VariantInputs` over the old per-hint arrays), each in a fresh process.
   Synthetic features and long-tailed labels (memory does not depend on their values); train:val:test
   rows as in CIFAR-100-LT (10,847 : 1,000 : 10,000). Peak RSS is fitted linearly in the train rows
   and read at 10,847.
2. The retrieval small model at the paper's sizes (16,384 n-grams, 256-d, batch 1,024 images with
   their 5 captions each, 20 distinct n-grams per caption as COCO captions have): ms per training
   step with the TF-IDF batch read sparsely (the code: `SmallRetrieval.text_linear`) against the
   dense 5,120 x 16,384 batch (the code before), on one thread; x 3,000 steps for a fit.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from kcm.io import write_text

CIFAR100_LT = {"train": 10847, "val": 1000, "test": 10000}  # LDAM's IF 100 train; val 10/class; test
N_CLASSES, FEATURE_DIM, FOLDS = 100, 1280, 5
RETRIEVAL = {"n_images": 30000, "captions": 5, "ngrams": 16384, "nnz": 20, "image_dim": 256, "dim": 256,
             "batch": 1024, "steps_per_fit": 3000}


def synthetic_split(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Features and long-tailed labels (class c with probability ∝ 0.01^(c / 99), every class present)."""
    p = 0.01 ** (np.arange(N_CLASSES) / (N_CLASSES - 1))
    labels = np.concatenate([np.arange(N_CLASSES), rng.choice(N_CLASSES, n - N_CLASSES, p=p / p.sum())])
    return rng.normal(size=(n, FEATURE_DIM)).astype(np.float32), labels


def materialised(features: np.ndarray, n_classes: int = N_CLASSES) -> dict[str, np.ndarray]:
    """The old vision inputs: the features with a zero hint and with each class's one-hot, every
    variant its own copy (what `large_outputs.OneHotHintInputs` avoids)."""
    zeros = np.zeros((len(features), n_classes), features.dtype)
    out = {"none": np.concatenate([features, zeros], axis=1)}
    for k in range(n_classes):
        hint = zeros.copy()
        hint[:, k] = 1.0
        out[f"hint_{k}"] = np.concatenate([features, hint], axis=1)
    return out


def peak_rss_mb() -> float:
    """This process's peak resident memory, VmHWM: it belongs to the address space, so unlike
    ru_maxrss it does not carry over the parent's size through fork and exec (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise OSError("no VmHWM in /proc/self/status: peak memory is measured on Linux only")


def head_child(kind: str, n_train: int) -> dict:
    """Runs in a fresh process: head_outputs at `n_train` train rows; its peak RSS and time."""
    from kcm import large_outputs

    rng = np.random.default_rng(0)
    rows = {split: max(N_CLASSES, round(n_train * CIFAR100_LT[split] / CIFAR100_LT["train"]))
            for split in CIFAR100_LT}
    data = {split: synthetic_split(n, rng) for split, n in rows.items()}
    labels = data["train"][1]
    hints = np.where(rng.random(len(labels)) < 0.5, labels, rng.integers(0, N_CLASSES, len(labels)))
    before = peak_rss_mb()
    start = time.perf_counter()
    if kind == "one-hot":
        inputs = {s: large_outputs.OneHotHintInputs(x, N_CLASSES) for s, (x, _) in data.items()}
    else:
        inputs = {s: large_outputs.VariantInputs(materialised(x)) for s, (x, _) in data.items()}
    large_outputs.head_outputs(inputs, labels, hints, C=1.0, folds=FOLDS, seed=0)
    return {"kind": kind, "n_train": n_train, "seconds": time.perf_counter() - start,
            "peak_mb": peak_rss_mb(), "start_mb": before}


def head_memory(sizes: list[int]) -> list[dict]:
    out = []
    for kind in ("one-hot", "materialised"):
        for n in sizes:
            proc = subprocess.run([sys.executable, "-m", "kcm.bench.paper_scale", "--child", kind, str(n)],
                                  capture_output=True, text=True, check=True)
            out.append(json.loads(proc.stdout.strip().splitlines()[-1]))
            print(f"  head {kind:>12} n_train={n}: {out[-1]['peak_mb']:.0f} MB peak, {out[-1]['seconds']:.1f} s",
                  flush=True)
    return out


def extrapolate(rows: list[dict], kind: str, n: int) -> tuple[float, float]:
    """(peak MB at n train rows, MB per 1,000 train rows) from a least-squares line."""
    points = [(r["n_train"], r["peak_mb"]) for r in rows if r["kind"] == kind]
    slope, intercept = np.polyfit([p[0] for p in points], [p[1] for p in points], 1)
    return float(intercept + slope * n), float(1000 * slope)


def retrieval_steps(steps: int, kinds: tuple[str, ...] = ("sparse", "dense")) -> dict[str, float]:
    """Median ms per training step of the small retrieval model, sparse and dense text batches."""
    import torch
    from scipy import sparse

    from kcm.models.small_retrieval import SmallRetrieval, contrastive_loss, dense

    torch.set_num_threads(1)
    p = RETRIEVAL
    rng = np.random.default_rng(0)
    n_caps = p["batch"] * p["captions"]
    cols = rng.integers(0, p["ngrams"], (n_caps, p["nnz"]))
    text = sparse.csr_matrix((rng.random(n_caps * p["nnz"]).astype(np.float32), cols.ravel(),
                              np.arange(0, n_caps * p["nnz"] + 1, p["nnz"])), shape=(n_caps, p["ngrams"]))
    text.sum_duplicates()
    images = torch.as_tensor(rng.normal(size=(p["batch"], p["image_dim"])).astype(np.float32))
    local = torch.as_tensor(np.repeat(np.arange(p["batch"]), p["captions"]))
    out = {}
    for kind, text_x in (("sparse", text), ("dense", None)):
        if kind not in kinds:
            continue
        model = SmallRetrieval(p["image_dim"], p["ngrams"], p["dim"], seed=0)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
        times = []
        for _ in range(steps + 1):
            start = time.perf_counter()
            batch = text_x if kind == "sparse" else dense(text)  # the old path densified every batch
            img, txt = model.embed(images, batch)
            loss = contrastive_loss(model.logit_scale.exp() * img @ txt.T, local)
            opt.zero_grad()
            loss.backward()
            opt.step()
            times.append(time.perf_counter() - start)
        out[kind] = 1e3 * statistics.median(times[1:])  # the first step warms caches
        print(f"  retrieval {kind}: {out[kind]:.1f} ms per step", flush=True)
    return out


def report(heads: list[dict], steps: dict[str, float], quick: bool) -> str:
    n = CIFAR100_LT["train"]
    lines = ["# Paper-scale blockers measured at reduced sizes (issue 18)", "",
             f"Machine: {platform.processor() or platform.machine()}, Python {platform.python_version()}"
             + (" (--quick)" if quick else ""), "",
             "## large_vision's hinted head, 100 classes, 1280-d features, 5 folds + final head", "",
             "| inputs | train rows | val | test | peak RSS MB | seconds |", "|:--|--:|--:|--:|--:|--:|"]
    for r in heads:
        val, test = (max(N_CLASSES, round(r["n_train"] * CIFAR100_LT[s] / n)) for s in ("val", "test"))
        lines.append(f"| {r['kind']} | {r['n_train']} | {val} | {test} | {r['peak_mb']:.0f} | {r['seconds']:.1f} |")
    one, one_slope = extrapolate(heads, "one-hot", n)
    mat, mat_slope = extrapolate(heads, "materialised", n)
    lines += ["", f"Linear fit in the train rows, read at CIFAR-100-LT's {n:,} (val 1,000, test 10,000): "
              f"one-hot **{one / 1024:.1f} GB** ({one_slope:.0f} MB per 1,000 train rows); materialised "
              f"**{mat / 1024:.1f} GB** ({mat_slope:.0f} MB per 1,000); ratio {mat / one:.1f}x. "
              "The job adds the small model's training (the images, the ResNet) on top of the head's peak.",
              "", "## Retrieval small model, 16,384 n-grams, batch 1,024 images x 5 captions, one thread", "",
              "| text batch | ms per step | per fit (3,000 steps) |", "|:--|--:|--:|"]
    for kind, ms in steps.items():
        lines.append(f"| {kind} | {ms:.1f} | {ms * RETRIEVAL['steps_per_fit'] / 60e3:.1f} min |")
    lines += ["", f"Dense / sparse: {steps['dense'] / steps['sparse']:.1f}x per step, measured in the same run. "
              "Synthetic batches (20 distinct n-grams per caption); the fits per seed are the loop's count "
              "(issue 18 counted 30 at the paper profile's rounds and folds)."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="kcm bench paper-scale", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="two small sizes and 2 steps (a smoke run)")
    parser.add_argument("--out", type=Path, default=Path("results/bench/paper_scale.md"))
    parser.add_argument("--child", nargs=2, metavar=("KIND", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(head_child(args.child[0], int(args.child[1]))))
        return
    sizes = [500, 1000] if args.quick else [1000, 2000, 4000]
    heads = head_memory(sizes)
    steps = retrieval_steps(2 if args.quick else 10)
    text = report(heads, steps, args.quick)
    write_text(args.out, text)
    print(text)


if __name__ == "__main__":
    main()
