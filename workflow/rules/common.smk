# Config validation, environment for every job, and helpers shared by the rule modules.
import json
import os
import sys
from pathlib import Path

import jsonschema
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

REPO = Path(workflow.basedir)
sys.path.insert(0, str(REPO / "src"))
from kcm.codedeps import code_files  # noqa: E402
from kcm.config import (  # noqa: E402
    check_semantics,
    experiment_params,
    explain,
    get_key,
    robustness_variants,
    value_slug,
    with_value,
)


def validate_config(cfg):
    """Schema-validate (filling defaults) and fail with the key and what it allows."""
    try:
        validate(cfg, schema="../schemas/config.schema.yaml")
    except WorkflowError as err:
        # Snakemake raises its WorkflowError while handling jsonschema's error.
        cause = err.__cause__ or err.__context__
        if not isinstance(cause, jsonschema.ValidationError):
            raise
        raise WorkflowError(explain(cause)) from None
    try:
        check_semantics(cfg)
    except ValueError as err:
        raise WorkflowError(str(err)) from None


validate_config(config)
# The robustness sweep's settings: each one's whole config must be valid too, before any job runs.
ROBUSTNESS = robustness_variants(config)
for _variant in ROBUSTNESS:
    if not _variant.default:
        try:
            validate_config(with_value(config, _variant.key, _variant.value))
        except WorkflowError as err:
            raise WorkflowError(f"robustness axis {_variant.key} = {_variant.value!r}: {err}") from None

# Every job is CPU-bound (one or two torch threads). `--cores 8` on
# a 2-core machine would run 8 of them at once, each on a quarter of a core, evicting each
# other's caches: a local run hands out at most the cores this process may use. Cluster runs
# (the Slurm profile) are untouched: there --cores bounds a job's threads, not the node.
MACHINE_CORES = len(os.sched_getaffinity(0))
_asked_cores = workflow.global_resources["_cores"].value
if workflow.local_exec and isinstance(_asked_cores, int) and _asked_cores > MACHINE_CORES:
    print(f"--cores {_asked_cores} capped at this machine's {MACHINE_CORES} cores", file=sys.stderr)
    workflow.global_resources["_cores"] = MACHINE_CORES

RESULTS = f"results/{config['run']}"
LOGS = f"{RESULTS}/logs"
BENCH = f"{RESULTS}/benchmarks"
# Every rule's software: the pinned environment (used with --software-deployment-method conda).
CONDA_ENV = "../../environment.yml"

# Environment inherited by every job: offline by default, every cache under config cache_dir
# (default .cache inside the working directory: nothing lands in a cluster node's home),
# reproducible hashing, allocator settings that avoid page-fault storms.
# Jobs run `python -m kcm`: the interpreter running Snakemake comes first on PATH and this
# checkout's src/ first on PYTHONPATH, so no stale installed copy of kcm is ever used.
CACHE = config["cache_dir"]
DOWNLOADS = f"{CACHE}/downloads"  # the md5-checked archives (CIFAR-100, MSCOCO)
_cache = Path(CACHE).resolve()
_job_env = {
    "PATH": os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")]),
    "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO / "src"), os.environ.get("PYTHONPATH")])),
    "PYTHONHASHSEED": "0",
    "XDG_CACHE_HOME": str(_cache),
    "HF_HOME": str(_cache / "huggingface"),  # transformers, datasets, huggingface_hub, open_clip's weights
    "TORCH_HOME": str(_cache / "torch"),  # torch.hub
    "KCM_ALLOW_CPU": "1" if config["allow_cpu"] else "0",  # kcm.device: GPU jobs refuse CPU unless allowed
}
_job_defaults = {
    "MPLBACKEND": "Agg",
    "MPLCONFIGDIR": str(_cache / "matplotlib"),
    "TORCHINDUCTOR_CACHE_DIR": str(_cache / "torchinductor"),
    "TORCHINDUCTOR_COMPILE_THREADS": "1",  # its worker pool competes for our 2 cores
    # `--cores 8` on a 2-core machine runs more threads than cores: waiting OpenMP threads
    # should sleep, not spin on a core another job needs (results do not depend on it).
    "OMP_WAIT_POLICY": "PASSIVE",
    "DVC_NO_ANALYTICS": "1",
    "MALLOC_MMAP_THRESHOLD_": "33554432",
    "MALLOC_TRIM_THRESHOLD_": "4294967296",
}
if config["offline"]:
    _job_env.update({"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"})
os.environ.update(_job_env)
os.environ.update({k: v for k, v in _job_defaults.items() if k not in os.environ})

# Scheduling order when cores are few: first what unlocks the experiments (datasets, cached
# large-model inputs and outputs), then the experiments and the SHARe-KAN heads (the long jobs),
# then everything else. Measured: without it the retrieval inputs started after the other
# modalities' experiments, leaving one 3-minute chain to run last (docs/speed.md).
PRIORITY = {"inputs": 20, "long": 10}

# Artifacts DVC tracks (dvc.yaml outs). `all` requires them too: Snakemake does not rebuild a
# missing intermediate file when everything downstream is present (a fresh clone has the
# committed tables but not the DVC-cached data), and `dvc commit` needs every out.
ARTIFACTS = []


def code(*entries):
    """A rule's code inputs: the files of its entry modules (whose functions its verb runs) and
    of every kcm module they import, transitively (kcm.codedeps), so editing any of them reruns
    it and editing anything else does not. The CLI modules only dispatch, so they do not count."""
    return code_files(*entries, src=REPO / "src")


def with_report(target, outputs):
    """A render rule's outputs, the one the HTML report shows (a table's .md, a figure's .png)
    wrapped with its caption and category (kcm.report.registry.Target)."""
    if not target.caption:
        return outputs
    shown = "md" if target.kind == "table" else "png"
    return {**outputs, shown: report(outputs[shown], caption=f"../report/{target.caption}", category=target.group)}


# The robustness sweep's rules (robustness.smk; ROBUST_* are defined there).
def large_args(*names):
    """The experiment's `--large` words, name=path for each of `names` among the job's inputs."""
    return lambda wildcards, input: " ".join(f"{name}={input[name]}" for name in names if name in input.keys())


def robust_params(modality):
    """The --params of a swept setting's experiment job, from its wildcards."""
    return lambda wildcards: ROBUST_PARAMS[(f"{modality}.{wildcards.key}", wildcards.value)]


def robust_runs(modality, file):
    """A swept setting's `file` for every seed of its modality (its metrics job's inputs)."""
    run = f"{ROBUST_DIR}/{modality}.{{key}}/{{value}}/seed{{seed}}/{file}"
    return lambda wildcards: expand(run, key=wildcards.key, value=wildcards.value, seed=ROBUST_SEEDS[modality])
