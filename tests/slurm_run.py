"""config/test.yaml's whole DAG through workflow/profiles/slurm on the loopback cluster
(tests/slurm_cluster.py): the profile's requests, a cluster sized for them, and the run."""

from __future__ import annotations

import time
from types import SimpleNamespace

import yaml
from slurm_cluster import LoopbackSlurm, SlurmUnavailable
from workflow_runner import REPO, TEST_CONFIG, snakemake

PROFILE = REPO / "workflow" / "profiles" / "slurm"
SLURM_ARGS = (
    "--profile", str(PROFILE),
    "--slurm-status-command", "squeue",  # no slurmdbd here (see slurm_cluster's docstring)
    "--slurm-init-seconds-before-status-checks", "2",  # tiny jobs: poll soon (default 40 s)
    "--slurm-keep-successful-logs",  # evidence that jobs ran there; the plugin deletes them by default
)
RUN_TIMEOUT = 30 * 60  # the run takes minutes; a lost job must fail the test, not hang it


def profile() -> dict:
    return yaml.safe_load((PROFILE / "config.yaml").read_text())


def evaluate(value, attempt: int = 1) -> int:
    """A profile resource at a given attempt (values may be expressions such as `8000 * attempt`)."""
    return int(eval(str(value), {"__builtins__": {}, "min": min, "max": max}, {"attempt": attempt}))


def requested(rule: str) -> dict:
    """The resources the profile gives `rule` on its first attempt (cpus only where set)."""
    prof = profile()
    res = {k: evaluate(v) for k, v in prof["default-resources"].items() if k in ("mem_mb", "runtime")}
    res.update({k: evaluate(v) for k, v in prof["set-resources"].get(rule, {}).items()})
    return res


def start_cluster() -> tuple[LoopbackSlurm | None, str]:
    """A started cluster whose node takes two of the profile's largest requests at a time (as
    `--cores 2` runs two jobs locally), or None and why it could not start."""
    sizes = [requested(rule) for rule in profile()["set-resources"]]
    cpus = max(r.get("cpus_per_task", 1) for r in sizes)
    mem_mb = max(r["mem_mb"] for r in sizes)
    # MinJobAge: squeue (status polling, and the test's checks) keeps every job of the run.
    cluster = LoopbackSlurm(cpus=2 * cpus, mem_mb=2 * mem_mb, gpus=2, min_job_age=RUN_TIMEOUT + 600)
    try:
        cluster.start()
    except SlurmUnavailable as err:
        return None, f"loopback Slurm cluster unavailable: {err}"
    return cluster, ""


def run_all(cluster: LoopbackSlurm, workdir) -> SimpleNamespace:
    """`snakemake --profile workflow/profiles/slurm all` on the test config in `workdir`; the
    process, its log, its wall time and Slurm's record of every job (`scontrol show job`)."""
    start = time.monotonic()
    # sbatch/squeue find the loopback cluster through SLURM_CONF; jobs inherit it.
    proc = snakemake(workdir, "all", *SLURM_ARGS, *TEST_CONFIG, check=False, env=cluster.env, timeout=RUN_TIMEOUT)
    seconds = time.monotonic() - start
    jobs = {}
    for line in cluster.run("scontrol", "show", "job", "--oneliner").stdout.splitlines():
        fields = dict(f.split("=", 1) for f in line.split() if "=" in f)
        jobs[fields["JobId"]] = fields
    return SimpleNamespace(workdir=workdir, proc=proc, out=proc.stdout + proc.stderr, seconds=seconds, jobs=jobs,
                           cluster=cluster)
