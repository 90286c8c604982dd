"""One seed's artifacts, any modality: what `kcm.loop.core.run_all` returns, written to `out_dir`.

    outputs.parquet      per test query and entry: seed, then the task's columns
                         (classification: large, entry, label, id, small_pred, large_pred,
                         confidence, to_large, pred; retrieval: entry, direction, id, small_rank,
                         large_rank, confidence, to_large, rank); `kcm.system_metrics` and
                         `kcm.system_metrics` read it
    history.json         rounds (calls on train, small model's rate of right answers), judge
                         sizes, hint weights, parameters, seed
    judges/<name>.safetensors   the round-0 judges and the final MCM/KCM judges
    judges/test_inputs.safetensors   every judge's test inputs and targets
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from kcm.io import atomic_path, write_json, write_parquet


def write_judges(folder: Path, judges: dict, tests: dict) -> None:
    """Each judge as `<name>.safetensors` and every judge's test inputs and targets in one file,
    `test_inputs.safetensors` (`<name>/x` float32, `<name>/y` int64): what compressing a judge
    is evaluated on (`kcm.compress`)."""
    from safetensors.torch import save_file

    for name, judge in sorted(judges.items()):
        judge.save(folder / f"{name}.safetensors")
    tensors = {}
    for name, (x, y) in sorted(tests.items()):
        tensors[f"{name}/x"] = x.float().contiguous().clone()  # clones: several judges share targets
        tensors[f"{name}/y"] = y.long().contiguous().clone()
    with atomic_path(folder / "test_inputs.safetensors") as tmp:
        save_file(tensors, str(tmp))


def write_run(out_dir: Path, seed: int, params: dict, columns: list[dict], history: dict, judges: dict,
              tests: dict) -> None:
    out_dir = Path(out_dir)
    outputs = pd.concat([pd.DataFrame({"seed": seed, **c}) for c in columns], ignore_index=True)
    write_parquet(out_dir / "outputs.parquet", outputs)
    write_judges(out_dir / "judges", judges, tests)
    history.update({"params": json.loads(json.dumps(params)), "seed": seed})
    write_json(out_dir / "history.json", history)
