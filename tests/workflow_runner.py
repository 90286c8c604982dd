"""Run the repository's Snakefile in a scratch working directory (results land there)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TEST_CONFIG = ("--configfile", str(REPO / "config" / "test.yaml"))  # last: it takes every argument after it
VOLATILE = {"logs", "benchmarks"}  # timings and timestamps: not results
# Measurements that vary from run to run by nature (RSS, latency) and the table showing them.
MEASURED = {"share/edge/runtime.json", "share/edge/judges_runtime.json",
            "tables/table_edge.md", "tables/table_edge.csv", "tables/table_edge.tex"}


def result_files(workdir: Path) -> dict[str, bytes]:
    """Every result file of a config/test.yaml run (relative path -> bytes), bar timings and measurements."""
    root = workdir / "results" / "test"
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.relative_to(root).parts[0] not in VOLATILE and str(p.relative_to(root)) not in MEASURED
    }


def snakemake(workdir: Path, *args: str, check: bool = True, env: dict | None = None,
              timeout: float | None = None, snakefile: Path = REPO / "Snakefile") -> subprocess.CompletedProcess:
    """Targets first: --configfile takes every argument that follows it. `env` adds to the
    environment (e.g. SLURM_CONF); `timeout` in seconds; `snakefile`: another copy of the workflow."""
    env = dict(os.environ, XDG_CACHE_HOME=str(workdir / ".cache"), TMPDIR=str(workdir), **(env or {}))
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", str(snakefile), "--directory", str(workdir), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


def planned_jobs(proc: subprocess.CompletedProcess) -> dict[str, int]:
    """Rule -> job count from the first 'Job stats' table Snakemake logs (to stderr)."""
    lines = (proc.stdout + proc.stderr).splitlines()
    start = lines.index("Job stats:") + 3  # title, header, rule of dashes
    jobs = {}
    for line in lines[start:]:
        name, count = line.split()
        if name == "total":
            return jobs
        jobs[name] = int(count)
    raise AssertionError("no 'total' row in Snakemake's job stats")
