"""The jobs of the workflow's DAG for one config, without running them (Snakemake's Python API).

`python tests/workflow_dag.py SNAKEFILE WORKDIR [CONFIGFILE ...]` prints one JSON object per job:
rule, shell command, code inputs, outputs (directories apart), log and benchmark files, then the
cache variables the jobs inherit. A subprocess: loading the workflow sets environment variables
and sys.path for its jobs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

JOB_VARIABLES = ("XDG_CACHE_HOME", "HF_HOME", "TORCH_HOME", "KCM_ALLOW_CPU")


def _lines(snakefile: Path, workdir: Path, *configfiles: Path) -> list[dict]:
    proc = subprocess.run([sys.executable, __file__, str(snakefile), str(workdir), *map(str, configfiles)],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]


def jobs(snakefile: Path, workdir: Path, *configfiles: Path) -> list[dict]:
    return [line for line in _lines(snakefile, workdir, *configfiles) if "rule" in line]


def job_environment(snakefile: Path, workdir: Path, *configfiles: Path) -> dict[str, str | None]:
    """The cache and device-policy variables every job inherits (the workflow sets them when it loads)."""
    return next(line["environment"] for line in _lines(snakefile, workdir, *configfiles) if "environment" in line)


def _main(snakefile: str, workdir: str, *configfiles: str) -> None:
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import (
        ConfigSettings,
        DAGSettings,
        OutputSettings,
        ResourceSettings,
    )

    with SnakemakeApi(OutputSettings(quiet={"all"})) as api:
        workflow_api = api.workflow(
            resource_settings=ResourceSettings(cores=2),
            config_settings=ConfigSettings(configfiles=[Path(c) for c in configfiles]),
            snakefile=Path(snakefile), workdir=Path(workdir),
        )
        dag_settings = DAGSettings(targets={"all"})
        workflow_api.dag(dag_settings)
        workflow = workflow_api._workflow  # the DAG itself is not part of the public API
        workflow.dag_settings = dag_settings
        workflow._prepare_dag(forceall=True, ignore_incomplete=True, lock_warn_only=True)
        workflow._build_dag()
        print(json.dumps({"environment": {name: os.environ.get(name) for name in JOB_VARIABLES}}))
        for job in workflow.dag.jobs:
            print(json.dumps({
                "rule": job.rule.name,
                "shell": job.shellcmd if job.rule.shellcmd else None,
                "code": sorted(job.input.get("code", [])) if "code" in job.input.keys() else [],
                "outputs": [str(f) for f in job.output if not f.is_directory],
                "directories": [str(f) for f in job.output if f.is_directory],
                "log": [str(f) for f in job.log],
                "benchmark": str(job.benchmark) if job.benchmark else None,
            }))


if __name__ == "__main__":
    _main(*sys.argv[1:])
