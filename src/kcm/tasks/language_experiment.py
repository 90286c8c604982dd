"""One seed of the language experiment: every system and router, written as artifacts.

Outputs in `out_dir`:
    outputs.parquet      per test sample and entry: seed, large, entry, id, label, small_pred,
                         large_pred, confidence, to_large, pred (`kcm.system_metrics` reads it)
    history.json         rounds (calls on train, small accuracy), judge sizes, parameters
    judges/<name>.safetensors   the round-0 judges and the final MCM/KCM judges
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import torch

from kcm.baselines.text_tfidf import TfidfParams
from kcm.distill import DistillWeights
from kcm.io import write_json, write_parquet
from kcm.judges import JudgeConfig
from kcm.rounds import LoopConfig, run_all
from kcm.tasks.language import LanguageTask


def parse_params(params: dict) -> tuple[TfidfParams, LoopConfig, int]:
    """The workflow's config sections (baseline.text, language.loop/distill/judge) as objects."""
    text = dict(params["tfidf"])
    tfidf = TfidfParams(fields=tuple(text.pop("fields")), **text)
    loop = params["loop"]
    judge = {k: tuple(v) if isinstance(v, list) else v for k, v in params["judge"].items()}
    cfg = LoopConfig(
        eps=loop["eps"], rounds=loop["rounds"], folds=loop["folds"],
        weights=DistillWeights(eps=loop["eps"], **params["distill"]),
        judge=JudgeConfig(**judge),
    )
    return tfidf, cfg, loop["svd_dim"]


def run(data_dir: Path, large_paths: dict[str, Path], seed: int, params: dict, out_dir: Path) -> None:
    torch.set_num_threads(1)  # one thread: same bytes on every machine, and Snakemake runs seeds in parallel
    tfidf, cfg, svd_dim = parse_params(params)
    # The task (vocabulary, SVD) depends on the data only, not on the experiment seed.
    task = LanguageTask(data_dir, large_paths, tfidf, cfg.weights, svd_dim=svd_dim, seed=0)
    columns, history, judges = run_all(task, cfg, seed)
    ids = task.frames["test"]["id"].to_numpy()
    frames = [pd.DataFrame({"seed": seed, **c}) for c in columns]
    outputs = pd.concat(frames, ignore_index=True)
    outputs.insert(4, "id", ids[outputs.pop("row").to_numpy()])
    out_dir = Path(out_dir)
    write_parquet(out_dir / "outputs.parquet", outputs)
    for name, judge in sorted(judges.items()):
        judge.save(out_dir / "judges" / f"{name}.safetensors")
    history["params"] = json.loads(json.dumps(params))
    history["seed"] = seed
    write_json(out_dir / "history.json", history)
