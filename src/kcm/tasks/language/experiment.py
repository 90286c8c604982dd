"""One seed of the language experiment (artifacts as `kcm.loop.writer` writes them)."""

from __future__ import annotations

from pathlib import Path

import torch

from kcm.baselines.text_tfidf import TfidfParams
from kcm.data import resplit
from kcm.loop.core import LoopConfig, loop_config, run_all
from kcm.loop.writer import write_run
from kcm.tasks.language.task import LanguageTask


def parse_params(params: dict) -> tuple[TfidfParams, LoopConfig, int]:
    """The workflow's config sections (baseline.text, language.loop/distill/judge) as objects."""
    text = dict(params["tfidf"])
    tfidf = TfidfParams(fields=tuple(text.pop("fields")), **text)
    return tfidf, loop_config(params), params["loop"]["svd_dim"]


def run(data_dir: Path, large_paths: dict[str, Path], seed: int, params: dict, out_dir: Path) -> None:
    torch.set_num_threads(1)  # one thread: same bytes on every machine, and Snakemake runs seeds in parallel
    tfidf, cfg, svd_dim = parse_params(params)
    # The vocabulary and SVD depend on the seed only through its train rows (loop.split).
    split_seed = resplit.split_seed(params, seed)
    task = LanguageTask(data_dir, large_paths, tfidf, cfg.weights, svd_dim=svd_dim, seed=0, split_seed=split_seed)
    columns, history, judges, tests = run_all(task, cfg, seed)
    history["split"] = resplit.record(split_seed, task.n_train, len(task.labels("val")))
    write_run(out_dir, seed, params, columns, history, judges, tests)
