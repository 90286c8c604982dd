"""Run the repository's Snakefile in a scratch working directory (results land there)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def snakemake(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Targets first: --configfile takes every argument that follows it."""
    env = dict(os.environ, XDG_CACHE_HOME=str(workdir / ".cache"), TMPDIR=str(workdir))
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(workdir), *args],
        capture_output=True,
        text=True,
        env=env,
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
