"""Benchmark of the whole workflow: `all` from an empty results folder, cold.

    python -m kcm bench workflow [--repo .] [--cores 8] [--label after] [--against CSV]

Copies the checkout's files (tracked and untracked-not-ignored, as a fresh clone has them,
results/ left out) into a scratch folder, runs `snakemake all` there with the Makefile's
environment and workflow profile, and reads every job's Snakemake benchmark (wall seconds,
CPU seconds of the job's process tree, peak RSS). Writes a table per rule group (seeds of one
rule together) to results/bench/workflow_<label>.{csv,md}; with --against (an earlier run's
CSV, e.g. the code before a change, measured on the same machine) each group gets the ratio
before / now. The workflow's wall time is measured around the snakemake call.

A benchmark, not a test: the numbers depend on the machine and on what else runs on it.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from kcm.io import write_text

# The Makefile's RUN_ENV (the environment `make all` runs Snakemake in).
RUN_ENV = {
    "DVC_NO_ANALYTICS": "1",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "MPLBACKEND": "Agg",
    "PYTHONHASHSEED": "0",
}
_SEED = re.compile(r"_seed\d+$")


def copy_checkout(repo: Path, dest: Path) -> None:
    """The files a clone of `repo` (with its uncommitted edits) has, without results/."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=repo, check=True, capture_output=True,
    ).stdout.decode().split("\0")
    if dest.exists():
        shutil.rmtree(dest)
    for name in filter(None, listed):
        src = repo / name
        if name.startswith("results/") or not src.is_file():  # deleted but still indexed
            continue
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, target)


def run_all(workdir: Path, cores: int, run: str, extra: tuple[str, ...] = ()) -> float:
    """Wall seconds of `snakemake all` in `workdir` (raises with the log's tail on failure);
    `extra`: more arguments after the target (e.g. --configfile)."""
    env = {**os.environ, **RUN_ENV}
    env.update(
        MPLCONFIGDIR=str(workdir / ".cache" / "matplotlib"),
        XDG_CACHE_HOME=str(workdir / ".cache"),
        TMPDIR=str(workdir / ".tmp"),
    )
    (workdir / ".tmp").mkdir(exist_ok=True)
    log = workdir / "snakemake.log"
    cmd = [sys.executable, "-m", "snakemake", "--cores", str(cores), "--workflow-profile",
           "workflow/profiles/default", "all", *extra, "--config", f"run={run}"]
    start = time.perf_counter()
    with open(log, "w") as out:
        code = subprocess.run(cmd, cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT).returncode
    wall = time.perf_counter() - start
    if code:
        tail = log.read_text().splitlines()[-40:]
        raise SystemExit(f"snakemake all failed (exit {code}) in {workdir}; log tail:\n" + "\n".join(tail))
    return wall


def read_benchmarks(folder: Path) -> pd.DataFrame:
    """One row per job: rule, wall s, CPU s, peak RSS MB (Snakemake's benchmark files)."""
    rows = []
    for path in sorted(folder.glob("*.tsv")):
        row = pd.read_csv(path, sep="\t").iloc[-1]
        rows.append({"job": path.stem, "rule": _SEED.sub("", path.stem), "wall_s": float(row["s"]),
                     "cpu_s": float(row["cpu_time"]), "max_rss_mb": float(row["max_rss"])})
    if not rows:
        raise SystemExit(f"no benchmark files under {folder}")
    return pd.DataFrame(rows)


def by_group(jobs: pd.DataFrame) -> pd.DataFrame:
    table = jobs.groupby("rule").agg(
        jobs=("job", "size"), cpu_s=("cpu_s", "sum"), wall_min_s=("wall_s", "min"),
        wall_max_s=("wall_s", "max"), max_rss_mb=("max_rss_mb", "max"),
    )
    return table.sort_values("cpu_s", ascending=False).reset_index()


def render(table: pd.DataFrame, wall: float, label: str, cores: int, against: pd.DataFrame | None) -> str:
    shown = table.copy()
    if against is not None:
        ref = against.set_index("rule")["cpu_s"]
        shown["before_cpu_s"] = shown["rule"].map(ref)
        shown["x_cpu"] = shown["before_cpu_s"] / shown["cpu_s"]
    total = table["cpu_s"].sum()
    lines = [
        f"# Workflow benchmark ({label}): `snakemake --cores {cores} all`, embedded default, cold",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}. "
        "From an empty results folder and an empty .cache (a copy of the checkout without results/). "
        "cpu_s: CPU seconds of each job's process tree summed over the rule's jobs (Snakemake's "
        "benchmark); wall: per job, min and max; max_rss_mb: the largest job's peak RSS.",
        "",
        f"**Workflow wall time: {wall:.0f} s ({wall / 60:.1f} min); {len(table)} rules, "
        f"{int(table['jobs'].sum())} jobs, {total:.0f} CPU-s in all.**",
    ]
    if against is not None:
        before = against["cpu_s"].sum()
        lines.append(f"**Against the reference: {before:.0f} CPU-s before, {before / total:.2f}x fewer now.**")
    lines += ["", shown.to_markdown(index=False, floatfmt=".2f"), ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="kcm bench workflow", description=__doc__.split("\n\n")[0])
    parser.add_argument("--repo", type=Path, default=Path.cwd(), help="checkout to benchmark (default: here)")
    parser.add_argument("--cores", type=int, default=8, help="snakemake --cores (the README's 8)")
    parser.add_argument("--label", default="now", help="names the output files workflow_<label>.*")
    parser.add_argument("--against", type=Path, help="an earlier run's CSV for the before / now ratios")
    parser.add_argument("--out-dir", type=Path, default=Path("results/bench"))
    parser.add_argument("--run", default="embedded", help="config `run` (the results folder's name)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    args = parser.parse_args(argv)
    against = pd.read_csv(args.against) if args.against else None  # fail before the long run
    repo = args.repo.resolve()
    scratch = repo / ".tmp" / f"bench-workflow-{args.label}"
    copy_checkout(repo, scratch)
    print(f"running `snakemake --cores {args.cores} all` in {scratch} ...", flush=True)
    wall = run_all(scratch, args.cores, args.run)
    table = by_group(read_benchmarks(scratch / "results" / args.run / "benchmarks"))
    table.insert(0, "wall_total_s", round(wall, 1))
    args.out_dir.mkdir(parents=True, exist_ok=True)
    write_text(args.out_dir / f"workflow_{args.label}.csv", table.to_csv(index=False))
    text = render(table.drop(columns="wall_total_s"), wall, args.label, args.cores, against)
    write_text(args.out_dir / f"workflow_{args.label}.md", text)
    print(text)
    if not args.keep:
        shutil.rmtree(scratch)


if __name__ == "__main__":
    main()
