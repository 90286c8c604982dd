"""The torch device of a model job, one definition for every model that can use a GPU.

CUDA when torch sees a GPU. Without one, CPU only where the config allows it (`allow_cpu`,
passed to jobs as KCM_ALLOW_CPU): with CUDA wheels newer than a node's driver torch quietly
sees no GPU, and a paper-scale job would then run on CPU for days instead of failing at once.
Outside the workflow (KCM_ALLOW_CPU unset) CPU is allowed. Every job logs the device it used.
"""

from __future__ import annotations

import logging
import os
from functools import cache

import torch

log = logging.getLogger(__name__)

ENV = "KCM_ALLOW_CPU"


class NoCudaError(RuntimeError):
    pass


def cpu_allowed() -> bool:
    return os.environ.get(ENV, "1") != "0"


def why_no_cuda() -> str:
    if torch.version.cuda is None:
        return f"this torch build ({torch.__version__}) has no CUDA support; install a CUDA build of torch"
    return (f"torch {torch.__version__} is built for CUDA {torch.version.cuda} but sees no GPU: no GPU was "
            "allocated to the job (check CUDA_VISIBLE_DEVICES and the Slurm `gpu` resource) or the node's "
            f"driver is older than CUDA {torch.version.cuda} needs (compare `nvidia-smi`)")


def pick(requested: str | torch.device | None = None) -> torch.device:
    """The device a model runs on: `requested` if given (a config's explicit choice), else CUDA
    when present, else CPU if allowed; a refusal names the reason and the config key."""
    if requested is not None:
        device = torch.device(requested)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise NoCudaError(f"device {str(device)!r} was requested but CUDA is unavailable: {why_no_cuda()}")
    elif torch.cuda.is_available():
        device = torch.device("cuda")
    elif cpu_allowed():
        device = torch.device("cpu")
    else:
        raise NoCudaError(f"this job needs a GPU and none is usable: {why_no_cuda()}. To run it on CPU "
                          "anyway (slow at paper scale), set `allow_cpu: true` in the config.")
    announce(str(device))
    return device


@cache
def announce(device: str) -> None:
    """Logs the device once per process (models are fitted many times per job)."""
    if device.startswith("cuda"):
        index = torch.device(device).index or 0
        detail = f"{torch.cuda.get_device_name(index)}, CUDA {torch.version.cuda}"
    else:
        detail = f"{torch.get_num_threads()} threads" + ("" if torch.cuda.is_available() else f"; no GPU: {why_no_cuda()}")
    log.info("device: %s (%s)", device, detail)
