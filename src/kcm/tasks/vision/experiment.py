"""One seed of the long-tailed vision experiment: every system and router through the closed
loop (artifacts as `kcm.loop.writer` writes them)."""

from __future__ import annotations

from pathlib import Path

import torch

from kcm.data import resplit
from kcm.loop.core import loop_config, run_all
from kcm.loop.writer import write_run
from kcm.tasks.vision.task import VisionTask, small_params


def run(data_dir: Path, large_paths: dict[str, Path], seed: int, params: dict, out_dir: Path) -> None:
    torch.set_num_threads(1)  # one thread: same bytes on every machine; Snakemake runs seeds in parallel
    cfg = loop_config(params)
    split_seed = resplit.split_seed(params, seed)
    task = VisionTask(data_dir, large_paths, small_params(params), cfg.weights, params["loop"]["pca_dim"], split_seed)
    columns, history, judges, tests = run_all(task, cfg, seed)
    history["split"] = resplit.record(split_seed, task.n_train, len(task.labels("val")))
    write_run(out_dir, seed, params, columns, history, judges, tests)

