"""Measure a `.pte` in a fresh Python process: RSS around load and execute, batch-1 latency.

The measurement runs in a child (`sys.executable -m kcm.edge.probe`, see probe.py for the
stages and why threads are pinned to one), never in the caller: RSS and its high-water mark are
per process, and the caller has usually built and exported models, so its RSS is hundreds of MB
of unrelated memory (and `ru_maxrss` of a child would inherit the parent's peak). The input
travels as a temporary `.npy`, the result as JSON, the first output as `.npy`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

_SRC = str(Path(__file__).resolve().parents[2])  # the folder holding the kcm package
# One thread everywhere in the child, set before torch/XNNPACK start (probe.py pins again).
_CHILD_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


class EdgeProbeError(RuntimeError):
    """The probe process failed; the message carries its exit status and stderr tail."""


def _child_env() -> dict[str, str]:
    env = dict(os.environ, **_CHILD_ENV)
    path = env.get("PYTHONPATH", "")
    env["PYTHONPATH"] = _SRC + (os.pathsep + path if path else "")
    return env


def _run_probe(args: list[str], out: Path, timeout: float) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "kcm.edge.probe", *args, "--out", str(out)]
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=_child_env())
    except subprocess.TimeoutExpired as error:
        raise EdgeProbeError(f"probe timed out after {timeout:.0f} s: {' '.join(cmd)}") from error
    wall_s = time.perf_counter() - start
    if proc.returncode != 0 or not out.exists():
        tail = (proc.stderr or "")[-3000:]
        raise EdgeProbeError(f"probe failed (exit status {proc.returncode}): {' '.join(cmd)}\n{tail}")
    result = json.loads(out.read_text(encoding="utf-8"))
    result["probe_wall_s"] = wall_s
    return result


def probe_baseline(*, lean_import: bool = True, timeout: float = 120.0) -> dict[str, Any]:
    """RSS of a fresh probe process after importing the runtime, with nothing loaded.

    measure_pte reports the same figure from its own process (rss_runtime_baseline_bytes);
    this is the stand-alone version, for a table row of its own.
    """
    with tempfile.TemporaryDirectory(prefix="kcm-edge-") as tmp:
        flags = [] if lean_import else ["--full-import"]
        return _run_probe(["--baseline", *flags], Path(tmp) / "result.json", timeout)


def measure_pte(
    path: str | os.PathLike,
    example_input: torch.Tensor | np.ndarray,
    *,
    repeats: int = 200,
    warmup: int = 20,
    lean_import: bool = True,
    timeout: float = 300.0,
) -> dict[str, Any]:
    """Load and run the `.pte` at `path` in a fresh process and return its measurements.

    Keys (bytes, from /proc/self/status of the child): rss_runtime_baseline_bytes (runtime
    imported, nothing loaded), rss_before_load_bytes, rss_after_load_bytes,
    rss_after_execute_bytes, hwm_after_execute_bytes (VmHWM; reset just before load when
    `hwm_reset`, so it is then the peak of load + first execute), delta_load_bytes,
    delta_execute_bytes, delta_peak_bytes; latency_median_us and latency_p90_us over `repeats`
    calls after `warmup` (plus min, mean, first_call_us); `output`: the first call's output as a
    torch tensor; `snapshots`: all fields at every stage; thread counts, versions, pte_bytes.
    `lean_import` imports the runtime without the exporter (probe.import_runtime); the result's
    import_mode says which import ran.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no .pte at {path}")
    if isinstance(example_input, torch.Tensor):
        example_input = example_input.detach().cpu().numpy()
    example_input = np.ascontiguousarray(example_input)
    with tempfile.TemporaryDirectory(prefix="kcm-edge-") as tmp:
        tmp = Path(tmp)
        np.save(tmp / "input.npy", example_input)
        result = _run_probe(
            [
                "--pte", str(path.resolve()),
                "--input", str(tmp / "input.npy"),
                "--output-npy", str(tmp / "output.npy"),
                "--repeats", str(int(repeats)),
                "--warmup", str(int(warmup)),
                *([] if lean_import else ["--full-import"]),
            ],
            tmp / "result.json",
            timeout,
        )
        result["output"] = torch.from_numpy(np.load(tmp / "output.npy"))
    result["pte_path"] = str(path)
    result["pte_bytes"] = path.stat().st_size
    return result


def max_abs_diff(pte_out: torch.Tensor | np.ndarray, eager_out: torch.Tensor | np.ndarray) -> float:
    """max |pte_out - eager_out| in float64; shapes must match exactly (no broadcasting)."""
    a = torch.as_tensor(np.asarray(pte_out.detach().cpu() if isinstance(pte_out, torch.Tensor) else pte_out))
    b = torch.as_tensor(np.asarray(eager_out.detach().cpu() if isinstance(eager_out, torch.Tensor) else eager_out))
    if a.shape != b.shape:
        raise ValueError(f"shape mismatch: pte output {tuple(a.shape)} vs eager {tuple(b.shape)}")
    if a.numel() == 0:
        return 0.0
    return float((a.double() - b.double()).abs().max())
