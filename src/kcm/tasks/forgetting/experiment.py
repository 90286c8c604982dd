"""The forgetting check on the vision data: KAN vs an equal-parameter MLP, class-incremental
(tasks of `classes_per_task` classes in class order), inputs = a PCA of the pixels fitted on
the first task's training images only. One JSON per seed."""

from __future__ import annotations

from pathlib import Path

import torch

from kcm.io import write_json
from kcm.tasks.forgetting.task import (
    class_incremental_tasks,
    first_task_pca,
    run_class_incremental,
)
from kcm.tasks.vision.task import load_images


def run(data_dir: Path, params: dict, seed: int, out: Path) -> None:
    torch.set_num_threads(1)
    frames, images = load_images(data_dir)
    flat = {s: x.reshape(len(x), -1).astype("float32") / 255.0 for s, x in images.items()}
    y_train, y_test = frames["train"]["label"].to_numpy(), frames["test"]["label"].to_numpy()
    tasks = class_incremental_tasks(y_train, params["classes_per_task"], None)
    x_train, x_test = first_task_pca(flat["train"], y_train, flat["test"], tasks[0], params["pca_dim"])
    results = {
        kind: run_class_incremental(
            x_train, y_train, x_test, y_test, kind=kind, tasks=tasks, hidden=params["hidden"],
            grid_size=params["grid_size"], k=params["k"], epochs_per_task=params["epochs_per_task"],
            lr=params["lr"], batch_size=params["batch_size"], seed=seed,
        )
        for kind in ("kan", "mlp")
    }
    write_json(out, {"seed": seed, "params": params, "results": results})
