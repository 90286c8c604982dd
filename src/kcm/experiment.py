"""One seed of a collaboration experiment, any modality: run every system and router through
`kcm.rounds` and write the artifacts.

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

from kcm.distill import DistillWeights
from kcm.io import write_json, write_parquet
from kcm.judges import JudgeConfig
from kcm.rounds import LoopConfig, Task, run_all


def loop_config(params: dict) -> LoopConfig:
    """The loop/distill/judge config sections as a LoopConfig (shared by every modality)."""
    loop = params["loop"]
    judge = {k: tuple(v) if isinstance(v, list) else v for k, v in params["judge"].items()}
    cfg = LoopConfig(
        eps=loop["eps"], rounds=loop["rounds"], folds=loop["folds"],
        weights=DistillWeights(eps=loop["eps"], **params["distill"]),
        judge=JudgeConfig(**judge),
    )
    return cfg


def write_judges(folder: Path, judges: dict, tests: dict) -> None:
    """Each judge as `<name>.safetensors` and every judge's test inputs and targets in one file,
    `test_inputs.safetensors` (`<name>/x` float32, `<name>/y` int64): what compressing a judge
    is evaluated on (`kcm.compress`)."""
    from safetensors.torch import save_file

    from kcm.io import atomic_path

    for name, judge in sorted(judges.items()):
        judge.save(folder / f"{name}.safetensors")
    tensors = {}
    for name, (x, y) in sorted(tests.items()):
        tensors[f"{name}/x"] = x.float().contiguous().clone()  # clones: several judges share targets
        tensors[f"{name}/y"] = y.long().contiguous().clone()
    with atomic_path(folder / "test_inputs.safetensors") as tmp:
        save_file(tensors, str(tmp))


def run_and_write(task: Task, test_ids, cfg: LoopConfig, seed: int, params: dict, out_dir: Path) -> None:
    columns, history, judges, tests = run_all(task, cfg, seed)
    ids = pd.Series(test_ids).to_numpy()
    outputs = pd.concat([pd.DataFrame({"seed": seed, **c}) for c in columns], ignore_index=True)
    outputs.insert(4, "id", ids[outputs.pop("row").to_numpy()])
    out_dir = Path(out_dir)
    write_parquet(out_dir / "outputs.parquet", outputs)
    write_judges(out_dir / "judges", judges, tests)
    history["params"] = json.loads(json.dumps(params))
    history["seed"] = seed
    write_json(out_dir / "history.json", history)
